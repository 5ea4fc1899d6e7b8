-- Refunds over the card network (docs/iso8583.md, "Refunds"), the acquirer
-- side (the transit operators as merchants): the charges the network
-- approved and the refund messages sent against them, so that a refund sent
-- again is the same message. (The switch's records of refunds are in the
-- network's wing, netswitch/sqlstore; the issuers' refunds in each bank's
-- wing, issuer/sqlstore.) Never a PAN in clear: its last four digits only.
-- Times are Unix milliseconds.
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
