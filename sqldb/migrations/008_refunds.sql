-- Refunds over the card network (docs/iso8583.md, "Refunds"): the switch's
-- record of each refund (0200, processing code 200000: records of kind
-- "refund"), the issuers' refunds and what each original authorization has
-- had refunded, and the acquirer side (the transit operators as merchants):
-- the charges the network approved and the refund messages sent against
-- them, so that a refund sent again is the same message. Never a PAN in
-- clear: its last four digits only. Times are Unix milliseconds.
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

CREATE TABLE acquirer_charges (
  ref TEXT PRIMARY KEY,
  auth_id TEXT NOT NULL,
  token TEXT NOT NULL,
  acquirer TEXT NOT NULL,
  terminal TEXT NOT NULL,
  stan TEXT NOT NULL,
  transmission TEXT NOT NULL,
  rrn TEXT NOT NULL,
  merchant TEXT NOT NULL,
  merchant_name TEXT NOT NULL,
  mcc TEXT NOT NULL,
  amount BIGINT NOT NULL CHECK (amount > 0),
  currency BIGINT NOT NULL,
  at BIGINT NOT NULL
);

CREATE TABLE acquirer_refunds (
  ref TEXT NOT NULL,
  part BIGINT NOT NULL,
  charge_ref TEXT NOT NULL REFERENCES acquirer_charges(ref),
  amount BIGINT NOT NULL CHECK (amount > 0),
  stan TEXT NOT NULL,
  transmission TEXT NOT NULL,
  local_date TEXT NOT NULL,
  local_time TEXT NOT NULL,
  response_code TEXT NOT NULL DEFAULT '',
  auth_code TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  PRIMARY KEY (ref, part)
);
CREATE INDEX acquirer_refunds_charge ON acquirer_refunds(charge_ref);
