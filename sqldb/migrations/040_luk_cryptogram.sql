-- The token service keeps the cryptogram each limited-use key made when the
-- network saw it used (hex; empty for uses before this), so that a second,
-- different cryptogram with the same key or counter shows a cloned phone.
ALTER TABLE luks ADD COLUMN used_arqc TEXT NOT NULL DEFAULT '';
