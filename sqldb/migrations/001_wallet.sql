-- Wallet accounts, their sessions, phones and the security audit trail.
CREATE TABLE accounts (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  failed_logins BIGINT NOT NULL DEFAULT 0,
  locked_until BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
  token_hash BLOB PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE phones (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  model TEXT NOT NULL,
  public_key BLOB NOT NULL,
  wallet_on BIGINT NOT NULL DEFAULT 1,
  card_count BIGINT NOT NULL DEFAULT 0 CHECK (card_count >= 0 AND card_count <= 8),
  last_seen BIGINT NOT NULL DEFAULT 0,
  lat DOUBLE PRECISION,
  lon DOUBLE PRECISION,
  located_at BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);
CREATE INDEX phones_account ON phones(account_id);

-- Signed phone requests: each nonce is accepted once per phone.
CREATE TABLE phone_nonces (
  phone_id TEXT NOT NULL REFERENCES phones(id),
  nonce TEXT NOT NULL,
  at BIGINT NOT NULL,
  PRIMARY KEY (phone_id, nonce)
);

-- Append-only audit trail of security events.
CREATE TABLE security_events (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  phone_id TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT '',
  at BIGINT NOT NULL
);
CREATE INDEX security_events_account ON security_events(account_id, at);
