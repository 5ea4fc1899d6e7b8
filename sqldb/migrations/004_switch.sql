-- The card network switch and the issuer hosts: one authorization record per
-- message identity (never the PAN in clear: its last four digits, and the PAN
-- sealed by the key store for reversals), reversals of originals the switch
-- never saw, and the issuers' memory of reversals that came before their
-- original. Times are Unix milliseconds.
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

CREATE TABLE switch_reversals (
  original_id TEXT PRIMARY KEY,
  rrn TEXT NOT NULL,
  at BIGINT NOT NULL
);

CREATE TABLE issuer_reversals (
  bank_id TEXT NOT NULL,
  original_id TEXT NOT NULL,
  at BIGINT NOT NULL,
  PRIMARY KEY (bank_id, original_id)
);
