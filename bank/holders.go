package bank

import (
	"github.com/tapwallet/tapwallet/card"
)

// Holders is one bank's card-holder file: its cards with their numbers,
// CVN2s, holders' phones, ID&V outcomes, states and opening funds. Only
// that bank's issuer host reads it; the network sees the Directory. A
// Holders does not change once made and is safe for concurrent use.
type Holders struct {
	bank  string
	cards []Cardholder
	byPAN map[string]int // PAN digits -> index, in memory only
}

// Holders returns the card-holder file of the bank with the given id: a
// copy of its cards, in configuration order; none for an unknown bank.
func (c *Config) Holders(bankID string) *Holders {
	h := &Holders{bank: bankID, byPAN: map[string]int{}}
	for i := range c.Cards {
		if c.Cards[i].Bank == bankID {
			h.byPAN[c.Cards[i].PAN.Digits()] = len(h.cards)
			h.cards = append(h.cards, c.Cards[i])
		}
	}
	return h
}

// Bank returns the id of the bank whose card holders these are.
func (h *Holders) Bank() string { return h.bank }

// Cards returns the bank's cards, in configuration order. The caller must
// not change them.
func (h *Holders) Cards() []*Cardholder {
	out := make([]*Cardholder, len(h.cards))
	for i := range h.cards {
		out[i] = &h.cards[i]
	}
	return out
}

// Lookup returns the card holder of pan, or false if the bank has not
// issued that card.
func (h *Holders) Lookup(pan card.PAN) (*Cardholder, bool) {
	if pan.IsZero() {
		return nil, false
	}
	i, ok := h.byPAN[pan.Digits()]
	if !ok {
		return nil, false
	}
	return &h.cards[i], true
}
