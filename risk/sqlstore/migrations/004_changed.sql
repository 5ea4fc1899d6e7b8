-- When a row last changed (wall-clock Unix milliseconds of the batch that
-- wrote it): each process keeps the counters, sightings and snoozes in
-- memory and reads, every second, the rows the others changed since
-- (risk/sqlstore/mirror.go). 0: written before this column existed (read
-- by the full reloads).
ALTER TABLE risk_counters ADD COLUMN changed BIGINT NOT NULL DEFAULT 0;
CREATE INDEX risk_counters_changed ON risk_counters (changed);
ALTER TABLE risk_sightings ADD COLUMN changed BIGINT NOT NULL DEFAULT 0;
CREATE INDEX risk_sightings_changed ON risk_sightings (changed);
ALTER TABLE risk_snoozes ADD COLUMN changed BIGINT NOT NULL DEFAULT 0;
