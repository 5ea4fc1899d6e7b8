package acquirer

import (
	"github.com/tapwallet/tapwallet/iso8583"
)

// promotionOf reads the promotion the network applied to an approved
// purchase from its answer's DE124 (docs/iso8583.md): nil when the answer
// carries none. A DE124 that cannot be read is returned as the error and
// no promotion: the terminal then prints the amount it asked, and the
// merchant is settled that gross all the same.
func promotionOf(m *iso8583.Message) (*iso8583.PromotionData, error) {
	if m == nil || !m.Has(iso8583.DEPromotionData) {
		return nil, nil
	}
	p, err := m.PromotionData()
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// Charged is what the card holder pays of an approved purchase of gross
// minor units: gross less the promotion's discount when it is taken off
// the amount (instant, or a 0110 that does not say: DF63 absent), gross
// when the benefit comes after clearing or none applied. It never fails.
func (r *Result) Charged(gross int64) int64 {
	p := r.Promotion
	if p == nil || (p.Fulfilment != 0 && p.Fulfilment != iso8583.PromoInstant) || p.Discount >= gross {
		return gross
	}
	return gross - p.Discount
}
