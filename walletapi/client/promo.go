package client

import "time"

// Names is a campaign's name in Chinese and English.
type Names struct {
	ZH string `json:"zh"`
	EN string `json:"en"`
}

// Funder is who pays (part of) an offer: the card network, a bank or a
// merchant, and its share.
type Funder struct {
	Kind  string `json:"kind"`  // network | issuer | merchant
	Party string `json:"party"` // "network", a bank id or a merchant id
	Name  string `json:"name"`  // for display: "the network", "ICBC", …
	Share string `json:"share"` // percent, e.g. "70.00"
}

// Offer is a campaign a card may use (GET /v1/offers): eligible by its
// bank, card range and product, open now and not paused. Conditions only a
// purchase can meet (the amount, the merchant's category or city, a card's
// first purchase) are in Conditions.
type Offer struct {
	Campaign   string    `json:"campaign"`
	Name       Names     `json:"name"`
	Owner      string    `json:"owner"`      // who publishes it: "network" or a bank id
	Mechanic   string    `json:"mechanic"`   // in words: "spend 100.00 save 50.00", "random 0.50-8.88 over 20.00"
	Fulfilment string    `json:"fulfilment"` // instant | statement_credit | points
	Benefit    string    `json:"benefit"`    // the mechanic and the fulfilment in a line for the card holder
	Funders    []Funder  `json:"funders"`
	FundedBy   string    `json:"funded_by"`            // "ICBC", "CMB 70%, the network 30%"
	Channels   []string  `json:"channels"`             // nfc (store taps), in_app, transit_topup
	Enrolment  string    `json:"enrolment"`            // auto | add_to_card
	Added      bool      `json:"added"`                // it applies to this card's purchases: auto, or added by the card holder
	Conditions []string  `json:"conditions,omitempty"` // what a purchase must also meet, in words
	Ends       time.Time `json:"ends"`
}

// CardOffers is one card and its offers.
type CardOffers struct {
	Card       string  `json:"card"` // the token number: POST /v1/offers/{campaign}/cards/{card}/add names it
	Phone      string  `json:"phone"`
	TokenLast4 string  `json:"token_last4"`
	PANLast4   string  `json:"pan_last4"`
	Bank       string  `json:"bank"`
	BankName   string  `json:"bank_name"`
	Product    string  `json:"product"`
	Offers     []Offer `json:"offers"`
}

// Offers is the answer to GET /v1/offers.
type Offers struct {
	Cards []CardOffers `json:"cards"`
}

// OfferAdded is the answer to POST /v1/offers/{campaign}/cards/{card}/add.
type OfferAdded struct {
	Status     string `json:"status"` // "added"
	Campaign   string `json:"campaign"`
	TokenLast4 string `json:"token_last4"`
	Offer      Offer  `json:"offer"`
}

// CardPoints is a card's points at its bank (GET /v1/points).
type CardPoints struct {
	Bank         string    `json:"bank"`
	BankName     string    `json:"bank_name"`
	TokenLast4   string    `json:"token_last4"`
	PANLast4     string    `json:"pan_last4"`
	Product      string    `json:"product"`
	Balance      int64     `json:"balance"`       // points
	FenPerPoint  int64     `json:"fen_per_point"` // what a point pays, in fen
	Value        int64     `json:"value"`         // balance × fen_per_point, fen
	ValueDisplay string    `json:"value_display"` // e.g. ¥12.34
	Expiring     int64     `json:"expiring,omitempty"`
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
}

// BankPoints is the points of a bank's cards together.
type BankPoints struct {
	Bank         string `json:"bank"`
	BankName     string `json:"bank_name"`
	Balance      int64  `json:"balance"`
	Value        int64  `json:"value"`
	ValueDisplay string `json:"value_display"`
}

// Points is the answer to GET /v1/points.
type Points struct {
	Banks []BankPoints `json:"banks"`
	Cards []CardPoints `json:"cards"`
}

// PayWithPoints is the body of POST /v1/points/pay: pay a posted purchase
// with points (0 points: as many as the purchase takes).
type PayWithPoints struct {
	Payment string `json:"payment"` // the payment's id (GET /v1/phones/{phone}/payments)
	Points  int64  `json:"points"`
}

// PointsPaid is the answer to POST /v1/points/pay.
type PointsPaid struct {
	Payment       string `json:"payment"`
	Bank          string `json:"bank"`
	Points        int64  `json:"points"` // spent
	Credit        int64  `json:"credit"` // fen credited to the card
	CreditDisplay string `json:"credit_display"`
	Balance       int64  `json:"balance"`         // points left
	Again         bool   `json:"again,omitempty"` // asked before: this is the first payment's answer, nothing more was credited
}
