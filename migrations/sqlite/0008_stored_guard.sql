-- The card-testing guard's counters and blocks, stored: several instances share them, and the
-- operator lifts a block from the command line (`kapi security-events unblock`).
CREATE TABLE guard_counters (
    key          TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);

CREATE TABLE guard_blocks (
    key   TEXT PRIMARY KEY,
    until INTEGER NOT NULL
);
