-- Origins allowed to embed a merchant's payment pages in a frame (CSP frame-ancestors);
-- empty means nobody may.
ALTER TABLE merchants ADD COLUMN frame_origins TEXT NOT NULL DEFAULT '[]';
