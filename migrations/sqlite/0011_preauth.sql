-- Pre-authorisation and capture: what a payment's authorisation is for (a sale, or a hold
-- captured later), and what was captured of a hold. A held or captured order is paid: no
-- second payment of it may reach the bank.
ALTER TABLE payments ADD COLUMN intent TEXT NOT NULL DEFAULT 'sale';
ALTER TABLE payments ADD COLUMN captured_minor INTEGER NOT NULL DEFAULT 0;

DROP INDEX payments_one_paid_per_order;
CREATE UNIQUE INDEX payments_one_paid_per_order ON payments (merchant_id, order_id)
    WHERE status IN ('authorising', 'approved', 'authorised', 'captured');
