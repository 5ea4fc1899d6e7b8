-- The promotions wing (package promo): campaigns with their budgets, the
-- cards' use of each campaign (per day and in all), the budget holds of
-- authorizations (two-phase: pending, then posted, voided or expired, once),
-- the refunds that gave budget back, and the offers card holders added to
-- their cards. Amounts are fen, times Unix milliseconds. Cards are the
-- network's card references, never card numbers. The CHECKs repeat the
-- rules as a last guard: a budget is never over-reserved.
CREATE TABLE promo_campaigns (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  body TEXT NOT NULL,
  paused INTEGER NOT NULL DEFAULT 0,
  start_ms BIGINT NOT NULL,
  end_ms BIGINT NOT NULL,
  budget BIGINT NOT NULL CHECK (budget > 0),
  max_count BIGINT NOT NULL DEFAULT 0,
  card_day_count BIGINT NOT NULL DEFAULT 0,
  card_day_amount BIGINT NOT NULL DEFAULT 0,
  card_count BIGINT NOT NULL DEFAULT 0,
  card_amount BIGINT NOT NULL DEFAULT 0,
  reserved BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
  spent BIGINT NOT NULL DEFAULT 0 CHECK (spent >= 0),
  reserved_count BIGINT NOT NULL DEFAULT 0 CHECK (reserved_count >= 0),
  spent_count BIGINT NOT NULL DEFAULT 0 CHECK (spent_count >= 0),
  updated_at BIGINT NOT NULL,
  CHECK (reserved + spent <= budget)
);

-- day is YYYY-MM-DD (UTC) for the daily limits, '' for the whole campaign.
CREATE TABLE promo_card_usage (
  campaign_id TEXT NOT NULL,
  card TEXT NOT NULL,
  day TEXT NOT NULL,
  reserved_count BIGINT NOT NULL DEFAULT 0 CHECK (reserved_count >= 0),
  spent_count BIGINT NOT NULL DEFAULT 0 CHECK (spent_count >= 0),
  reserved_amount BIGINT NOT NULL DEFAULT 0 CHECK (reserved_amount >= 0),
  spent_amount BIGINT NOT NULL DEFAULT 0 CHECK (spent_amount >= 0),
  PRIMARY KEY (campaign_id, card, day)
);

-- The id is the authorization's message identity.
CREATE TABLE promo_holds (
  id TEXT PRIMARY KEY,
  campaign_id TEXT NOT NULL,
  card TEXT NOT NULL,
  day TEXT NOT NULL,
  amount BIGINT NOT NULL CHECK (amount > 0),
  at_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'posted', 'voided', 'expired')),
  refunded BIGINT NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
  count_restored INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  resolved_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX promo_holds_pending ON promo_holds (status, expires_ms);
CREATE INDEX promo_holds_campaign ON promo_holds (campaign_id, status);

CREATE TABLE promo_refunds (
  id TEXT PRIMARY KEY,
  hold_id TEXT NOT NULL,
  restore BIGINT NOT NULL CHECK (restore >= 0),
  restore_count INTEGER NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE promo_enrolments (
  campaign_id TEXT NOT NULL,
  card TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (campaign_id, card)
);
