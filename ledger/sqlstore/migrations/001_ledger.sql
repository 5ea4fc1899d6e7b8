-- The issuer banks' double-entry ledger (package ledger): accounts with four
-- running totals, immutable transfers identified by their message, and the
-- state of each pending (two-phase) transfer. Amounts are minor units, times
-- Unix milliseconds. The CHECKs repeat the ledger's rules as a last guard.
CREATE TABLE ledger_accounts (
  id TEXT PRIMARY KEY,
  currency BIGINT NOT NULL CHECK (currency > 0),
  code TEXT NOT NULL,
  flags BIGINT NOT NULL DEFAULT 0,
  user_data TEXT NOT NULL DEFAULT '',
  debits_pending BIGINT NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
  debits_posted BIGINT NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
  credits_pending BIGINT NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
  credits_posted BIGINT NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
  created_at BIGINT NOT NULL,
  -- flag 1: debits must not exceed credits, flag 2: credits must not exceed debits
  CHECK ((flags & 1) = 0 OR debits_pending <= credits_posted - debits_posted),
  CHECK ((flags & 2) = 0 OR credits_pending <= debits_posted - credits_posted)
);

-- The id is the message identity: a second message with the same id finds
-- the first (idempotency). flags: 1 linked, 2 pending, 4 post, 8 void.
CREATE TABLE ledger_transfers (
  id TEXT PRIMARY KEY,
  debit_account_id TEXT NOT NULL REFERENCES ledger_accounts(id),
  credit_account_id TEXT NOT NULL REFERENCES ledger_accounts(id),
  amount BIGINT NOT NULL CHECK (amount > 0),
  currency BIGINT NOT NULL,
  flags BIGINT NOT NULL DEFAULT 0,
  pending_id TEXT NOT NULL DEFAULT '',
  timeout_ms BIGINT NOT NULL DEFAULT 0,
  expires_at BIGINT NOT NULL DEFAULT 0,
  user_data TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  CHECK (debit_account_id <> credit_account_id)
);
CREATE INDEX ledger_transfers_time ON ledger_transfers(created_at, id);
CREATE INDEX ledger_transfers_debit ON ledger_transfers(debit_account_id, created_at);
CREATE INDEX ledger_transfers_credit ON ledger_transfers(credit_account_id, created_at);
-- A pending transfer is posted or voided at most once.
CREATE UNIQUE INDEX ledger_transfers_resolves ON ledger_transfers(pending_id) WHERE pending_id <> '';

-- The one mutable part: the state of each pending transfer.
CREATE TABLE ledger_pending (
  id TEXT PRIMARY KEY REFERENCES ledger_transfers(id),
  status TEXT NOT NULL CHECK (status IN ('pending', 'posted', 'voided', 'expired')),
  expires_at BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  resolved_at BIGINT NOT NULL DEFAULT 0
);
-- The expiry sweep: open holds with a timeout, by when they expire.
CREATE INDEX ledger_pending_due ON ledger_pending(expires_at) WHERE status = 'pending' AND expires_at > 0;
-- Clearing: holds by state and age.
CREATE INDEX ledger_pending_status ON ledger_pending(status, created_at);
