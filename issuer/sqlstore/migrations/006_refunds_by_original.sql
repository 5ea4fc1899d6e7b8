-- The refunds of a purchase, read when the purchase is presented to take
-- back the points of refunds credited before it (issuer/rewards.go).
CREATE INDEX issuer_refunds_original ON issuer_refunds (bank_id, original_id);
