-- The vendor's key/value notes on a license (a JSON object of strings), carried in leases.
ALTER TABLE licenses ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
