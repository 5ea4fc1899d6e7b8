-- The risk engine's wing: its counters, last sightings, snoozes, rule set
-- versions and decisions. Times are Unix milliseconds, buckets and
-- expiries Unix seconds (see risk.Delta).
CREATE TABLE risk_counters (
    series  TEXT   NOT NULL,
    subject TEXT   NOT NULL,
    member  TEXT   NOT NULL,
    bucket  BIGINT NOT NULL,
    n       BIGINT NOT NULL,
    total   BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    PRIMARY KEY (series, subject, member, bucket)
);
CREATE INDEX risk_counters_expires ON risk_counters (expires);

CREATE TABLE risk_sightings (
    subject TEXT PRIMARY KEY,
    lat     DOUBLE PRECISION NOT NULL,
    lon     DOUBLE PRECISION NOT NULL,
    seen_at BIGINT NOT NULL
);

CREATE TABLE risk_snoozes (
    rule     TEXT   NOT NULL,
    pattern  TEXT   NOT NULL,
    until_at BIGINT NOT NULL,
    PRIMARY KEY (rule, pattern)
);

-- A rule set version is inserted once and never updated.
CREATE TABLE risk_rule_sets (
    version    INTEGER PRIMARY KEY,
    digest     TEXT    NOT NULL,
    rules      INTEGER NOT NULL,
    note       TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL
);

CREATE TABLE risk_decisions (
    point      TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    decided_at BIGINT  NOT NULL,
    version    INTEGER NOT NULL,
    outcome    TEXT    NOT NULL,
    score      INTEGER NOT NULL,
    body       TEXT    NOT NULL,
    PRIMARY KEY (point, id)
);
