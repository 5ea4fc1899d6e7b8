-- The portal's own wing: passkeys (WebAuthn credentials) as the second
-- factor, WebAuthn ceremonies and one-time codes in flight, and the
-- lost-phone switch's records: requests waiting for a phone's next
-- check-in and every switch of a phone's wallet off and back on. Accounts
-- and phones are the wallet's: their ids are plain TEXT here, no foreign
-- key reaches another wing.

-- One WebAuthn user handle per account (random, never the account id).
CREATE TABLE webauthn_users (
  account_id TEXT PRIMARY KEY,
  handle BLOB NOT NULL UNIQUE,
  created_at BIGINT NOT NULL
);

-- Passkeys: the credential id, and the credential record (public key,
-- flags, authenticator data) as the WebAuthn library's JSON.
CREATE TABLE passkeys (
  credential_id BLOB PRIMARY KEY,
  account_id TEXT NOT NULL,
  name TEXT NOT NULL,
  record BLOB NOT NULL,
  sign_count BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX passkeys_account ON passkeys(account_id);

-- Ceremonies in flight (a WebAuthn challenge, or a one-time code's hash),
-- found by the hash of their id and used once.
CREATE TABLE portal_ceremonies (
  id_hash BLOB PRIMARY KEY,
  account_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('login', 'login_code', 'register', 'wallet_on', 'wallet_on_code', 'step_up', 'step_up_code')),
  phone_id TEXT NOT NULL DEFAULT '',
  data BLOB NOT NULL,
  expires_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX portal_ceremonies_expiry ON portal_ceremonies(expires_at);

-- Requests waiting for the phone's next check-in.
CREATE TABLE phone_commands (
  id TEXT PRIMARY KEY,
  phone_id TEXT NOT NULL,
  account_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('ring', 'message', 'wipe_keys', 'fresh_keys')),
  message TEXT NOT NULL DEFAULT '',
  actor TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  delivered_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX phone_commands_phone ON phone_commands(phone_id, delivered_at);

-- Every switch-off of a phone's wallet and its switch back on: who, when,
-- from where, and which tokens and transit cards it suspended. The record
-- is written before the wallet and the token service are told (they are
-- other parties: no transaction spans them), and marked done after: an
-- open switch whose off_done_at is 0, or whose on_asked_at is set, is
-- finished at the next start or retry. A phone has at most one open switch.
CREATE TABLE wallet_switches (
  id TEXT PRIMARY KEY,
  phone_id TEXT NOT NULL,
  account_id TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  off_at BIGINT NOT NULL,
  off_by TEXT NOT NULL,
  off_source TEXT NOT NULL DEFAULT '',
  off_done_at BIGINT NOT NULL DEFAULT 0,
  tokens TEXT NOT NULL DEFAULT '',
  transit TEXT NOT NULL DEFAULT '',
  on_asked_at BIGINT NOT NULL DEFAULT 0,
  on_at BIGINT NOT NULL DEFAULT 0,
  on_by TEXT NOT NULL DEFAULT '',
  on_source TEXT NOT NULL DEFAULT ''
);
CREATE INDEX wallet_switches_phone ON wallet_switches(phone_id, on_at);
CREATE UNIQUE INDEX wallet_switches_open ON wallet_switches(phone_id) WHERE on_at = 0;
CREATE INDEX wallet_switches_unfinished ON wallet_switches(off_done_at, on_asked_at) WHERE on_at = 0;
