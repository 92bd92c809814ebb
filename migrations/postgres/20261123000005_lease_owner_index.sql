-- A round renews its lease before every request it sends (UPDATE … WHERE lease_owner = ?).
-- Only operations under a lease are in this index, so it stays small however large the
-- table grows, and intake (which leases nothing) never touches it.
CREATE INDEX operations_leased ON operations (lease_owner) WHERE lease_owner IS NOT NULL;
