// Package acquirer is the acquiring side of the card network: the store
// terminal's host and the transit operators' (an acquirer with MCC 4111).
// It puts the merchant's profile and the terminal's own numbers on an
// authorization (0100) the contactless kernel made from the card's chip
// data, sends it to the network over ISO 8583, reverses it (0400, then
// 0401 repeats) when no usable answer comes — the reversal owed is kept
// in the store before it is sent, so it survives a restart and is sent
// again until the network answers — remembers the charges the network
// approved and gives money back as refunds (0200, processing code
// 200000) naming them; for a store terminal it also voids a charge on
// request (0400), completes a pre-authorization (DE3 030000) for its
// final amount and keeps the terminal's batches with their totals
// (terminal.go). It knows the network only by its ISO 8583 port
// (a Link); the terminals' counters and the charges are its own data
// (Store; acquirer/sqlstore on a database, FileCounters for a store
// terminal's state folder).
package acquirer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
)

// Error codes of the acquirer (fault codes; compare with errors.Is against
// the exported errors or with fault.CodeOf).
const (
	// CodeNoAnswer: the network gave no usable answer to an
	// authorization; it was reversed (or the reversal is owed).
	CodeNoAnswer = "no_answer"
	// CodeNetworkDown: the network could not be reached; nothing was sent.
	CodeNetworkDown = "network_down"
	// CodeRefundUnanswered: the network gave no final answer to a refund
	// (try again: the same messages are sent).
	CodeRefundUnanswered = "refund_unanswered"
	// CodeRefundDeclined: the network declined a refund.
	CodeRefundDeclined = "refund_declined"
	// CodeBadCharge: an approved authorization lacks an element a refund
	// names.
	CodeBadCharge = "bad_charge"
	// CodeChargeNotFound: no charge with this reference.
	CodeChargeNotFound = "charge_not_found"
	// CodeBadMerchant: a merchant profile element does not fit its field.
	CodeBadMerchant = "bad_merchant"
)

// Errors to compare with errors.Is.
var (
	ErrNoAnswer    = fault.E(fault.Unavailable, CodeNoAnswer, "no usable answer from the card network")
	ErrNetworkDown = fault.E(fault.Unavailable, CodeNetworkDown, "the card network cannot be reached")
)

// Merchant is the profile an acquirer puts on each authorization of a
// terminal: who acquires (DE32), which terminal (DE41) of which merchant
// (DE42, DE43) in which category (DE18).
type Merchant struct {
	Acquirer string // DE32, the acquiring institution id, up to 11 digits
	Terminal string // DE41, up to 8 characters
	ID       string // DE42, up to 15 characters
	Name     string // DE43 name, up to 25 characters
	City     string // DE43 city, up to 13 characters
	Country  string // DE43 country, 2 letters
	MCC      string // DE18, 4 digits (4111 transit, 5411 grocery)
}

// DE43 returns the merchant's name and location as DE43 carries them:
// name (25), city (13) and country (2), space padded and cut to fit.
func (m Merchant) DE43() string {
	return fit(m.Name, 25) + fit(m.City, 13) + fit(m.Country, 2)
}

func fit(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s + strings.Repeat(" ", n-len(s))
}

// Stamp puts the merchant's profile and the terminal's numbers on an
// authorization a kernel made (the store terminal's, or the phone's in-app
// kernel for a transit top-up): DE18, DE32, DE41, DE42, DE43, DE11 stan,
// DE37 rrn and DE7 now. The chip data, token and amount are left as the
// kernel made them. It fails with fault.Invalid CodeBadMerchant for an
// element that does not fit.
func (m Merchant) Stamp(req *iso8583.Message, stan iso8583.STAN, rrn string, now time.Time) error {
	for _, f := range []struct {
		de int
		v  string
	}{
		{iso8583.DEMCC, m.MCC},
		{iso8583.DEAcquirer, m.Acquirer},
		{iso8583.DETerminal, fit(m.Terminal, 8)},
		{iso8583.DEMerchant, fit(m.ID, 15)},
		{iso8583.DEMerchantName, m.DE43()},
		{iso8583.DERRN, rrn},
	} {
		if err := req.SetString(f.de, f.v); err != nil {
			return fault.Wrap(err, fault.Invalid, CodeBadMerchant, "DE%d does not fit", f.de)
		}
	}
	if err := req.SetSTAN(stan); err != nil {
		return fault.Wrap(err, fault.Invalid, CodeBadMerchant, "DE11 does not fit")
	}
	req.SetTransmissionTime(now)
	return nil
}

