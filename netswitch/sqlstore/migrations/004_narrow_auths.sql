-- Issue 16: the switch's record, narrower (docs/performance.md). The
-- write-behind binds every column of a record it inserts, each a copy on
-- the C side of SQLite's driver; the columns no reader filters, sorts or
-- updates on — acquirer, rrn, merchant, merchant_name, mcc, local_date,
-- local_time, token_last4, pan_last4, account_id, bank_id, amount,
-- currency — go into one column, detail: each in that order as its length
-- in characters, ':' and its text (amount and currency in decimal), e.g.
-- '8:48021000' (the store's encodeDetail and decodeDetail). The table is
-- rebuilt with the columns of the rows read together first and the large
-- values last; every row is carried over, its detail made here.
CREATE TABLE switch_auths_new (
  id TEXT PRIMARY KEY,
  digest TEXT NOT NULL,
  terminal TEXT NOT NULL,
  stan TEXT NOT NULL,
  transmission TEXT NOT NULL,
  token TEXT NOT NULL,
  phone_id TEXT NOT NULL,
  business_date TEXT NOT NULL,
  received_at BIGINT NOT NULL,
  response_code TEXT NOT NULL,
  auth_code TEXT NOT NULL,
  reason TEXT NOT NULL,
  answered_at BIGINT NOT NULL,
  clear_amount BIGINT NOT NULL,
  reversed_at BIGINT NOT NULL DEFAULT 0,
  reversal_rc TEXT NOT NULL DEFAULT '',
  cleared_at BIGINT NOT NULL DEFAULT 0,
  clearing_date TEXT NOT NULL DEFAULT '',
  refunded BIGINT NOT NULL DEFAULT 0,
  par TEXT NOT NULL DEFAULT '',
  promo TEXT NOT NULL DEFAULT '',
  pan_sealed BLOB,
  answer BLOB,
  detail TEXT NOT NULL
);

INSERT INTO switch_auths_new (id, digest, terminal, stan, transmission, token, phone_id, business_date, received_at, response_code,
    auth_code, reason, answered_at, clear_amount, reversed_at, reversal_rc, cleared_at, clearing_date, refunded, par, promo, pan_sealed,
    answer, detail)
  SELECT id, digest, terminal, stan, transmission, token, phone_id, business_date, received_at, response_code,
    auth_code, reason, answered_at, clear_amount, reversed_at, reversal_rc, cleared_at, clearing_date, refunded, par, promo, pan_sealed,
    answer,
    length(acquirer) || ':' || acquirer || length(rrn) || ':' || rrn || length(merchant) || ':' || merchant ||
    length(merchant_name) || ':' || merchant_name || length(mcc) || ':' || mcc || length(local_date) || ':' || local_date ||
    length(local_time) || ':' || local_time || length(token_last4) || ':' || token_last4 || length(pan_last4) || ':' || pan_last4 ||
    length(account_id) || ':' || account_id || length(bank_id) || ':' || bank_id ||
    length(CAST(amount AS TEXT)) || ':' || CAST(amount AS TEXT) || length(CAST(currency AS TEXT)) || ':' || CAST(currency AS TEXT)
  FROM switch_auths;

DROP TABLE switch_auths;

ALTER TABLE switch_auths_new RENAME TO switch_auths;

CREATE INDEX switch_auths_day ON switch_auths(business_date, received_at);
CREATE INDEX switch_auths_phone ON switch_auths(phone_id, received_at);
CREATE INDEX switch_auths_token ON switch_auths(token, received_at);
CREATE INDEX switch_auths_deciding ON switch_auths(received_at) WHERE response_code = '';
CREATE INDEX switch_auths_par ON switch_auths(par) WHERE par <> '';
