-- What a "was this you?" alert shows the card holder (amount, merchant,
-- city), written by the party that opened the case; never a card number.
ALTER TABLE risk_cases ADD COLUMN summary TEXT NOT NULL DEFAULT '';
