-- The acquirer's own data (wing "acquirer"; docs/iso8583.md "Refunds"):
-- the terminals' counters, the charges the network approved, the refund
-- messages sent against them (planned once, so a refund sent again is the
-- same message), and the reversals owed to the network (kept until it
-- answers them, across restarts). A token number, never a PAN: the
-- acquirer never has it. Times are Unix milliseconds.
CREATE TABLE terminals (
  id TEXT PRIMARY KEY,
  stan BIGINT NOT NULL CHECK (stan >= 0 AND stan <= 999999),
  rrn TEXT NOT NULL DEFAULT ''
);

CREATE TABLE charges (
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

CREATE TABLE refunds (
  ref TEXT NOT NULL,
  part BIGINT NOT NULL,
  charge_ref TEXT NOT NULL REFERENCES charges(ref),
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
CREATE INDEX refunds_charge ON refunds(charge_ref);

CREATE TABLE reversals (
  id TEXT PRIMARY KEY,
  message BLOB NOT NULL,
  tries BIGINT NOT NULL DEFAULT 0,
  owed_at BIGINT NOT NULL,
  answered TEXT NOT NULL DEFAULT '',
  answered_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX reversals_owed ON reversals(answered, owed_at);
