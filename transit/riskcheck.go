package transit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/money"
)

// ExRisk is the exception kind of a cleared record the network's risk
// engine reviewed after the fact (impossible travel, a tap burst, two
// cities within minutes): the ride stands, charged as cleared; the flag
// is for the operator and, when the card belongs to a wallet account, a
// "was this you?" case is open for its holder.
const ExRisk = "risk_review"

// Checked is the operators' host whose clearing is checked after the
// fact: Clear clears a file as Service.Clear does and, once the file's
// clearing is committed, hands its accepted rides to Risk (the network's
// risk engine, set by the platform). A ride Risk reviews is flagged — an
// exception of kind ExRisk the operator lists with the others — and never
// refused: the ride happened. A file cleared again is not checked again.
type Checked struct {
	*Service
	Risk RideChecker // nil: no check
}

// Clear clears a file and checks its accepted rides (see Checked). It
// fails as Service.Clear does; the check's failures are logged, never
// returned.
func (c Checked) Clear(ctx context.Context, raw []byte) (Receipt, error) {
	rc, _, err := c.ClearChecked(ctx, raw)
	return rc, err
}

// ClearChecked is Clear with the records the check reviewed.
func (c Checked) ClearChecked(ctx context.Context, raw []byte) (Receipt, []RideFlag, error) {
	return c.Service.clear(ctx, raw, c.Risk)
}

// RideChecker checks the rides a clearing file accepted, after the fact
// (Checked.Risk). It never
// declines anything: gate taps are offline and the rides happened. An
// error (logged by Clear) leaves the rides as cleared: the check fails
// open; flags come back for the rides it could check.
type RideChecker interface {
	CheckRides(ctx context.Context, rides []ClearedRide) ([]RideFlag, error)
}

// ClearedRide is one accepted record as the check sees it: the transit
// card's number (for the checker to make its reference of; never logged),
// where and when the gate made the record, and whose card it is.
type ClearedRide struct {
	Card    string
	ATC     int
	City    string // the operator's city (fare table id)
	Line    uint16
	Station uint16
	At      time.Time // the record's date and time
	Amount  int64     // fen
	FileID  string
	// AccountID and PhoneID are the wallet account and phone the card was
	// issued into; Token the wallet token of the bank card that paid for
	// it (digits: the checker makes its reference; never logged).
	AccountID string
	PhoneID   string
	Token     string
	// Summary is what the card holder is shown: the city, line, station,
	// time and amount (never the card's number).
	Summary string
}

// RideFlag is a cleared record the check reviewed: its card and counter
// (the operator's own card number), the decision's outcome, score, rule
// set version and rules, and the case opened for the card holder ("":
// none, the card belongs to no account).
type RideFlag struct {
	Card    string   `json:"card"`
	ATC     int      `json:"atc"`
	Outcome string   `json:"outcome"`
	Score   int      `json:"score"`
	Version int      `json:"version"`
	Rules   []string `json:"rules"`
	Case    string   `json:"case,omitempty"`
}

// clearedRide makes the check's view of an accepted record.
func (s *Service) clearedRide(f File, r Record, card Card) ClearedRide {
	at, _ := epurse.ParseDateTime(r.DateTime)
	cr := ClearedRide{Card: r.Card, ATC: int(r.ATC), City: f.City, Line: r.Line, Station: r.Station, At: at.UTC(), Amount: r.Amount,
		FileID: f.ID, AccountID: card.AccountID, PhoneID: card.PhoneID, Token: card.Token}
	if c, err := s.city(card.City); err == nil {
		cr.City = c.ID
		where := c.Name
		if l := c.LineByCode(r.Line); l != nil {
			where += " " + l.Name
		}
		if st := c.StationByCode(r.Station); st != nil {
			where += " " + st.Name
		}
		cr.Summary = fmt.Sprintf("%s transit card at %s, %s China time: %s", c.Name, where,
			at.In(epurse.China).Format(time.DateTime), money.Fen(r.Amount))
	}
	return cr
}

// checkRides runs the after-the-fact check of a file's accepted rides and
// flags the reviewed records (exceptions of kind ExRisk), once the file's
// clearing is committed. Failures are logged, never returned: the rides
// stand.
func (s *Service) checkRides(ctx context.Context, check RideChecker, rc Receipt, rides []ClearedRide) []RideFlag {
	if check == nil || len(rides) == 0 {
		return nil
	}
	flags, err := check.CheckRides(ctx, rides)
	if err != nil {
		s.Log.Warn("transit clearing: the risk check failed for some rides; they stand as cleared", "file", rc.FileID, "rides", len(rides),
			"err", fault.MessageOf(err))
	}
	if len(flags) == 0 {
		return nil
	}
	err = s.Store.InTx(ctx, func(tx Tx) error {
		now := tx.Now()
		for _, f := range flags {
			detail := fmt.Sprintf("risk v%d score %d: %s", f.Version, f.Score, strings.Join(f.Rules, ","))
			if f.Case != "" {
				detail += " (case opened for the card holder)"
			}
			if err := tx.AddException(Exception{ID: fmt.Sprintf("%s:%s:%d:%s", ExRisk, f.Card, f.ATC, rc.FileID), City: rc.City, Card: f.Card,
				ATC: f.ATC, Kind: ExRisk, Detail: detail, FileID: rc.FileID, At: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.Log.Error("transit clearing: cannot flag the records the risk check reviewed", "file", rc.FileID, "flags", len(flags),
			"err", fault.MessageOf(err))
	}
	s.Log.Info("transit clearing: risk review", "city", rc.City, "file", rc.FileID, "checked", len(rides), "flagged", len(flags))
	return flags
}
