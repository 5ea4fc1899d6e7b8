package netswitch

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/netmsg"
	"github.com/tapwallet/tapwallet/promo"
)

// OriginalData returns DE90 for a reversal of the authorization with the
// given STAN, transmission time and acquirer: original MTI 0100, STAN,
// DE7, the acquirer id zero-padded to 11 digits and 11 zeros (no forwarder).
func OriginalData(stan, transmission, acquirer string) string {
	if len(acquirer) > 11 {
		acquirer = acquirer[len(acquirer)-11:]
	}
	return "0100" + stan + transmission + strings.Repeat("0", 11-len(acquirer)) + acquirer + strings.Repeat("0", 11)
}

// reverse answers an 0400 from an acquirer. The original is found by its
// identity (DE41 and DE90's STAN and DE7) among the switch's records —
// waiting for it if it is still being decided — and the reversal goes to
// its issuer with the PAN from the record (the token service is not asked
// again); one whose original the switch never recorded still goes to the
// issuer (reverseUnknown). A reversal with DE95 is partial: the original stays captured for
// the amount DE95 leaves (the issuer reduces its hold, clearing presents
// that amount). The answer is 00 when the original was approved and is now
// reversed (or will be: the network keeps retrying an issuer that does not
// answer), was already reversed, or was declined; 13 for a DE95 above the
// original or below its refunds; 25 when neither the switch nor the
// issuer knows the original — remembered by both, so that it is declined
// should it still come; 30 for a reversal that breaks the spec.
func (s *Switch) reverse(ctx context.Context, r *netmsg.Reversal) *iso8583.Message {
	req := r.Raw
	ctx = context.WithoutCancel(ctx)
	origID := r.OriginalID()

	s.mu.Lock()
	var deciding <-chan struct{}
	if c := s.inflight[origID]; c != nil {
		deciding = c.waitFor()
	}
	s.mu.Unlock()
	if deciding != nil {
		<-deciding
	}

	rec, err := s.cfg.Store.Auth(ctx, origID)
	if fault.KindOf(err) == fault.NotFound || (err == nil && rec.Early()) {
		// Claim the original's identity in the store, so that the original
		// is declined at whichever switch it reaches — unless it was stored
		// meanwhile (auth_exists): then it is reversed like any other.
		err = s.cfg.Store.SaveEarlyReversal(ctx, Reversal{OriginalID: origID, RRN: r.RRN, At: s.cfg.Now().UTC()})
		if err == nil {
			return answer(req, s.reverseUnknown(ctx, r, origID))
		}
		if fault.Has(err, fault.Conflict, CodeAuthExists) {
			rec, err = s.cfg.Store.Auth(ctx, origID)
		}
	}
	if err == nil && rec.Deciding() {
		rec, err = s.decided(ctx, rec)
	}
	if err != nil {
		s.cfg.Log.Error("netswitch: cannot read or remember the original of a reversal", "err", fault.MessageOf(err))
		return answer(req, iso8583.SystemMalfunction)
	}
	if !rec.Approved() || rec.Reversed() || rec.SealedPAN == nil {
		return answer(req, iso8583.Approved)
	}
	remaining, rc := s.remainingOf(ctx, r, rec)
	if rc != iso8583.Approved {
		return answer(req, rc)
	}
	if remaining > 0 && remaining >= rec.ClearAmount {
		return answer(req, iso8583.Approved) // nothing more to reverse: a repeat
	}
	keep, promoAfter, voids, ok := promoReversal(rec, remaining)
	if !ok {
		s.cfg.Log.Warn("netswitch: a partial reversal to between the net and the discount of a discounted purchase; answering 13", "stan", safe(rec.STAN))
		return answer(req, iso8583.InvalidAmount)
	}
	fwd, err := s.issuerReversal(issuerView(rec), iso8583.ReversalRequest, keep)
	if err != nil {
		s.cfg.Log.Error("netswitch: cannot build the issuer's reversal", "err", fault.MessageOf(err))
		return answer(req, iso8583.SystemMalfunction)
	}
	rc = ""
	if l := s.links[rec.BankID]; l != nil {
		if resp, _, err := l.send(ctx, fwd); err == nil {
			rc, _ = resp.ResponseCode()
		}
	}
	switch rc {
	case iso8583.Approved, iso8583.UnableToLocateRecord:
	case "":
		// Store and forward: the network owns the reversal now and keeps
		// sending it until the issuer answers, restarts included.
		rc = "SF"
		if !s.queueReversal(ctx, rec, keep) {
			return answer(req, iso8583.SystemMalfunction) // the terminal sends it again
		}
	default:
		return answer(req, rc) // such as 12: the original was already cleared
	}
	if rec.Promo != nil && (voids || promoAfter != rec.Promo) {
		if voids {
			s.voidPromo(ctx, &rec)
		}
		if st, ok := s.cfg.Store.(PromoRecords); ok && remaining > 0 {
			if err := st.SetPromo(ctx, origID, promoAfter); err != nil {
				s.cfg.Log.Error("netswitch: cannot record a reversal's promotion", "err", fault.MessageOf(err))
				return answer(req, iso8583.SystemMalfunction)
			}
		}
	}
	if err := s.cfg.Store.MarkReversed(ctx, origID, s.cfg.Now().UTC(), string(rc), remaining); err != nil {
		s.cfg.Log.Error("netswitch: cannot record a reversal", "err", fault.MessageOf(err))
		return answer(req, iso8583.SystemMalfunction)
	}
	return answer(req, iso8583.Approved)
}

