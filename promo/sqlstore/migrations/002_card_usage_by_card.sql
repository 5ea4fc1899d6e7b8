-- A card's use of every campaign, read by card when the network's
-- promotions (promo.Mirror) first meet the card.
CREATE INDEX promo_card_usage_card ON promo_card_usage (card, day);
