package risk

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// CaseState is where a "was this you?" alert stands.
type CaseState string

// The states of a case: open until the card holder (or an analyst)
// answers, then closed as fraud or not.
const (
	CaseOpen           CaseState = "open"
	CaseConfirmedFraud CaseState = "confirmed_fraud" // "no, that was not me"
	CaseNotFraud       CaseState = "not_fraud"       // "yes, that was me"
)

// The error codes of cases.
const (
	CodeNoCase     = "risk_no_case"     // fault.NotFound: no such case for this account
	CodeCaseClosed = "risk_case_closed" // fault.Conflict: the case was answered already
	CodeCaseState  = "risk_case_state"  // fault.Invalid: not a state a case can be closed in
)

// Case is a "was this you?" alert: a review or a risk decline shown to the
// card holder, with every change of its state.
type Case struct {
	ID      string `json:"id"` // the decision's point and id ("authorization:T1|000001|0314100000")
	Account string `json:"account"`
	Phone   string `json:"phone"`
	Token   string `json:"token"` // the token's reference (TokenRef)
	// Summary is what the card holder is shown: the amount, the merchant
	// and its city (never a card number); set by the party that opens it.
	Summary  string    `json:"summary,omitempty"`
	Decision Decision  `json:"decision"`
	State    CaseState `json:"state"`
	OpenedAt time.Time `json:"opened_at"`
	ClosedAt time.Time `json:"closed_at,omitempty"`
	History  []Change  `json:"history"`
}

// Change is one change of a case's state: who, when, from what to what.
type Change struct {
	At   time.Time `json:"at"`
	By   string    `json:"by"` // "risk", "account:ID", "analyst:NAME"
	From CaseState `json:"from,omitempty"`
	To   CaseState `json:"to"`
	Note string    `json:"note,omitempty"`
}

// Cases keeps the cases. A case belongs to one account: every read and
// change names the account, and another account's case is not found.
type Cases interface {
	// OpenCase stores a new open case with its first change; opening the
	// same id again changes nothing.
	OpenCase(ctx context.Context, c Case) error
	// CaseOf returns the account's case, or fault.NotFound CodeNoCase.
	CaseOf(ctx context.Context, account, id string) (Case, error)
	// CasesOf lists the account's cases in a state ("" every state),
	// newest first.
	CasesOf(ctx context.Context, account string, state CaseState) ([]Case, error)
	// CloseCase moves the account's open case to a closed state with a
	// change recorded, atomically: fault.NotFound CodeNoCase for no such
	// case of the account, fault.Conflict CodeCaseClosed when it is no
	// longer open (of two answers at once, one wins).
	CloseCase(ctx context.Context, account, id string, ch Change) (Case, error)
}

// CaseFor returns the case a decision opens, and false when it opens none:
// only a review or a decline by the rules does (a phone switched off has
// its own flow).
func CaseFor(d Decision, a Auth) (Case, bool) {
	if d.Outcome == Approve || d.Block != "" || a.Account == "" {
		return Case{}, false
	}
	return Case{ID: string(d.Point) + ":" + d.ID, Account: a.Account, Phone: a.Phone, Token: a.Token, Decision: d,
		State: CaseOpen, OpenedAt: d.At, History: []Change{{At: d.At, By: "risk", To: CaseOpen, Note: d.String()}}}, true
}

// Answer is the card holder's answer to a case: yes ("that was me")
// closes it as not fraud and snoozes, for snoozeFor, each enforced hit
// that has a snooze pattern, so the same rule does not fire again for
// that pattern; no closes it as confirmed fraud (the caller then
// suspends the case's token and offers to switch the wallet off). It
// fails like Cases.CloseCase and State.Snooze.
func Answer(ctx context.Context, cases Cases, st State, account, id string, yes bool, at time.Time, snoozeFor time.Duration) (Case, error) {
	to, note := CaseConfirmedFraud, "not me"
	if yes {
		to, note = CaseNotFraud, "that was me"
	}
	c, err := cases.CloseCase(ctx, account, id, Change{At: at, By: "account:" + account, To: to, Note: note})
	if err != nil || !yes {
		return c, err
	}
	for _, h := range c.Decision.Hits {
		if h.Pattern != "" && !h.Shadow && !h.Snoozed {
			if err := st.Snooze(ctx, h.Rule, h.Pattern, at.Add(snoozeFor)); err != nil {
				return c, err
			}
		}
	}
	return c, nil
}

// CheckClose refuses (fault.Invalid CodeCaseState) a change that does
// not close a case.
func CheckClose(ch Change) error {
	if ch.To != CaseConfirmedFraud && ch.To != CaseNotFraud {
		return fault.E(fault.Invalid, CodeCaseState, "a case closes as confirmed_fraud or not_fraud, not %q", ch.To)
	}
	return nil
}

// NoCase is the error of a case not found for an account.
func NoCase() error { return fault.E(fault.NotFound, CodeNoCase, "no such case") }

// CaseClosed is the error of an answer to a case no longer open.
func CaseClosed(s CaseState) error {
	return fault.E(fault.Conflict, CodeCaseClosed, "the case was answered already (%s)", s)
}

// MemoryCases is the in-process Cases.
type MemoryCases struct {
	mu    sync.Mutex
	cases map[string]*Case
}

// NewMemoryCases returns an empty in-process Cases.
func NewMemoryCases() *MemoryCases { return &MemoryCases{cases: map[string]*Case{}} }

var _ Cases = (*MemoryCases)(nil)

// OpenCase stores a case; see Cases.
func (m *MemoryCases) OpenCase(_ context.Context, c Case) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.cases[c.ID]; !ok {
		c.History = append([]Change(nil), c.History...)
		m.cases[c.ID] = &c
	}
	return nil
}

// CaseOf returns a case; see Cases.
func (m *MemoryCases) CaseOf(_ context.Context, account, id string) (Case, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.cases[id]
	if !ok || c.Account != account {
		return Case{}, NoCase()
	}
	return copyCase(c), nil
}

func copyCase(c *Case) Case {
	out := *c
	out.History = append([]Change(nil), c.History...)
	return out
}

// CasesOf lists cases; see Cases.
func (m *MemoryCases) CasesOf(_ context.Context, account string, state CaseState) ([]Case, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []Case{}
	for _, c := range m.cases {
		if c.Account == account && (state == "" || c.State == state) {
			out = append(out, copyCase(c))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].OpenedAt.Equal(out[j].OpenedAt) {
			return out[i].OpenedAt.After(out[j].OpenedAt)
		}
		return out[i].ID > out[j].ID
	})
	return out, nil
}

// CloseCase closes a case; see Cases.
func (m *MemoryCases) CloseCase(_ context.Context, account, id string, ch Change) (Case, error) {
	if err := CheckClose(ch); err != nil {
		return Case{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.cases[id]
	if !ok || c.Account != account {
		return Case{}, NoCase()
	}
	if c.State != CaseOpen {
		return Case{}, CaseClosed(c.State)
	}
	ch.From = c.State
	c.State, c.ClosedAt = ch.To, ch.At
	c.History = append(c.History, ch)
	return copyCase(c), nil
}
