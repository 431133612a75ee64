-- Recovery of interrupted payments: nothing stays in an in-between status.

-- The reference of the payment's authorisation attempt: the bank books the authorisation
-- under it, and an inquiry or a reversal finds it by it (one per attempt, not per payment).
ALTER TABLE payments ADD COLUMN attempt_ref TEXT;
-- The recovery sweep looks for in-between payments by the time of their last move.
CREATE INDEX payments_in_between ON payments (status, updated_at)
    WHERE status IN ('card_submitted', 'authenticated', 'authorising');

-- Reversals of authorisations whose outcome Kapı could not learn: written in the same
-- transaction that fails the payment, then retried until the bank acknowledges them.
CREATE TABLE reversals (
    -- The reversal's own reference at the bank (a repeat is recognised by it).
    id                  TEXT PRIMARY KEY,
    payment_id          TEXT NOT NULL REFERENCES payments(id),
    -- The authorisation attempt to undo.
    attempt_ref         TEXT NOT NULL,
    terminal_id         TEXT NOT NULL,
    amount_minor        INTEGER NOT NULL,
    -- ISO 4217 numeric, as sent to the bank.
    currency            TEXT NOT NULL,
    -- 'pending' until the bank acknowledges it, then 'reversed' (it undid an authorisation)
    -- or 'nothing_to_reverse' (it never booked one).
    status              TEXT NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     INTEGER NOT NULL,
    lease_until         INTEGER,
    -- "No such authorisation" is believed only after this time: before it, the lost
    -- authorisation may still be on its way to the bank.
    not_found_final_at  INTEGER NOT NULL,
    proc_return_code    TEXT,
    last_error          TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX reversals_due ON reversals (status, next_attempt_at);
CREATE INDEX reversals_payment ON reversals (payment_id);

-- A refund or void started under an Idempotency-Key: written in the transaction that
-- reserves its amount, so a retry with the key answers with that refund and never makes
-- a second one. Its key's state is then 'refund' once the request ended without an answer
-- to store (the refund still pending): retries answer with the refund as it is then.
ALTER TABLE idempotency_keys ADD COLUMN refund_id TEXT;
