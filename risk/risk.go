// Package risk is the card network's risk engine: it scores each card
// binding (in the token service, before ID&V) and each authorization (in
// the network, before the issuer) against a rule set that is data — a
// versioned JSON document of rules over named attributes and aggregates —
// and explains every decision: which rules fired, with their inputs and
// values, the score, the outcome and the rule set's version.
//
// The package keeps no storage and speaks no wire protocol: it takes the
// facts of a moment (Auth, Binding) from its caller and its state (the
// windowed counters, the per-card amount history, the last places, the
// snoozes) through the State interface; Memory is the in-process State and
// risk/sqlstore the SQL one. Decisions never hold a card number: facts name
// cards and tokens by references (a payment account reference, a token
// reference), and the engine refuses facts that carry a number that looks
// like one.
package risk

import (
	"fmt"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
)

// Point is where a decision is taken.
type Point string

// The decision points.
const (
	PointBinding       Point = "binding"       // adding a card to a phone, before ID&V
	PointAuthorization Point = "authorization" // an authorization at the network, before the issuer
)

// Outcome is what a decision asks for. Outcomes are ordered: approve <
// review < decline; a decision takes the highest of its rules' outcomes
// and of its score's threshold.
type Outcome int

// The outcomes.
const (
	Approve Outcome = iota // let it through
	Review                 // let it through and alert (at binding: step up with a one-time code)
	Decline                // refuse (authorization: response code 59)
)

var outcomeNames = [...]string{"approve", "review", "decline"}

func (o Outcome) String() string {
	if o < 0 || int(o) >= len(outcomeNames) {
		return fmt.Sprintf("outcome(%d)", int(o))
	}
	return outcomeNames[o]
}

// ParseOutcome reads "approve", "review" or "decline" (and, for binding,
// "green", "step_up"); anything else is fault.Invalid "risk_outcome".
func ParseOutcome(s string) (Outcome, error) {
	switch s {
	case "approve", "green":
		return Approve, nil
	case "review", "step_up":
		return Review, nil
	case "decline", "red":
		return Decline, nil
	}
	return 0, fault.E(fault.Invalid, CodeOutcome, "outcome %q: want approve, review or decline", s)
}

// MarshalText writes the outcome's name.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText reads an outcome's name (ParseOutcome).
func (o *Outcome) UnmarshalText(b []byte) error {
	v, err := ParseOutcome(string(b))
	*o = v
	return err
}

// Verdict is the outcome as the binding flow names it, as MDES answers
// an issuer: green, step_up (a one-time code even for a green card) or
// decline.
func (o Outcome) Verdict() string {
	switch o {
	case Review:
		return "step_up"
	case Decline:
		return "decline"
	}
	return "green"
}

// ResponseCode is the ISO 8583 response code the network answers for an
// authorization with this outcome: 59 (suspected fraud) for a decline, ""
// (the issuer decides) otherwise.
func (o Outcome) ResponseCode() iso8583.ResponseCode {
	if o == Decline {
		return iso8583.SuspectedFraud
	}
	return ""
}

// The error codes of the package (fault codes), for errors.Is with
// fault.E(kind, code, "").
const (
	CodeOutcome    = "risk_outcome"     // an outcome name that is none
	CodeRules      = "risk_rules"       // a rule set that does not decode or does not hold
	CodeVersion    = "risk_version"     // a rule set version that exists already (never overwritten)
	CodeNoVersion  = "risk_no_version"  // no rule set of that version
	CodeCardNumber = "risk_card_number" // a fact that carries what looks like a card number
	CodeFacts      = "risk_facts"       // facts that miss what the engine needs
)

// Block reasons: what the engine declines beyond any rule.
const (
	BlockPhoneOff = "phone_off" // the phone's wallet is switched off (lost phone): its tokens and cards are blocked
)

// Decision is one explained decision.
type Decision struct {
	Point   Point     `json:"point"`
	ID      string    `json:"id"` // the message identity (authorization) or the binding's id
	At      time.Time `json:"at"`
	Version int       `json:"version"` // the rule set's version
	Digest  string    `json:"digest"`  // the rule set's digest (sha-256 of its JSON, 12 hex digits)
	Score   int       `json:"score"`   // 0–99: the sum of the scores of the enforced rules that fired, capped
	Outcome Outcome   `json:"outcome"`
	// Block is set when the outcome is a decline beyond any rule
	// (BlockPhoneOff).
	Block string `json:"block,omitempty"`
	// Reasons are the ids of the enforced rules that fired, in rule set
	// order (shadow and snoozed ones are in Hits only).
	Reasons []string `json:"reasons"`
	// Hits are every rule that fired, enforced or not, with its inputs.
	Hits []Hit `json:"hits"`
}

// ResponseCode is the response code the network answers for the decision
// (Outcome.ResponseCode).
func (d Decision) ResponseCode() iso8583.ResponseCode { return d.Outcome.ResponseCode() }

// Verdict is the decision as the binding flow names it (Outcome.Verdict).
func (d Decision) Verdict() string { return d.Outcome.Verdict() }

// Hit is one rule that fired: why, with what, and whether it counted.
type Hit struct {
	Rule    string  `json:"rule"`
	Reason  string  `json:"reason"`
	Score   int     `json:"score"`
	Outcome Outcome `json:"outcome"`
	Shadow  bool    `json:"shadow,omitempty"`  // evaluated and recorded, not enforced
	Snoozed bool    `json:"snoozed,omitempty"` // fired, but its pattern is snoozed: not enforced
	// Pattern is what a snooze of this hit silences (the rule's snooze
	// attributes and their values); "" when the rule has none.
	Pattern string  `json:"pattern,omitempty"`
	Inputs  []Input `json:"inputs"`
}

// Input is one attribute a rule read and its value (a number or a string).
type Input struct {
	Attr  string `json:"attr"`
	Value any    `json:"value"`
}

// String is a one-line explanation, e.g. "decline 90 (v3): auth.impossible_travel".
func (d Decision) String() string {
	s := fmt.Sprintf("%s %d (v%d)", d.Outcome, d.Score, d.Version)
	if d.Block != "" {
		s += " blocked: " + d.Block
	}
	for i, r := range d.Reasons {
		if i == 0 {
			s += ": " + r
		} else {
			s += ", " + r
		}
	}
	return s
}

// JSON returns the decision as JSON (for a record's column): what
// encoding/json writes, by AppendJSON; nil when it cannot be written.
func (d Decision) JSON() []byte {
	b := d.AppendJSON(make([]byte, 0, 512))
	if len(b) == 0 {
		return nil
	}
	return b
}
