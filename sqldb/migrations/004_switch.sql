-- The issuer hosts' memory of reversals that came before their original.
-- (The switch's tables moved to the network's wing:
-- netswitch/sqlstore/migrations.) Times are Unix milliseconds.
CREATE TABLE issuer_reversals (
  bank_id TEXT NOT NULL,
  original_id TEXT NOT NULL,
  at BIGINT NOT NULL,
  PRIMARY KEY (bank_id, original_id)
);
