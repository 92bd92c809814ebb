-- The account-wide Connecteam request budget, shared by every replica: each request takes
-- the next slot (`next_slot_us`), and a 429 or an exhausted window pauses everyone until the
-- server's reset (`paused_until_us`). Unix microseconds.
CREATE TABLE rate_budget (
    id              INTEGER PRIMARY KEY,
    next_slot_us    BIGINT NOT NULL,
    paused_until_us BIGINT NOT NULL
);
INSERT INTO rate_budget (id, next_slot_us, paused_until_us) VALUES (1, 0, 0);
