-- A merchant's installment plan (JSON, docs/PROTOCOL.md "Installments"); NULL: single payment.
ALTER TABLE merchants ADD COLUMN installment_plan TEXT;

-- Branding shown on the merchant's payment pages: an accent colour (#rrggbb) and a logo. The
-- logo is stored apart, since merchants are read on every request; its hash versions its URL.
ALTER TABLE merchants ADD COLUMN accent_colour TEXT;
ALTER TABLE merchants ADD COLUMN logo_sha256 TEXT;
CREATE TABLE merchant_logos (
    merchant_id  TEXT PRIMARY KEY REFERENCES merchants (id),
    content_type TEXT NOT NULL,
    body         BLOB NOT NULL,
    sha256       TEXT NOT NULL
);

-- The installment the shopper chose and its interest: the card is charged amount + fee.
ALTER TABLE payments ADD COLUMN installment_fee_minor INTEGER NOT NULL DEFAULT 0;
-- What the BIN table says about the card (the terminal routing of later versions uses them).
ALTER TABLE payments ADD COLUMN card_bank TEXT;
ALTER TABLE payments ADD COLUMN card_program TEXT;
ALTER TABLE payments ADD COLUMN card_kind TEXT;
