-- The lost-phone portal: passkeys (WebAuthn credentials) as the second
-- factor, WebAuthn ceremonies and one-time codes in flight, requests waiting
-- for a phone's next check-in, and the record of every wallet switched off
-- and back on.

-- One WebAuthn user handle per account (random, never the account id).
CREATE TABLE webauthn_users (
  account_id TEXT PRIMARY KEY REFERENCES accounts(id),
  handle BLOB NOT NULL UNIQUE,
  created_at BIGINT NOT NULL
);

-- Passkeys: the credential id, and the credential record (public key,
-- flags, authenticator data) as the WebAuthn library's JSON.
CREATE TABLE passkeys (
  credential_id BLOB PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
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
  account_id TEXT NOT NULL REFERENCES accounts(id),
  kind TEXT NOT NULL CHECK (kind IN ('login', 'register', 'wallet_on', 'wallet_on_code')),
  phone_id TEXT NOT NULL DEFAULT '',
  data BLOB NOT NULL,
  expires_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX portal_ceremonies_expiry ON portal_ceremonies(expires_at);

-- Requests waiting for the phone's next check-in.
CREATE TABLE phone_commands (
  id TEXT PRIMARY KEY,
  phone_id TEXT NOT NULL REFERENCES phones(id),
  account_id TEXT NOT NULL REFERENCES accounts(id),
  kind TEXT NOT NULL CHECK (kind IN ('ring', 'message', 'wipe_keys', 'fresh_keys')),
  message TEXT NOT NULL DEFAULT '',
  actor TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  delivered_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX phone_commands_phone ON phone_commands(phone_id, delivered_at);

-- Every switch-off of a phone's wallet and its switch back on: who, when,
-- from where, and which tokens and transit cards it suspended.
CREATE TABLE wallet_switches (
  id TEXT PRIMARY KEY,
  phone_id TEXT NOT NULL REFERENCES phones(id),
  account_id TEXT NOT NULL REFERENCES accounts(id),
  reason TEXT NOT NULL DEFAULT '',
  off_at BIGINT NOT NULL,
  off_by TEXT NOT NULL,
  off_source TEXT NOT NULL DEFAULT '',
  tokens TEXT NOT NULL DEFAULT '',
  transit TEXT NOT NULL DEFAULT '',
  on_at BIGINT NOT NULL DEFAULT 0,
  on_by TEXT NOT NULL DEFAULT '',
  on_source TEXT NOT NULL DEFAULT ''
);
CREATE INDEX wallet_switches_phone ON wallet_switches(phone_id, on_at);

-- The portal lists an account's payments by token (declined taps of a
-- switched-off phone carry no phone id): the card network's own wing
-- indexes its records so (netswitch/sqlstore, switch_auths_token).
