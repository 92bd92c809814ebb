-- When an operation waiting in a batch window first fell due; NULL when it is not waiting
-- in one. A batch goes out when the window of its oldest member closes: deferring must not
-- move that start (or a batch that never fills would wait for ever), and operations that
-- fall due later join the waiting ones instead of opening windows of their own.
-- Cleared by every transition but a deferral.
ALTER TABLE operations ADD COLUMN batch_since BIGINT;
