-- The card network's own database (wing "network"), consolidated from the
-- old global migrations 004_switch, 008_refunds (its switch part) and
-- 010_switch_recovery. Times are Unix milliseconds. Never a PAN in clear:
-- its last four digits, and the PAN sealed by the key store (aad
-- "switch:" || id) where a reversal must reach the issuer.
--
-- switch_auths: one row per message identity (DE41|DE11|DE7). The primary
-- key is where every switch process sharing this database decides a
-- message once: a new authorization is stored (response_code '') before
-- the issuer is asked, and a retransmission reaching any process meets
-- that row. A reversal whose original is unknown claims the identity with
-- a marker row (digest '', reason 'reversed_before_arrival'): the original,
-- should it still come to any process, meets the marker and is declined.
CREATE TABLE switch_auths (
  id TEXT PRIMARY KEY,
  digest TEXT NOT NULL,
  acquirer TEXT NOT NULL,
  terminal TEXT NOT NULL,
  stan TEXT NOT NULL,
  transmission TEXT NOT NULL,
  rrn TEXT NOT NULL,
  merchant TEXT NOT NULL,
  merchant_name TEXT NOT NULL,
  mcc TEXT NOT NULL,
  local_date TEXT NOT NULL,
  local_time TEXT NOT NULL,
  token TEXT NOT NULL,
  token_last4 TEXT NOT NULL,
  pan_last4 TEXT NOT NULL,
  pan_sealed BLOB,
  phone_id TEXT NOT NULL,
  account_id TEXT NOT NULL,
  bank_id TEXT NOT NULL,
  amount BIGINT NOT NULL,
  currency BIGINT NOT NULL,
  auth_code TEXT NOT NULL,
  response_code TEXT NOT NULL,
  reason TEXT NOT NULL,
  answer BLOB,
  business_date TEXT NOT NULL,
  received_at BIGINT NOT NULL,
  answered_at BIGINT NOT NULL,
  reversed_at BIGINT NOT NULL DEFAULT 0,
  reversal_rc TEXT NOT NULL DEFAULT '',
  clear_amount BIGINT NOT NULL,
  cleared_at BIGINT NOT NULL DEFAULT 0,
  clearing_date TEXT NOT NULL DEFAULT ''
);
CREATE INDEX switch_auths_day ON switch_auths(business_date, received_at);
CREATE INDEX switch_auths_phone ON switch_auths(phone_id, received_at);
CREATE INDEX switch_auths_token ON switch_auths(token, received_at);
CREATE INDEX switch_auths_deciding ON switch_auths(received_at) WHERE response_code = '';

-- Reversals whose original the switch had not seen when they came (the
-- marker in switch_auths is what declines a late original).
CREATE TABLE switch_reversals (
  original_id TEXT PRIMARY KEY,
  rrn TEXT NOT NULL,
  at BIGINT NOT NULL
);

-- Reversals the issuers have still to answer, with what it takes to send
-- them again after a restart.
CREATE TABLE switch_pending_reversals (
  original_id TEXT PRIMARY KEY,
  bank_id TEXT NOT NULL,
  token TEXT NOT NULL,
  pan_sealed BLOB NOT NULL,
  acquirer TEXT NOT NULL,
  terminal TEXT NOT NULL,
  stan TEXT NOT NULL,
  transmission TEXT NOT NULL,
  rrn TEXT NOT NULL,
  merchant TEXT NOT NULL,
  local_date TEXT NOT NULL,
  local_time TEXT NOT NULL,
  amount BIGINT NOT NULL,
  currency BIGINT NOT NULL,
  remaining BIGINT NOT NULL,
  queued_at BIGINT NOT NULL
);

-- Refunds (0200, processing code 200000; docs/iso8583.md "Refunds").
CREATE TABLE switch_refunds (
  id TEXT PRIMARY KEY,
  digest TEXT NOT NULL,
  original_id TEXT NOT NULL,
  acquirer TEXT NOT NULL,
  terminal TEXT NOT NULL,
  stan TEXT NOT NULL,
  transmission TEXT NOT NULL,
  rrn TEXT NOT NULL,
  merchant TEXT NOT NULL,
  merchant_name TEXT NOT NULL,
  local_date TEXT NOT NULL,
  local_time TEXT NOT NULL,
  token TEXT NOT NULL,
  token_last4 TEXT NOT NULL,
  pan_last4 TEXT NOT NULL,
  phone_id TEXT NOT NULL,
  account_id TEXT NOT NULL,
  bank_id TEXT NOT NULL,
  amount BIGINT NOT NULL,
  currency BIGINT NOT NULL,
  auth_code TEXT NOT NULL,
  response_code TEXT NOT NULL,
  reason TEXT NOT NULL,
  answer BLOB,
  business_date TEXT NOT NULL,
  received_at BIGINT NOT NULL,
  answered_at BIGINT NOT NULL,
  cleared_at BIGINT NOT NULL DEFAULT 0,
  clearing_date TEXT NOT NULL DEFAULT ''
);
CREATE INDEX switch_refunds_original ON switch_refunds(original_id);
CREATE INDEX switch_refunds_day ON switch_refunds(business_date, received_at);
