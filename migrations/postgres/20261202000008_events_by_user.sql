-- Events by their Connecteam user: whether the person already holds a pack through another
-- event (a second hire of the same person, from another source) is looked up by it.
CREATE INDEX events_by_user ON events (connecteam_user_id) WHERE connecteam_user_id IS NOT NULL;
