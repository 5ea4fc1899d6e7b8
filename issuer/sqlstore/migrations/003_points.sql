-- The points of a bank's cards (docs/promotions.md, Points), beside its
-- ledger, whose points accounts (points:<bank>:…) they agree with: a card
-- is its payment account reference (PAR), never its number.

-- One row per card: the lock an update of its points takes, and the card's
-- money account (bound when its first purchase posts).
CREATE TABLE points_cards (
  bank_id TEXT NOT NULL,
  par TEXT NOT NULL,
  account TEXT NOT NULL,
  PRIMARY KEY (bank_id, par)
);

-- A lot per posted purchase that earned points: spent and expired oldest
-- first; amount is what clearing posted of the purchase, refunded what its
-- refunds took points back for.
CREATE TABLE points_lots (
  bank_id TEXT NOT NULL,
  par TEXT NOT NULL,
  id TEXT NOT NULL,
  earned BIGINT NOT NULL,
  expires BIGINT NOT NULL,
  points BIGINT NOT NULL CHECK (points > 0),
  left_points BIGINT NOT NULL CHECK (left_points >= 0 AND left_points <= points),
  amount BIGINT NOT NULL CHECK (amount >= 0),
  refunded BIGINT NOT NULL CHECK (refunded >= 0 AND refunded <= amount),
  PRIMARY KEY (bank_id, par, id)
);

CREATE INDEX points_lots_due ON points_lots (bank_id, expires) WHERE left_points > 0;
CREATE INDEX points_lots_id ON points_lots (bank_id, id);

-- Every points operation applied (accrue:<purchase>, takeback:<refund>,
-- pay:<purchase>, expire:<lot>) and the points it moved: each applies once.
CREATE TABLE points_ops (
  bank_id TEXT NOT NULL,
  par TEXT NOT NULL,
  id TEXT NOT NULL,
  points BIGINT NOT NULL,
  PRIMARY KEY (bank_id, par, id)
);
