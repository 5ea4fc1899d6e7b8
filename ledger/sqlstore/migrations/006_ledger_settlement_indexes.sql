-- Issue 16: a cheaper hold, with the settlement queries of docs/ledger.md
-- still answered by an index. The expiry sweep's index now holds every open
-- hold, those without a timeout too (expires_at 0, before the sweep's
-- range), so that it also answers the open holds before a cutoff
-- (Filter{Status: pending, To: cutoff}, in place of the index of holds by
-- state that 004 dropped); a hold leaves it when it is posted, voided or
-- expired. The posts by time (Filter{Flags: PostPending, From, To}, the
-- day's captured payments, in place of the index of all transfers by time
-- that 005 dropped) have an index a hold never writes.
DROP INDEX ledger_transfers_due;
CREATE INDEX ledger_transfers_open ON ledger_transfers(expires_at) WHERE status = 'pending';
CREATE INDEX ledger_transfers_posts ON ledger_transfers(created_at, id) WHERE (flags & 14) = 4;
