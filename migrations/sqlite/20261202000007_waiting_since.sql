-- When a user resolution began waiting for its Connecteam user (Unix milliseconds); NULL
-- while it is not waiting. `delivery.waiting_for_user_timeout_s` counts from here, not from
-- intake: time spent failing to reach Connecteam is not time spent waiting.
ALTER TABLE operations ADD COLUMN waiting_since BIGINT;
