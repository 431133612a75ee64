-- A merchant's bank terminals (virtual POS agreements): the platform its connector speaks,
-- the bank's credentials (password and store key sealed under the master key), the gate and
-- API addresses, the static IP the bank checks, and the commission rates routing compares.
CREATE TABLE terminals (
    id                      TEXT PRIMARY KEY,
    merchant_id             TEXT NOT NULL REFERENCES merchants(id),
    bank                    TEXT NOT NULL,
    platform                TEXT NOT NULL,
    client_id               TEXT NOT NULL,
    user_name               TEXT NOT NULL,
    password_enc            BLOB NOT NULL,
    terminal_no             TEXT,
    store_key_enc           BLOB NOT NULL,
    gate_url                TEXT NOT NULL,
    api_url                 TEXT NOT NULL,
    static_ip               TEXT,
    commission              TEXT,
    installment_commissions TEXT NOT NULL DEFAULT '{}',
    accept_half_3d          INTEGER NOT NULL DEFAULT 0,
    enabled                 INTEGER NOT NULL DEFAULT 1,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL
);
CREATE INDEX terminals_merchant ON terminals (merchant_id, created_at);