// decidedPoll is how often a reversal looks again at an original another
// switch is deciding.
const decidedPoll = 20 * time.Millisecond

// decided waits for the answer of an original another switch sharing the
// store is deciding — up to IssuerTimeout and a second — and returns the
// record then. An original still undecided after that is settled here as
// never answered (AbandonAuth: 96, reversed at the issuer through the
// queue), so that its switch cannot answer it approved any more.
func (s *Switch) decided(ctx context.Context, rec Auth) (Auth, error) {
	giveUp := time.NewTimer(s.cfg.IssuerTimeout + time.Second) // real time, whatever cfg.Now says
	defer giveUp.Stop()
	poll := time.NewTicker(decidedPoll)
	defer poll.Stop()
	for waiting := true; rec.Deciding() && waiting; {
		select {
		case <-poll.C:
		case <-giveUp.C:
			waiting = false
			continue
		case <-s.ctx.Done():
			return rec, fault.E(fault.Unavailable, "switch_closed", "the switch is closing")
		}
		var err error
		if rec, err = s.cfg.Store.Auth(ctx, rec.ID); err != nil {
			return rec, err
		}
	}
	if !rec.Deciding() {
		return rec, nil
	}
	err := s.cfg.Store.AbandonAuth(ctx, rec.ID, s.cfg.Now().UTC())
	if err != nil && !fault.Has(err, fault.Conflict, CodeAuthSettled) {
		return rec, err
	}
	if err == nil && rec.SealedPAN != nil {
		s.cfg.Log.Warn("netswitch: a reversal came for an authorization another switch left undecided; settled and reversing it", "stan", safe(rec.STAN))
		s.sendReversal(PendingReversal{Auth: issuerView(rec), QueuedAt: s.cfg.Now().UTC()}, true)
	}
	if err == nil {
		s.voidPromo(ctx, &rec)
	}
	return s.cfg.Store.Auth(ctx, rec.ID)
}

// reverseUnknown passes on to the issuer a reversal whose original the
// switch never recorded (its issuer may hold it all the same): the bank
// by the token's range, the PAN from the token service (as for a credit:
// a reversal gives money back). The issuer voids what it holds (00) or
// remembers the reversal so that a late original is declined (25); an
// issuer that does not answer gets it again until it does (00: store and
// forward). 25 when the token is not the network's or the token service
// does not know it; 96 when the reversal cannot be queued.
func (s *Switch) reverseUnknown(ctx context.Context, r *netmsg.Reversal, origID string) iso8583.ResponseCode {
	token := r.Token.Digits()
	b, ok := s.cfg.Banks.BankForTokenRange(token)
	if r.Token.IsZero() || !ok || s.links[b.ID] == nil {
		return iso8583.UnableToLocateRecord
	}
	res, err := s.cfg.Tokens.Credit(ctx, token)
	if err != nil {
		return iso8583.UnableToLocateRecord
	}
	rec := Auth{ID: origID, BankID: b.ID, Token: r.Token, Acquirer: r.Acquirer, Terminal: r.Terminal,
		STAN: r.Original.STAN, Transmission: r.Original.Transmission, RRN: r.RRN, Merchant: r.Merchant,
		LocalDate: r.LocalDate, LocalTime: r.LocalTime, Amount: r.Amount}
	sealed, err := s.cfg.Keys.Seal([]byte(res.PAN.Digits()), []byte("switch:"+origID))
	if err != nil {
		s.cfg.Log.Error("netswitch: cannot seal the PAN", "err", fault.MessageOf(err))
		return iso8583.SystemMalfunction
	}
	rec.SealedPAN = sealed
	fwd, err := s.issuerReversal(rec, iso8583.ReversalRequest, 0)
	if err != nil {
		s.cfg.Log.Error("netswitch: cannot build the issuer's reversal", "err", fault.MessageOf(err))
		return iso8583.SystemMalfunction
	}
	if resp, _, err := s.links[b.ID].send(ctx, fwd); err == nil {
		if rc, _ := resp.ResponseCode(); rc == iso8583.Approved {
			s.cfg.Log.Warn("netswitch: the issuer held an authorization the switch has no record of; reversed", "bank", b.ID, "stan", safe(r.Original.STAN))
			return iso8583.Approved
		}
		return iso8583.UnableToLocateRecord
	}
	if !s.queueReversal(ctx, rec, 0) {
		return iso8583.SystemMalfunction
	}
	return iso8583.Approved
}

