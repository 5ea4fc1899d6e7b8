-- The EMV root each token's keys derive from (keystore: r1, r2, …): new
-- tokens take the key store's active root, tokens made before keep r1.
ALTER TABLE tokens ADD COLUMN key_root TEXT NOT NULL DEFAULT 'r1';
