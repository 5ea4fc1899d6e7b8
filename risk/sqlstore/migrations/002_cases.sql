-- "Was this you?" cases: one row a case, and every change of its state
-- (who, when, from, to) in risk_case_changes. Times are Unix milliseconds.
CREATE TABLE risk_cases (
    id        TEXT   PRIMARY KEY,
    account   TEXT   NOT NULL,
    phone     TEXT   NOT NULL,
    token     TEXT   NOT NULL,
    decision  TEXT   NOT NULL,
    state     TEXT   NOT NULL,
    opened_at BIGINT NOT NULL,
    closed_at BIGINT NOT NULL
);
CREATE INDEX risk_cases_account ON risk_cases (account, opened_at);

CREATE TABLE risk_case_changes (
    case_id    TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    changed_at BIGINT  NOT NULL,
    changed_by TEXT    NOT NULL,
    from_state TEXT    NOT NULL,
    to_state   TEXT    NOT NULL,
    note       TEXT    NOT NULL,
    PRIMARY KEY (case_id, seq)
);
