-- Issue 16: a cheaper hold. The state of a pending transfer moves from its
-- own table (ledger_pending: a table, its primary key and two indexes, four
-- B-trees more written by every hold) into two columns of the transfer
-- itself: status ('' for a transfer that is not pending) and resolved_at.
-- The index of holds by state and age goes: nothing on the hot paths read
-- it (clearing looks holds up by id, the expiry sweep has its own index; a
-- query by state alone reads the transfers in time order).
ALTER TABLE ledger_transfers ADD COLUMN status TEXT NOT NULL DEFAULT '' CHECK (status IN ('', 'pending', 'posted', 'voided', 'expired'));
ALTER TABLE ledger_transfers ADD COLUMN resolved_at BIGINT NOT NULL DEFAULT 0;
UPDATE ledger_transfers
  SET status = (SELECT p.status FROM ledger_pending p WHERE p.id = ledger_transfers.id),
      resolved_at = (SELECT p.resolved_at FROM ledger_pending p WHERE p.id = ledger_transfers.id)
  WHERE id IN (SELECT id FROM ledger_pending);
DROP INDEX ledger_pending_due;
DROP INDEX ledger_pending_status;
DROP TABLE ledger_pending;
-- The expiry sweep: open holds with a timeout, by when they expire.
CREATE INDEX ledger_transfers_due ON ledger_transfers(expires_at) WHERE status = 'pending' AND expires_at > 0;
