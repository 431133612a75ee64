-- Reconciliation: what a bank's settlement file and Kapı's books disagree on, for a day and a
-- terminal (an operator record, listed by `kapi reconcile`).
CREATE TABLE reconciliation_issues (
    id                 TEXT PRIMARY KEY,
    day                TEXT NOT NULL,
    terminal_id        TEXT NOT NULL,
    kind               TEXT NOT NULL,
    transaction_id     TEXT NOT NULL,
    bank_amount_minor  BIGINT,
    kapi_amount_minor  BIGINT,
    currency           TEXT NOT NULL,
    created_at         BIGINT NOT NULL
);
CREATE INDEX reconciliation_issues_day ON reconciliation_issues (day, terminal_id);