// RRN is a retrieval reference number (DE37) of a transaction at local
// time t with STAN stan: the last digit of the year, the day of the year,
// the hour and the STAN (12 digits). As a terminal's STAN never restarts,
// an RRN repeats only after a million messages of the terminal within one
// hour, or the same hour of a day ten years on.
func RRN(t time.Time, stan iso8583.STAN) string {
	return fmt.Sprintf("%d%03d%02d%s", t.Year()%10, t.YearDay(), t.Hour(), stan)
}

// Counters hands out one terminal's STANs (DE11) and, for a new
// transaction, its RRN (DE37), never the same number twice, across runs
// and processes. Next fails when the number cannot be taken durably: the
// terminal must not send a number it may send again.
type Counters interface {
	Next(ctx context.Context, t time.Time, withRRN bool) (iso8583.STAN, string, error)
}

// Link is the network's acquirer port: Send sends a request and returns
// its answer, with isolink.Client's errors (ErrTimeout, ErrConnLost, a
// format error for an answer that cannot be read, ErrNetworkDown when the
// network cannot be reached and nothing was sent).
type Link interface {
	Send(ctx context.Context, req *iso8583.Message) (*iso8583.Message, error)
}

// Reversal is a reversal the acquirer owes the network: the 0400 of an
// authorization that got no usable answer, kept until the network answers
// it so that a restart does not forget it.
type Reversal struct {
	ID       string // the original's identity: DE41|DE11|DE7
	Message  []byte // the packed 0400, sent as 0401 on repeats
	Tries    int    // sends so far
	OwedAt   time.Time
	Answered string // the network's response code; "" while owed
}

// Store is the acquirer's own data: reversals owed, charges approved,
// refunds planned and answered, the terminals' counters.
type Store interface {
	// OweReversal records a reversal owed (durably, before it is sent);
	// recording one already owed changes nothing.
	OweReversal(ctx context.Context, r Reversal) error
	// OwedReversals returns the reversals not answered yet, oldest first,
	// at most limit.
	OwedReversals(ctx context.Context, limit int) ([]Reversal, error)
	// ReversalTried counts a send of a reversal owed.
	ReversalTried(ctx context.Context, id string) error
	// ReversalAnswered records the network's answer to a reversal owed.
	ReversalAnswered(ctx context.Context, id, rc string, at time.Time) error
	// SaveCharge remembers an approved charge; saving a reference again
	// changes nothing.
	SaveCharge(ctx context.Context, c Charge) error
	// Charge returns a charge by reference, or fault.NotFound
	// CodeChargeNotFound.
	Charge(ctx context.Context, ref string) (Charge, error)
	// PlanRefund returns the parts of the refund ref: those planned
	// before, or — the first time — new ones, in one transaction: amount
	// spread over the charges named, in order, each part at most what its
	// charge has left (its amount less the parts of other refunds not
	// declined), each with a new STAN of its charge's terminal and the
	// transmission time now. The parts may come to less than amount.
	PlanRefund(ctx context.Context, ref string, charges []string, amount int64, now time.Time) ([]RefundPart, error)
	// AnswerRefund records the network's answer to one part of a refund.
	AnswerRefund(ctx context.Context, ref string, part int, rc, authCode string) error
	// Counters returns the counters of a terminal kept in the store.
	Counters(terminal string) Counters

	// TerminalStore: the store terminal's day (terminal.go).
	TerminalStore
}

// Acquirer sends a terminal's authorizations and refunds to the network.
type Acquirer struct {
	Link  Link
	Store Store
	// Timeout is how long to wait for the answer to an authorization
	// before reversing it (default 10 s).
	Timeout time.Duration
	// ReversalTimeout bounds the wait for the answer to a reversal
	// (default: Timeout, at least 5 s).
	ReversalTimeout time.Duration
	// ReversalTries is how often a reversal is sent in one go before it
	// is left owed for the next (default 3).
	ReversalTries int
	// RetryWait is the pause between tries (default 1 s).
	RetryWait time.Duration
	Now       func() time.Time
	Log       *slog.Logger

	mu        sync.Mutex // one flush of the owed reversals at a time
	owed      atomic.Int32
	lastFlush atomic.Int64 // unix nanoseconds of the last flush before an authorization
}

// flushEvery is how often an authorization first sends the reversals
// owed: at most once in this time, so a network that does not answer
// them does not slow every payment.
const flushEvery = 30 * time.Second

// New returns an acquirer on link and store; it marks the reversals a
// previous run left owed, so the first authorization sends them first.
func New(ctx context.Context, link Link, store Store, log *slog.Logger) (*Acquirer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Acquirer{Link: link, Store: store, Log: log}
	owed, err := store.OwedReversals(ctx, 1)
	if err != nil {
		return nil, err
	}
	if len(owed) > 0 {
		a.owed.Store(1)
	}
	return a, nil
}

