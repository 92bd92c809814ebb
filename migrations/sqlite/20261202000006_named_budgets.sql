-- Request budgets by name, shared by every replica: Connecteam's account budget
-- (`connecteam`), and the budgets of the vendor APIs hirebridge reads from. Each request takes
-- the next slot of its budget (`next_slot_us`); a spent window or a 429 pauses everyone using
-- that budget until the server's reset (`paused_until_us`). Unix microseconds. A budget's row
-- is made by the first request that takes a slot of it.
CREATE TABLE budgets (
    name            TEXT PRIMARY KEY,
    next_slot_us    BIGINT NOT NULL,
    paused_until_us BIGINT NOT NULL
);
INSERT INTO budgets (name, next_slot_us, paused_until_us)
    SELECT 'connecteam', next_slot_us, paused_until_us FROM rate_budget WHERE id = 1;
DROP TABLE rate_budget;
