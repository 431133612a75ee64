-- Routing: whether a merchant prefers a terminal of the card's own bank (on-us), and the
-- decision recorded on each card attempt (the terminal, the rule, its inputs; JSON).
ALTER TABLE merchants ADD COLUMN prefer_on_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN routing TEXT;
