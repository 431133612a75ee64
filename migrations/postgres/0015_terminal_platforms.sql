-- What the Garanti BBVA and QNB PayFor platforms need beyond NestPay's credentials: Garanti's
-- refund user (PROVRFN) for voids and refunds, its password sealed under the master key like
-- the terminal's other secrets, and PayFor's member id (MbrId: 5 QNB Finansbank, 12 Ziraat
-- Katılım).
ALTER TABLE terminals ADD COLUMN refund_user TEXT;
ALTER TABLE terminals ADD COLUMN refund_password_enc BYTEA;
ALTER TABLE terminals ADD COLUMN mbr_id TEXT;
