-- A hire's pack and policy operations are inserted from its plan once its user is known
-- (intake writes only the event and its resolve_user operation). Unique (event_id, seq)
-- makes that insert happen once even if two replicas resolve the same event.
DROP INDEX operations_by_event;
CREATE UNIQUE INDEX operations_by_event ON operations (event_id, seq);
