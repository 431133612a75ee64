-- Every write of a payment bumps its version: the compare-and-set of the next write is on
-- the version it was computed from, so no two moves from the same state both succeed.
ALTER TABLE payments ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

-- The built-in simulators' own records (ACS transactions, SMS outbox, bank books): JSON of
-- the simulator's own shape, by kind and key, with a tag lists filter by. They know nothing
-- of Kapı's payments.
CREATE TABLE sim_records (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    kind  TEXT NOT NULL,
    key   TEXT NOT NULL,
    tag   TEXT,
    value TEXT NOT NULL,
    at    INTEGER NOT NULL,
    UNIQUE (kind, key)
);
CREATE INDEX sim_records_list ON sim_records (kind, tag, seq);
CREATE INDEX sim_records_age ON sim_records (kind, at);
