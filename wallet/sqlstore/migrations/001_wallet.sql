-- The wallet service's own wing: accounts, their sessions (API and portal
-- kinds, held by a phone once it signs), phones with their device keys,
-- wallet on/off and reported place, signed-request nonces, and the
-- security audit trail (repeated events folded into one row). No foreign
-- key reaches another party's tables; ids are plain TEXT.
CREATE TABLE accounts (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  failed_logins BIGINT NOT NULL DEFAULT 0,
  locked_until BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);

-- A session is an API session (the phone app's bearer token) or a portal
-- session (the portal's cookie, opened only with every factor of the
-- account); the phone that holds an API session is recorded at its first
-- signed request, so switching that phone's wallet off ends it.
CREATE TABLE sessions (
  token_hash BLOB PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  kind TEXT NOT NULL DEFAULT 'api',
  phone_id TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sessions_phone ON sessions(phone_id, revoked_at);
CREATE INDEX sessions_account ON sessions(account_id, kind, revoked_at);

-- The token service counts the cards it bound to a device itself; the
-- wallet keeps whether the wallet on the phone is on (the lost-phone switch).
CREATE TABLE phones (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  model TEXT NOT NULL,
  public_key BLOB NOT NULL,
  wallet_on BIGINT NOT NULL DEFAULT 1,
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

-- The audit trail of security events; a repeated event (wrong passwords,
-- throttled attempts) is one row: how many times, the first time (at is
-- the last time).
CREATE TABLE security_events (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  phone_id TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT '',
  at BIGINT NOT NULL,
  times BIGINT NOT NULL DEFAULT 1,
  first_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX security_events_account ON security_events(account_id, at);
CREATE INDEX security_events_fold ON security_events(account_id, kind, source, at);
