-- A bank's issuer host's own tables, beside its ledger (001_ledger.sql, from
-- ledger/sqlstore) in the bank's wing issuer_<bankid>. No foreign key
-- reaches another party: ids are plain TEXT.

-- Reversals whose original the bank never saw: a late original is declined.
CREATE TABLE issuer_reversals (
  bank_id TEXT NOT NULL,
  original_id TEXT NOT NULL,
  at BIGINT NOT NULL,
  PRIMARY KEY (bank_id, original_id)
);

-- The refunds the bank took, and what each original has had refunded.
CREATE TABLE issuer_refunds (
  bank_id TEXT NOT NULL,
  id TEXT NOT NULL,
  original_id TEXT NOT NULL,
  amount BIGINT NOT NULL CHECK (amount > 0),
  at BIGINT NOT NULL,
  PRIMARY KEY (bank_id, id)
);

CREATE TABLE issuer_refund_totals (
  bank_id TEXT NOT NULL,
  original_id TEXT NOT NULL,
  refunded BIGINT NOT NULL CHECK (refunded >= 0),
  PRIMARY KEY (bank_id, original_id)
);