// remainingOf reads DE95 of a reversal: the amount that stays authorised
// (0, and 00, for a full reversal). It answers 13 for a DE95 that is not a
// number or is more than the original, or less than the original's
// approved refunds (they would give back more than was bought), and 96
// when the refunds cannot be read.
func (s *Switch) remainingOf(ctx context.Context, r *netmsg.Reversal, rec Auth) (int64, iso8583.ResponseCode) {
	if !r.Partial {
		return 0, iso8583.Approved
	}
	n := r.Remaining
	if n < 0 || n > rec.Amount.Minor {
		return 0, iso8583.InvalidAmount
	}
	if n == 0 || n == rec.Amount.Minor {
		return n, iso8583.Approved
	}
	if store, ok := s.cfg.Store.(RefundStore); ok {
		refunded, err := store.Refunded(ctx, rec.ID)
		if err != nil {
			s.cfg.Log.Error("netswitch: cannot read refunds", "err", fault.MessageOf(err))
			return 0, iso8583.SystemMalfunction
		}
		if n < refunded {
			return 0, iso8583.InvalidAmount
		}
	}
	return n, iso8583.Approved
}

// promoReversal is a reversal of a discounted purchase rec down to
// remaining (gross terms, 0: full) in the issuer's terms
// (docs/promotions.md, "Reversal"): keep is what stays held at the issuer
// (DE95; 0: full), after the promotion that stands then (nil: none),
// and whether the promotion's hold is to be voided. A full reversal voids
// it. A partial one keeps the discount while remaining − discount is at
// least 1 fen (the issuer keeps that, the redemption's gross becomes
// remaining); below, the discount goes (the hold is voided) and the
// issuer keeps remaining — which it can only when remaining is at most
// what it holds: otherwise (remaining between the net and the discount)
// ok is false and the reversal is answered 13. A credit after clearing
// (the issuer holds the gross) keeps its promotion, its gross lowered
// (the credit is of the smaller purchase), and voids it on a full
// reversal.
func promoReversal(rec Auth, remaining int64) (keep int64, after *promo.Redemption, voids, ok bool) {
	r := rec.Promo
	if r == nil {
		return remaining, nil, false, true
	}
	if remaining == 0 {
		return 0, r, true, true
	}
	cut := *r
	cut.Shares = append([]promo.Share(nil), r.Shares...)
	if !instant(r) {
		if remaining <= r.Discount {
			return remaining, nil, true, true
		}
		cut.Gross, cut.Net = remaining, remaining
		return remaining, &cut, false, true
	}
	if remaining-r.Discount >= promo.MinCharge {
		cut.Gross, cut.Net = remaining, remaining-r.Discount
		return cut.Net, &cut, false, true
	}
	if remaining > r.Net {
		return 0, nil, false, false
	}
	return remaining, nil, true, true
}

