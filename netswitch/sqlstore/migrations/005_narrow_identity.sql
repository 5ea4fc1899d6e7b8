-- Issue 16: the switch's record, narrower again (docs/performance.md).
-- terminal, stan and transmission — the message identity's parts, which
-- no reader filters, sorts or updates on (the identity itself is id) —
-- join detail, after the values 004 put there, each as its length in
-- characters, ':' and its text (the store's encodeDetail and
-- decodeDetail): three values less for the write-behind to bind a
-- record. Every row is carried over, its detail lengthened here.
UPDATE switch_auths SET detail = detail || length(terminal) || ':' || terminal || length(stan) || ':' || stan ||
  length(transmission) || ':' || transmission;

ALTER TABLE switch_auths DROP COLUMN terminal;

ALTER TABLE switch_auths DROP COLUMN stan;

ALTER TABLE switch_auths DROP COLUMN transmission;
