-- A store terminal's day (docs/iso8583.md "The store terminal"): what
-- each charge was (a sale, or a pre-authorization and its completion),
-- its auth code for the receipt and for finding it again, whether it was
-- voided, and the batch it was settled in (0 while the batch is open);
-- refunds carry their batch too; each closed batch keeps its totals.
ALTER TABLE charges ADD COLUMN kind TEXT NOT NULL DEFAULT 'sale';
ALTER TABLE charges ADD COLUMN processing_code TEXT NOT NULL DEFAULT '000000';
ALTER TABLE charges ADD COLUMN auth_code TEXT NOT NULL DEFAULT '';
ALTER TABLE charges ADD COLUMN voided_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE charges ADD COLUMN completed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE charges ADD COLUMN batch BIGINT NOT NULL DEFAULT 0;
CREATE INDEX charges_terminal_batch ON charges(terminal, batch);
CREATE INDEX charges_terminal_rrn ON charges(terminal, rrn);
ALTER TABLE refunds ADD COLUMN batch BIGINT NOT NULL DEFAULT 0;

CREATE TABLE batches (
  terminal TEXT NOT NULL,
  number BIGINT NOT NULL,
  closed_at BIGINT NOT NULL,
  totals TEXT NOT NULL,
  PRIMARY KEY (terminal, number)
);
