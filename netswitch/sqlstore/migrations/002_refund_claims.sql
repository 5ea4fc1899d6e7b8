-- The refunds of an original are a decision of the database, not of one
-- switch process (docs/iso8583.md "Refunds"): switch_auths.refunded is what
-- the refunds claim of the original (approved, or still at the issuer),
-- raised only by a conditional update that keeps it within clear_amount;
-- switch_refund_claims holds each refund's claim once by its identity, so
-- that a repeat of a refund claims nothing more, and a refund the issuer
-- declined gives its claim back in the transaction that stores it.
ALTER TABLE switch_auths ADD COLUMN refunded BIGINT NOT NULL DEFAULT 0;

CREATE TABLE switch_refund_claims (
  refund_id TEXT PRIMARY KEY,
  original_id TEXT NOT NULL,
  amount BIGINT NOT NULL
);

INSERT INTO switch_refund_claims (refund_id, original_id, amount)
  SELECT id, original_id, amount FROM switch_refunds WHERE response_code = '00';

UPDATE switch_auths SET refunded = (SELECT COALESCE(SUM(c.amount), 0) FROM switch_refund_claims c WHERE c.original_id = switch_auths.id)
  WHERE id IN (SELECT original_id FROM switch_refund_claims);
