-- Counting a license's live seats (every activation and validation does) reads only this
-- index: both columns of `license_id = ? AND deactivated_at IS NULL` are in it. Without
-- it the count walked activations_license and read every row of the license, live or
-- not, from the table.
CREATE INDEX activations_seats ON activations(license_id, deactivated_at);