func (a *Acquirer) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Acquirer) timeout() time.Duration {
	if a.Timeout > 0 {
		return a.Timeout
	}
	return 10 * time.Second
}

// Result is what came of an authorization.
type Result struct {
	Answer   *iso8583.Message // the network's answer; nil when none was usable
	Code     iso8583.ResponseCode
	AuthCode string // DE38 of an approved answer
	Took     time.Duration
	// Unanswered says why no usable answer came (timeout, link lost,
	// unreadable answer); nil when one came.
	Unanswered error
	// Reversal is the reversal of an unanswered authorization: its
	// answer (ReversalCode), or why it stays owed (ReversalErr).
	ReversalCode iso8583.ResponseCode
	ReversalErr  error
	// Promotion is the promotion the network applied to an approved
	// purchase (DE124 of the answer: campaign, gross, discount, display
	// name), nil when none; PromotionErr says why a DE124 could not be
	// read (the purchase stands: the merchant is settled the gross).
	Promotion    *iso8583.PromotionData
	PromotionErr error
}

// Approved reports an approved answer.
func (r *Result) Approved() bool { return r.Answer != nil && r.Code.Approved() }

// Authorize sends an authorization (stamped already: see Merchant.Stamp)
// and returns the network's answer. When no usable answer comes within
// Timeout, the link drops, or the answer cannot be read, it reverses the
// authorization: the 0400 (DE90 naming the original, its own STAN from
// counters, DE7 now) is recorded owed in the store and sent, repeated as
// 0401, until answered or ReversalTries run out (then it stays owed and
// is sent by FlushReversals, or before the next authorization, also
// after a restart); the Result says which, with the error ErrNoAnswer. It
// fails with ErrNetworkDown (nothing sent) when the network cannot be
// reached, and with the store's error when the reversal cannot be
// recorded. Reversals owed from before are sent first.
func (a *Acquirer) Authorize(ctx context.Context, req *iso8583.Message, counters Counters) (*Result, error) {
	if now := time.Now().UnixNano(); a.owed.Load() != 0 && now-a.lastFlush.Load() > int64(flushEvery) {
		a.lastFlush.Store(now)
		if _, err := a.FlushReversals(ctx); err != nil {
			a.Log.Warn("acquirer: reversals owed still unanswered", "err", fault.MessageOf(err))
		}
	}
	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, a.timeout())
	resp, err := a.Link.Send(sctx, req)
	cancel()
	res := &Result{Took: time.Since(start)}
	switch {
	case err == nil:
		res.Answer = resp
		res.Code, _ = resp.ResponseCode()
		if res.Code.Approved() {
			res.AuthCode, _ = resp.String(iso8583.DEAuthID)
			if res.Promotion, res.PromotionErr = promotionOf(resp); res.PromotionErr != nil {
				a.Log.Warn("acquirer: the answer's promotion data cannot be read", "err", fault.MessageOf(res.PromotionErr))
			}
		}
		return res, nil
	case errors.Is(err, isolink.ErrTimeout), errors.Is(err, isolink.ErrConnLost), errors.Is(err, iso8583.ErrFormat):
		res.Unanswered = err
	default:
		return res, err
	}
	rev, err := a.reversalOf(ctx, req, counters)
	if err != nil {
		return res, err
	}
	res.ReversalCode, res.ReversalErr = a.sendReversal(ctx, rev)
	return res, fault.Wrap(res.Unanswered, fault.Unavailable, CodeNoAnswer, "no usable answer from the card network: the authorization was reversed")
}

// reversalOf builds and records the reversal owed for orig.
func (a *Acquirer) reversalOf(ctx context.Context, orig *iso8583.Message, counters Counters) (Reversal, error) {
	now := a.now()
	stan, _, err := counters.Next(ctx, now, false)
	if err != nil {
		return Reversal{}, err
	}
	m, err := ReversalRequest(orig, stan, now)
	if err != nil {
		return Reversal{}, err
	}
	b, err := m.Pack()
	if err != nil {
		return Reversal{}, err
	}
	r := Reversal{ID: identity(orig), Message: b, OwedAt: now}
	if err := a.Store.OweReversal(ctx, r); err != nil {
		return Reversal{}, err
	}
	a.owed.Store(1)
	return r, nil
}

// identity is an authorization's identity at the network: DE41, DE11 and
// DE7.
func identity(m *iso8583.Message) string {
	t, _ := m.String(iso8583.DETerminal)
	s, _ := m.String(iso8583.DESTAN)
	d, _ := m.String(iso8583.DETransmission)
	return t + "|" + s + "|" + d
}

