package client

import "time"

// Alert is one "was this you?" alert (GET /v1/alerts): a payment the
// network's risk engine reviewed or declined, for the card holder to
// answer.
type Alert struct {
	ID       string    `json:"id"`
	State    string    `json:"state"`   // open, confirmed_fraud ("not me") or not_fraud ("that was me")
	Summary  string    `json:"summary"` // amount, merchant, time and the network's answer
	Outcome  string    `json:"outcome"` // review (approved, alerted) or decline (59)
	Reasons  []string  `json:"reasons"` // the risk reasons (rule texts)
	Rules    []string  `json:"rules"`   // the rules that fired (ids)
	Score    int       `json:"score"`
	Version  int       `json:"version"` // the rule set's version
	Phone    string    `json:"phone"`
	OpenedAt time.Time `json:"opened_at"`
	ClosedAt time.Time `json:"closed_at,omitzero"`
}

// Alerts is the body of GET /v1/alerts.
type Alerts struct {
	Alerts []Alert `json:"alerts"`
}

// AlertAnswer is the body of POST /v1/alerts/{id}: "yes" (that was me)
// or "no" (that was not me).
type AlertAnswer struct {
	Answer string `json:"answer"`
}

// AlertAnswered is the answer of POST /v1/alerts/{id}.
type AlertAnswered struct {
	Alert Alert `json:"alert"`
	// Suspended is the last 4 digits of the token suspended after a "no".
	Suspended string `json:"suspended,omitempty"`
	// Blocked is the last 4 digits of the transit card put on its city's
	// hot list after a "no" to a transit ride's alert.
	Blocked string `json:"blocked,omitempty"`
	// Advice is what the card holder is offered next (after a "no":
	// switch the phone's wallet off if the phone is lost).
	Advice string `json:"advice,omitempty"`
}
