-- A second chance after a decline: the cards a shopper may try on one payment, the attempt
-- under way, and every attempt's outcome.
ALTER TABLE merchants ADD COLUMN card_attempts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE payments ADD COLUMN card_attempts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE payments ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;

CREATE TABLE payment_attempts (
    payment_id       TEXT NOT NULL REFERENCES payments(id),
    number           INTEGER NOT NULL,
    card_brand       TEXT,
    masked_pan       TEXT,
    card_bank        TEXT,
    status           TEXT NOT NULL,
    error_code       TEXT,
    proc_return_code TEXT,
    md_status        TEXT,
    eci              TEXT,
    at               INTEGER NOT NULL,
    PRIMARY KEY (payment_id, number)
);
