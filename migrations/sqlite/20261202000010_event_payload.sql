-- The event as its sender sent it, for events whose hire is completed later in the pipeline
-- (a person fetched from the sender's API): shown until then, and what a replay fetches again.
ALTER TABLE events ADD COLUMN payload TEXT;