// issuerReversal builds the 0400 (or 0401) the issuer gets for a record:
// the PAN, the original's amount, identity and RRN, DE90, a STAN of the
// switch's own, and the token in DE123. remaining > 0 makes it a partial
// reversal (DE95).
func (s *Switch) issuerReversal(rec Auth, mti iso8583.MTI, remaining int64) (*iso8583.Message, error) {
	panB, err := s.cfg.Keys.Open(rec.SealedPAN, []byte("switch:"+rec.ID))
	if err != nil {
		return nil, err
	}
	pan := string(panB)
	clear(panB)
	m := iso8583.New(mti)
	m.SetTransmissionTime(s.cfg.Now())
	set := func(de int, v string) {
		if err == nil && v != "" {
			err = m.SetString(de, v)
		}
	}
	set(iso8583.DEPAN, pan)
	set(iso8583.DEProcessingCode, "000000")
	if err == nil {
		err = m.SetSTAN(s.stan.Next())
	}
	set(iso8583.DELocalTime, rec.LocalTime)
	set(iso8583.DELocalDate, rec.LocalDate)
	set(iso8583.DEAcquirer, rec.Acquirer)
	set(iso8583.DERRN, rec.RRN)
	set(iso8583.DETerminal, rec.Terminal)
	set(iso8583.DEMerchant, rec.Merchant)
	set(iso8583.DEOriginal, OriginalData(rec.STAN, rec.Transmission, rec.Acquirer))
	if remaining > 0 {
		set(iso8583.DEReplacement, fmt.Sprintf("%012d%012dC00000000C00000000", remaining, remaining))
	}
	if err == nil {
		err = m.SetNumber(iso8583.DEAmount, rec.Amount.Minor)
	}
	if err == nil {
		err = m.SetNumber(iso8583.DECurrency, int64(rec.Amount.Currency))
	}
	if err == nil {
		err = m.SetTokenData(iso8583.TokenData{Token: rec.Token.Digits(), RequestorID: RequestorID})
	}
	return m, err
}

// queueReversal reverses at the issuer, in the background and until the
// issuer answers, what it may hold for rec (no answer in time, a lost
// link, a record that could not be stored, a reversal the issuer did not
// answer) down to remaining in the issuer's terms (what it holds: the net
// of an instant discount; 0: all): queued in the store first, so that a
// restart sends it again. It reports whether the queue is durable; when
// the store fails the reversal is still sent, from memory only.
func (s *Switch) queueReversal(ctx context.Context, rec Auth, remaining int64) bool {
	p := PendingReversal{Auth: issuerView(rec), Remaining: remaining, QueuedAt: s.cfg.Now().UTC()}
	err := s.cfg.Store.QueueReversal(ctx, p)
	if err != nil {
		s.cfg.Log.Error("netswitch: cannot queue a reversal; sending it from memory only", "bank", rec.BankID, "stan", safe(rec.STAN), "err", fault.MessageOf(err))
	}
	s.sendReversal(p, err == nil)
	return err == nil
}

// retryBackoff are the waits between tries of a reversal the issuer does
// not answer; after the last, the recovery sweep starts again from the
// queue.
var retryBackoff = []time.Duration{0, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
	30 * time.Second, time.Minute, 5 * time.Minute}

// sendReversal sends a reversal in the background: first 0400, then 0401
// repeats, until the issuer answers (then it leaves the queue, if queued)
// or the switch closes. One original is sent by one goroutine at a time.
func (s *Switch) sendReversal(p PendingReversal, queued bool) {
	rec := p.Auth
	l := s.links[rec.BankID]
	if l == nil {
		return
	}
	s.mu.Lock()
	if s.retrying[rec.ID] {
		s.mu.Unlock()
		return
	}
	s.retrying[rec.ID] = true
	s.mu.Unlock()
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.retrying, rec.ID)
			s.mu.Unlock()
		}()
		mti := iso8583.ReversalRequest
		for try, wait := range retryBackoff {
			select {
			case <-time.After(wait):
			case <-s.ctx.Done():
				s.cfg.Log.Warn("netswitch: stopped sending a reversal at shutdown; it stays queued", "bank", rec.BankID, "stan", safe(rec.STAN))
				return
			}
			m, err := s.issuerReversal(rec, mti, p.Remaining)
			if err != nil {
				s.cfg.Log.Error("netswitch: cannot build the issuer's reversal", "err", fault.MessageOf(err))
				return
			}
			resp, _, err := l.send(s.ctx, m)
			if err == nil {
				rc, _ := resp.ResponseCode()
				s.cfg.Log.Info("netswitch: issuer reversed", "bank", rec.BankID, "stan", safe(rec.STAN), "rc", safe(string(rc)), "tries", try+1)
				if queued {
					if err := s.cfg.Store.DoneReversal(s.ctx, rec.ID, p.Remaining); err != nil {
						s.cfg.Log.Error("netswitch: cannot take an answered reversal off the queue", "err", fault.MessageOf(err))
					}
				}
				return
			}
			mti = iso8583.ReversalRequestRepeat
		}
		s.cfg.Log.Error("netswitch: the issuer does not answer a reversal; it stays queued", "bank", rec.BankID, "stan", safe(rec.STAN))
	}()
}
