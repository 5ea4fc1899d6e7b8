-- Issue 16: a cheaper hold. The index of all transfers by time goes: every
-- transfer wrote a page of it, and nothing reads it — clearing and the
-- issuer host look transfers up by id, the expiry sweep reads
-- ledger_transfers_due, statements of an account read the account indexes;
-- only a query by time or state alone, over every account of the bank,
-- would, and it reads the table in order instead.
DROP INDEX ledger_transfers_time;
