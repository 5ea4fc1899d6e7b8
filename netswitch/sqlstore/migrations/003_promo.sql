-- Issue 12: promotions at the switch (docs/promotions.md). switch_auths
-- gains the card's payment account reference (par: the card's identity
-- without its number, the key of per-card promotion limits and of "a new
-- card holder") and the promotion the switch applied (promo: the
-- promo.Redemption as JSON, '' when none). switch_refunds gains the split
-- of a refund of a discounted purchase (promo: netswitch.PromoRefund as
-- JSON, '' when none). No card number in either.
ALTER TABLE switch_auths ADD COLUMN par TEXT NOT NULL DEFAULT '';
ALTER TABLE switch_auths ADD COLUMN promo TEXT NOT NULL DEFAULT '';
CREATE INDEX switch_auths_par ON switch_auths(par) WHERE par <> '';
ALTER TABLE switch_refunds ADD COLUMN promo TEXT NOT NULL DEFAULT '';
