-- The plan's custom fields that could not be written on the hire's Connecteam user (a JSON
-- array of {field, reason, message}), shown with the event. NULL: none.
ALTER TABLE events ADD COLUMN field_warnings TEXT;