// sendReversal sends a reversal owed until it is answered or the tries
// run out, recording each try and the answer.
func (a *Acquirer) sendReversal(ctx context.Context, r Reversal) (iso8583.ResponseCode, error) {
	m, err := iso8583.Unpack(r.Message)
	if err != nil {
		return "", err
	}
	tries := a.ReversalTries
	if tries <= 0 {
		tries = 3
	}
	timeout := a.ReversalTimeout
	if timeout <= 0 {
		timeout = max(a.timeout(), 5*time.Second) // the network answers a reversal even when it was slow before
	}
	wait := a.RetryWait
	if wait <= 0 {
		wait = time.Second
	}
	var last error
	for try := 0; try < tries; try++ {
		if r.Tries+try > 0 {
			m.MTI = iso8583.ReversalRequestRepeat
		}
		if err := a.Store.ReversalTried(ctx, r.ID); err != nil {
			return "", err
		}
		sctx, cancel := context.WithTimeout(ctx, timeout)
		resp, err := a.Link.Send(sctx, m)
		cancel()
		if err == nil {
			rc, _ := resp.ResponseCode()
			return rc, a.Store.ReversalAnswered(ctx, r.ID, string(rc), a.now())
		}
		last = err
		if ctx.Err() != nil {
			break
		}
		if try+1 < tries {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
	}
	return "", last
}

// FlushReversals sends the reversals owed (from this run or an earlier
// one), oldest first, and returns how many the network answered; those
// it does not answer stay owed. It fails with the first error of a
// reversal left owed, or the store's.
func (a *Acquirer) FlushReversals(ctx context.Context) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	owed, err := a.Store.OwedReversals(ctx, 1000)
	if err != nil {
		return 0, err
	}
	n := 0
	var first error
	for _, r := range owed {
		if _, err := a.sendReversal(ctx, r); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		n++
	}
	if first == nil && len(owed) < 1000 {
		a.owed.Store(0)
	}
	return n, first
}

// ReversalRequest builds the 0400 of an authorization orig: the
// original's elements, its own STAN and DE7 (now), and DE90 naming the
// original (docs/iso8583.md). It fails with the codec's fault.Invalid
// error for an element that does not fit.
func ReversalRequest(orig *iso8583.Message, stan iso8583.STAN, now time.Time) (*iso8583.Message, error) {
	m := iso8583.New(iso8583.ReversalRequest)
	m.Copy(orig, iso8583.DEPAN, iso8583.DEProcessingCode, iso8583.DEAmount, iso8583.DELocalTime, iso8583.DELocalDate,
		iso8583.DEMCC, iso8583.DEPOSEntryMode, iso8583.DEPOSCondition, iso8583.DEAcquirer, iso8583.DERRN, iso8583.DETerminal,
		iso8583.DEMerchant, iso8583.DECurrency)
	m.SetTransmissionTime(now)
	if err := m.SetSTAN(stan); err != nil {
		return nil, err
	}
	origSTAN, _ := orig.String(iso8583.DESTAN)
	de7, _ := orig.String(iso8583.DETransmission)
	acq, _ := orig.String(iso8583.DEAcquirer)
	if err := m.SetString(iso8583.DEOriginal, OriginalData(origSTAN, de7, acq)); err != nil {
		return nil, err
	}
	return m, nil
}

// OriginalData is DE90 naming an original authorization: its MTI (0100),
// STAN, DE7, and acquirer (11 digits, zero padded), then 11 zeros.
func OriginalData(stan, transmission, acquirer string) string {
	if len(acquirer) > 11 {
		acquirer = acquirer[len(acquirer)-11:]
	}
	return "0100" + stan + transmission + strings.Repeat("0", 11-len(acquirer)) + acquirer + strings.Repeat("0", 11)
}

// Charge authorizes req (see Authorize) and, when the network approves
// it, remembers it as the charge ref (Store.SaveCharge), which a refund
// names later. A charge the store cannot remember is still approved (the
// money is taken at the bank): it is logged, and its refund falls to the
// caller's own books.
func (a *Acquirer) Charge(ctx context.Context, ref string, req *iso8583.Message, counters Counters) (*Result, error) {
	res, err := a.Authorize(ctx, req, counters)
	if err != nil || !res.Approved() {
		return res, err
	}
	c, err := ChargeOf(ref, req, a.now())
	if err != nil {
		a.Log.Error("acquirer: an approved charge cannot be refunded over the network", "err", fault.MessageOf(err))
		return res, nil
	}
	c.AuthCode = res.AuthCode
	if err := a.Store.SaveCharge(ctx, c); err != nil {
		a.Log.Error("acquirer: cannot remember an approved charge", "err", fault.MessageOf(err))
	}
	return res, nil
}
