package bank

import (
	"context"
	"time"
)

// Rewards is an issuing bank's points programme as the wallet service
// reaches it (issuer hosts in process, or over issuer/rewardshttp): a card
// is named by its payment account reference (PAR), never by its number.
// Points accrue when a purchase posts at clearing, come back off on a
// refund and expire oldest first (docs/promotions.md).
type Rewards interface {
	// Points returns a card's points at its bank; an unknown card has 0.
	Points(ctx context.Context, bankID, par string) (Points, error)
	// PayWithPoints spends points on a posted purchase of the card: the
	// bank credits the card the purchase's value of the points used, once
	// per purchase however often asked (the second answer is the first
	// payment, Again set). It fails with fault.NotFound for a purchase
	// the bank has not posted for that card, fault.Limit when the card has
	// too few points.
	PayWithPoints(ctx context.Context, req PayWithPoints) (PointsPayment, error)
}

// Points is a card's points at its bank.
type Points struct {
	Bank        string    `json:"bank"`
	Balance     int64     `json:"balance"`              // points
	FenPerPoint int64     `json:"fen_per_point"`        // what a point pays, in fen
	Expiring    int64     `json:"expiring,omitempty"`   // points of the oldest lot
	ExpiresAt   time.Time `json:"expires_at,omitempty"` // when that lot expires
}

// PayWithPoints asks a bank to pay a posted purchase with points.
type PayWithPoints struct {
	Bank     string `json:"bank"`
	PAR      string `json:"par"`
	Purchase string `json:"purchase"` // the authorization's message identity
	Points   int64  `json:"points"`   // at most; 0: as many as the purchase takes
}

// PointsPayment is what paying with points did.
type PointsPayment struct {
	Purchase string `json:"purchase"`
	Points   int64  `json:"points"`  // spent
	Credit   int64  `json:"credit"`  // fen credited to the card
	Balance  int64  `json:"balance"` // points left
	Again    bool   `json:"again,omitempty"`
}
