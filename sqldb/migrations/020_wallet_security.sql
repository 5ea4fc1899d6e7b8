-- Security audit (issue 15): sessions of two kinds held by a phone,
-- repeated security events folded into one row, and the portal's log-in by
-- one-time code and step-up ceremonies.

-- A session is an API session (the phone app's bearer token) or a portal
-- session (the portal's cookie, opened only with every factor of the
-- account); the phone that holds an API session is recorded at its first
-- signed request, so switching that phone's wallet off ends it.
ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'api';
ALTER TABLE sessions ADD COLUMN phone_id TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_phone ON sessions(phone_id, revoked_at);
CREATE INDEX sessions_account ON sessions(account_id, kind, revoked_at);

-- A security event that repeats (wrong passwords, throttled attempts) is
-- one row: how many times, the first time (at is the last time).
ALTER TABLE security_events ADD COLUMN times BIGINT NOT NULL DEFAULT 1;
ALTER TABLE security_events ADD COLUMN first_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX security_events_fold ON security_events(account_id, kind, source, at);

-- Ceremonies are minutes-long and may be dropped: the table is made again
-- to allow the new kinds (a CHECK cannot be altered on SQLite).
DROP TABLE portal_ceremonies;
CREATE TABLE portal_ceremonies (
  id_hash BLOB PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  kind TEXT NOT NULL CHECK (kind IN ('login', 'login_code', 'register', 'wallet_on', 'wallet_on_code', 'step_up', 'step_up_code')),
  phone_id TEXT NOT NULL DEFAULT '',
  data BLOB NOT NULL,
  expires_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX portal_ceremonies_expiry ON portal_ceremonies(expires_at);
