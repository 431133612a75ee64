-- Origins allowed to embed a merchant's payment pages in a frame (CSP frame-ancestors);
-- empty means nobody may.
ALTER TABLE merchants ADD COLUMN frame_origins TEXT NOT NULL DEFAULT '[]';

-- The address the card was submitted from: card-testing detection counts declines by it.
ALTER TABLE payments ADD COLUMN client_ip TEXT;

-- Events for the operator: suspected card testing, blocks.
CREATE TABLE security_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT NOT NULL,
    at      INTEGER NOT NULL
);
CREATE INDEX security_events_at ON security_events (at);
