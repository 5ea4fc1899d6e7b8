-- The token service's own database (wing "tsp"): the PAN vault, tokens and
-- their lifecycle, limited-use keys, pending card bindings (step-up), the
-- one-time-code outbox, and the token service's own record of each device
-- (its live cards, whether its wallet is off). Device and account ids are
-- the wallet service's, kept as plain text: no key reaches another party.
CREATE TABLE vault_pans (
  id TEXT PRIMARY KEY,
  pan_index BLOB NOT NULL UNIQUE,
  pan_sealed BLOB NOT NULL,
  par TEXT NOT NULL UNIQUE,
  bin TEXT NOT NULL,
  last4 TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

-- One row per device the token service has bound a card to or was told
-- about: the 8-cards rule and "wallet off" are checked on this row, in the
-- transaction that binds a card.
CREATE TABLE devices (
  id TEXT PRIMARY KEY,
  card_count BIGINT NOT NULL DEFAULT 0 CHECK (card_count >= 0 AND card_count <= 8),
  wallet_off BIGINT NOT NULL DEFAULT 0,
  updated_at BIGINT NOT NULL
);

CREATE TABLE tokens (
  token TEXT PRIMARY KEY,
  pan_id TEXT NOT NULL REFERENCES vault_pans(id),
  phone_id TEXT NOT NULL,
  account_id TEXT NOT NULL,
  domain TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'suspended', 'deleted')),
  expiry TEXT NOT NULL,
  psn TEXT NOT NULL,
  bank_id TEXT NOT NULL,
  product TEXT NOT NULL,
  aid TEXT NOT NULL,
  is_default BIGINT NOT NULL DEFAULT 0,
  priority BIGINT NOT NULL DEFAULT 0,
  next_key_index BIGINT NOT NULL DEFAULT 1,
  last_atc BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX tokens_phone ON tokens(phone_id, state);
CREATE INDEX tokens_pan ON tokens(pan_id);

CREATE TABLE token_events (
  id TEXT PRIMARY KEY,
  token TEXT NOT NULL REFERENCES tokens(token),
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  actor TEXT NOT NULL,
  reason TEXT NOT NULL,
  at BIGINT NOT NULL
);
CREATE INDEX token_events_token ON token_events(token, at);

-- Limited-use keys issued to the phone: the key itself is derived again
-- from the card master key and the index, never stored. used_arqc is the
-- cryptogram (hex) the key made when the network saw it used, so that a
-- second, different cryptogram with the same key or counter shows a clone.
CREATE TABLE luks (
  token TEXT NOT NULL REFERENCES tokens(token),
  key_index BIGINT NOT NULL,
  issued_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT NOT NULL DEFAULT 0,
  used_atc BIGINT NOT NULL DEFAULT 0,
  used_arqc TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (token, key_index)
);

CREATE TABLE bindings (
  id TEXT PRIMARY KEY,
  phone_id TEXT NOT NULL,
  account_id TEXT NOT NULL,
  pan_sealed BLOB NOT NULL,
  expiry TEXT NOT NULL,
  bank_id TEXT NOT NULL,
  otp_hash BLOB NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0,
  state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
  expires_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE otp_outbox (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  binding_id TEXT NOT NULL,
  message TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX otp_outbox_account ON otp_outbox(account_id, created_at);
