-- The transit wing (transit/sqlstore; was sqldb/migrations/006_transit.sql).
-- The transit operators' host: cards issued into phones, loads, cleared
-- rides, clearing files, exceptions, the money journal (float, fees,
-- deposits) and the versioned hot lists. Amounts in fen.
CREATE TABLE transit_serials (
  city TEXT PRIMARY KEY,
  next BIGINT NOT NULL
);

CREATE TABLE transit_cards (
  number TEXT PRIMARY KEY,
  city TEXT NOT NULL,
  account_id TEXT NOT NULL,
  phone_id TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'closing', 'refunded')),
  token TEXT NOT NULL,
  deposit BIGINT NOT NULL,
  issue_fee BIGINT NOT NULL,
  issue_ref TEXT NOT NULL UNIQUE,
  balance BIGINT NOT NULL,
  online_atc BIGINT NOT NULL,
  cleared_atc BIGINT NOT NULL,
  challenge BLOB,
  close_balance BIGINT NOT NULL DEFAULT 0,
  close_offline_atc BIGINT NOT NULL DEFAULT 0,
  moving BIGINT NOT NULL DEFAULT 0,
  issued_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX transit_cards_phone ON transit_cards(phone_id);
CREATE INDEX transit_cards_state ON transit_cards(state, city);

CREATE TABLE transit_loads (
  id TEXT PRIMARY KEY,
  card TEXT NOT NULL REFERENCES transit_cards(number),
  city TEXT NOT NULL,
  amount BIGINT NOT NULL CHECK (amount > 0),
  state TEXT NOT NULL CHECK (state IN ('paid', 'signed', 'done', 'refunding', 'refunded')),
  payment_ref TEXT NOT NULL,
  online_atc BIGINT NOT NULL,
  balance BIGINT NOT NULL,
  datetime BLOB,
  tac BLOB,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX transit_loads_state ON transit_loads(city, state);

CREATE TABLE transit_rides (
  card TEXT NOT NULL,
  atc BIGINT NOT NULL,
  city TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('final', 'grey')),
  amount BIGINT NOT NULL,
  file_id TEXT NOT NULL,
  record TEXT NOT NULL,
  cleared_at BIGINT NOT NULL,
  PRIMARY KEY (card, atc)
);

CREATE TABLE transit_files (
  id TEXT PRIMARY KEY,
  city TEXT NOT NULL,
  receipt TEXT NOT NULL,
  received_at BIGINT NOT NULL
);

CREATE TABLE transit_exceptions (
  id TEXT PRIMARY KEY,
  city TEXT NOT NULL,
  card TEXT NOT NULL,
  atc BIGINT NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL,
  file_id TEXT NOT NULL,
  at BIGINT NOT NULL
);
CREATE INDEX transit_exceptions_city ON transit_exceptions(city, at);

CREATE TABLE transit_entries (
  id TEXT PRIMARY KEY,
  city TEXT NOT NULL,
  card TEXT NOT NULL,
  kind TEXT NOT NULL,
  amount BIGINT NOT NULL,
  at BIGINT NOT NULL
);
CREATE INDEX transit_entries_city ON transit_entries(city, kind, at);

CREATE TABLE transit_hotlist (
  city TEXT NOT NULL,
  card TEXT NOT NULL,
  reason TEXT NOT NULL,
  version BIGINT NOT NULL,
  added_at BIGINT NOT NULL,
  PRIMARY KEY (city, card)
);

CREATE TABLE transit_hotlist_versions (
  city TEXT PRIMARY KEY,
  version BIGINT NOT NULL
);
