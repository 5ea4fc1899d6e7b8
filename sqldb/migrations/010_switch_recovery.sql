-- The switch records an authorization before it asks the issuer: the
-- record waits with response_code '' until the answer is stored. A record
-- left waiting by a switch that stopped (a crash) is found by the recovery
-- sweep, settled as not answered and reversed at the issuer, so that no
-- hold is left that the network does not know. Reversals the issuer has
-- not answered yet wait in switch_pending_reversals, with what it takes to
-- send them again (the PAN only sealed, aad "switch:" || original_id), so
-- that a restart keeps retrying them. Times are Unix milliseconds.
CREATE INDEX switch_auths_deciding ON switch_auths(received_at) WHERE response_code = '';

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
