package netswitch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netmsg"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/tsp"
)

// KindRefund is the kind of the switch's refund records, beside its
// authorization records (Auth).
const KindRefund = "refund"

// Refund is the switch's record of one refund (0200, processing code
// 200000): a merchant giving (part of) an approved purchase back to the
// card it was paid with. Like Auth it holds the token and the PAN's last
// four digits, never the PAN.
type Refund struct {
	ID           string // message identity of the refund: DE41|DE11|DE7
	Digest       string // hash of what the refund asks, to tell a duplicate from a clash
	OriginalID   string // identity of the original authorization (DE41 and DE90's STAN and DE7)
	Acquirer     string // DE32
	Terminal     string // DE41
	STAN         string // DE11
	Transmission string // DE7
	RRN          string // DE37, the original's
	Merchant     string // DE42
	MerchantName string // DE43 name part, trimmed
	LocalDate    string // DE13
	LocalTime    string // DE12
	Token        card.Token
	TokenLast4   string
	PANLast4     string
	PhoneID      string
	AccountID    string
	BankID       string
	Amount       money.Amount // given back (DE4, DE49): the gross, what the merchant gives back
	// Promo is the refund's split when the original had a promotion: the
	// card holder got Promo.Split.CardHolder (the issuer's DE4), each
	// funder its share; nil otherwise.
	Promo        *PromoRefund
	AuthCode     string
	ResponseCode iso8583.ResponseCode
	Reason       Reason // why it was declined
	Answer       []byte // the packed answer sent to the acquirer
	BusinessDate string // YYYYMMDD, the UTC date the switch received it
	ReceivedAt   time.Time
	AnsweredAt   time.Time
	ClearedAt    time.Time // zero until cleared
	ClearingDate string
}

// Kind returns KindRefund; it never fails.
func (Refund) Kind() string { return KindRefund }

// Approved reports whether the refund was approved (the issuer credited
// the card); it never fails.
func (r Refund) Approved() bool { return r.ResponseCode == iso8583.Approved }

// The error codes of a RefundStore (fault codes, checked with fault.Has).
const (
	// CodeRefundExists is the fault.Conflict code of SaveRefund for an
	// identity stored already, and of ClaimRefund for an identity that
	// claimed another original or amount.
	CodeRefundExists = "refund_exists"
	// CodeRefundExceeds is the fault.Conflict code of ClaimRefund for a
	// refund that does not fit what is left of its original.
	CodeRefundExceeds = "refund_exceeds_original"
)

// RefundStore keeps the switch's refund records. A Store that is also a
// RefundStore lets the switch take refunds; with any other Store they are
// answered 40.
type RefundStore interface {
	// ClaimRefund claims amount of what is left of an approved original
	// for the refund refundID, before the issuer is asked: in one
	// transaction, the original's refunded total is raised by amount only
	// if it stays within what the original clears (ClearAmount), so that
	// switches sharing the store never let refunds of one original
	// together exceed it. A refund claims once: claiming again under the
	// same identity, original and amount changes nothing and succeeds. It
	// fails with fault.Conflict CodeRefundExceeds when the refund does not
	// fit, fault.Conflict CodeRefundExists when the identity claimed
	// another original or amount, and fault.NotFound for an original that
	// is not an approved authorization.
	ClaimRefund(ctx context.Context, refundID, originalID string, amount int64) error
	// SaveRefund stores a new refund record; it fails with fault.Conflict
	// "refund_exists" when the identity is already stored. A record that
	// is not approved gives its claim (ClaimRefund) back in the same
	// transaction; an approved one keeps it.
	SaveRefund(ctx context.Context, r Refund) error
	// Refund returns a record by identity, or a fault.NotFound error.
	Refund(ctx context.Context, id string) (Refund, error)
	// Refunded returns the sum of the approved refunds of an original
	// authorization (0 when none).
	Refunded(ctx context.Context, originalID string) (int64, error)
	// DayRefunds returns the refunds of a business date (YYYYMMDD), oldest
	// first.
	DayRefunds(ctx context.Context, businessDate string) ([]Refund, error)
	// MarkRefundsCleared records that refunds were cleared on a date; those
	// already cleared keep their first clearing.
	MarkRefundsCleared(ctx context.Context, ids []string, clearingDate string, at time.Time) error
}

// refundDigest hashes what a refund asks for, its original included.
func refundDigest(req *iso8583.Message) string {
	h := sha256.New()
	h.Write([]byte(digestOf(req)))
	v, _ := req.Bytes(iso8583.DEOriginal)
	h.Write(v)
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// refund answers an 0200 refund from an acquirer (docs/iso8583.md,
// "Refunds"). A refund sent again (same DE41, DE11, DE7) gets the first
// answer byte for byte, or 94 if it asks for something else; the checks,
// in order: processing code 200000 (else 12), an amount above zero (13),
// the token in a bank's range (14), the original found by DE41 and DE90's
// STAN and DE7 among the approved authorizations, for the same token and
// RRN (25), in its currency and within what it cleared less what was
// refunded before (13), the token service's check (14 for an unknown or
// deleted token; a suspended one is credited), then the issuer's answer.
// An issuer that does not answer in time makes a 91 that is not recorded:
// the switch keeps asking the issuer and records its answer, and a repeat
// of the refund is decided again (the issuer credits once per identity).
func (s *Switch) refund(ctx context.Context, f *netmsg.Refund) *iso8583.Message {
	req := f.Raw
	store, ok := s.cfg.Store.(RefundStore)
	if !ok {
		return answer(req, iso8583.FunctionNotSupported)
	}
	ctx = context.WithoutCancel(ctx)
	id, origID := f.ID(), f.OriginalID()
	digest := refundDigest(req)

	if first, err := store.Refund(ctx, id); err == nil {
		return s.duplicate(req, first.Digest, digest, first.Answer)
	} else if fault.KindOf(err) != fault.NotFound {
		s.cfg.Log.Error("netswitch: cannot read refunds", "err", fault.MessageOf(err))
		return answer(req, iso8583.SystemMalfunction)
	}

	now := s.cfg.Now().UTC()
	rec := Refund{ID: id, Digest: digest, OriginalID: origID, Acquirer: f.Acquirer, Terminal: f.Terminal, STAN: f.STANText(),
		Transmission: f.Transmission, RRN: f.RRN, Merchant: f.Merchant, MerchantName: merchantName(f.MerchantName),
		LocalDate: f.LocalDate, LocalTime: f.LocalTime, Token: f.Token, TokenLast4: f.Token.Last4(),
		Amount: f.Amount, BusinessDate: businessDate(now), ReceivedAt: now}
	out, fwd := s.runRefund(ctx, f, store, &rec)
	if out.reason == ReasonDuplicate {
		// Another refund under this identity holds its claim: it is not
		// recorded (its record would give that claim back).
		return answer(req, out.rc)
	}
	if out.rc == iso8583.IssuerInoperative && fwd != nil {
		s.retryRefund(req, fwd, rec)
		return answer(req, out.rc)
	}
	return s.recordRefund(ctx, store, req, rec, out)
}

// recordRefund stores a decided refund and returns its answer; a refund
// stored meanwhile under the same identity answers as that one.
func (s *Switch) recordRefund(ctx context.Context, store RefundStore, req *iso8583.Message, rec Refund, out outcome) *iso8583.Message {
	resp := answer(req, out.rc)
	if resp == nil {
		return nil
	}
	if out.rc.Approved() && out.authCode != "" {
		if err := resp.SetString(iso8583.DEAuthID, out.authCode); err != nil {
			out.authCode = ""
		}
	}
	packed, err := resp.PackOnce() // stored and sent: encoded once
	if err != nil {
		s.cfg.Log.Error("netswitch: refund answer does not pack", "err", fault.MessageOf(err))
		return answer(req, iso8583.SystemMalfunction)
	}
	rec.ResponseCode, rec.Reason, rec.AuthCode = out.rc, out.reason, out.authCode
	rec.Answer, rec.AnsweredAt = packed, s.cfg.Now().UTC()
	if out.rc.Approved() {
		s.restorePromo(ctx, &rec)
	}
	if err := store.SaveRefund(ctx, rec); err != nil {
		if fault.Has(err, fault.Conflict, CodeRefundExists) {
			if first, err := store.Refund(ctx, rec.ID); err == nil {
				return s.duplicate(req, first.Digest, rec.Digest, first.Answer)
			}
		}
		// The issuer's answer stands (it credits once per identity): a
		// repeat of the refund is decided again and gets it.
		s.cfg.Log.Error("netswitch: cannot store a refund; answering 96", "err", fault.MessageOf(err))
		return answer(req, iso8583.SystemMalfunction)
	}
	return resp
}

// runRefund decides a refund up to the issuer's answer and returns it with
// the message sent to the issuer (nil when the switch answered itself).
func (s *Switch) runRefund(ctx context.Context, f *netmsg.Refund, store RefundStore, rec *Refund) (outcome, *iso8583.Message) {
	if f.ProcessingCode != RefundProcessingCode {
		return outcome{rc: iso8583.InvalidTransaction, reason: ReasonProcessingCode}, nil
	}
	amt := f.Amount
	if amt.Minor <= 0 {
		return outcome{rc: iso8583.InvalidAmount, reason: ReasonAmount}, nil
	}
	b, ok := s.cfg.Banks.BankForTokenRange(rec.Token.Digits())
	if f.Token.IsZero() || !ok {
		return outcome{rc: iso8583.InvalidCardNumber, reason: ReasonTokenRange}, nil
	}
	rec.BankID = b.ID
	orig, err := s.cfg.Store.Auth(ctx, rec.OriginalID)
	if fault.KindOf(err) == fault.NotFound {
		return outcome{rc: iso8583.UnableToLocateRecord, reason: ReasonOriginalUnknown}, nil
	}
	if err != nil {
		s.cfg.Log.Error("netswitch: cannot read the refund's original", "err", fault.MessageOf(err))
		return outcome{rc: iso8583.SystemMalfunction, reason: ReasonStore}, nil
	}
	if !orig.Approved() || orig.Token != rec.Token || trimRRN(orig.RRN) != trimRRN(rec.RRN) {
		return outcome{rc: iso8583.UnableToLocateRecord, reason: ReasonOriginalMismatch}, nil
	}
	if orig.Amount.Currency != rec.Amount.Currency {
		return outcome{rc: iso8583.InvalidAmount, reason: ReasonCurrency}, nil
	}
	// What is left of the original is the store's decision (a conditional
	// update), so that refunds reaching two switches at once cannot both
	// fit it; the claim is given back when the refund is stored declined.
	if err := store.ClaimRefund(ctx, rec.ID, rec.OriginalID, amt.Minor); err != nil {
		switch {
		case fault.Has(err, fault.Conflict, CodeRefundExceeds):
			return outcome{rc: iso8583.InvalidAmount, reason: ReasonExceedsOriginal}, nil
		case fault.Has(err, fault.Conflict, CodeRefundExists):
			return outcome{rc: iso8583.DuplicateTransmission, reason: ReasonDuplicate}, nil
		case fault.KindOf(err) == fault.NotFound:
			return outcome{rc: iso8583.UnableToLocateRecord, reason: ReasonOriginalMismatch}, nil
		}
		s.cfg.Log.Error("netswitch: cannot claim the refund's amount", "err", fault.MessageOf(err))
		return outcome{rc: iso8583.SystemMalfunction, reason: ReasonStore}, nil
	}
	res, err := s.cfg.Tokens.Credit(ctx, rec.Token.Digits())
	if err != nil {
		rc, reason := DeclineCode(err)
		if rc == iso8583.SystemMalfunction {
			s.cfg.Log.Error("netswitch: token service failed", "err", fault.MessageOf(err))
		}
		return outcome{rc: rc, reason: reason}, nil
	}
	t := res.Token
	rec.PANLast4, rec.PhoneID, rec.AccountID = res.PAN.Last4(), t.PhoneID, t.AccountID
	if t.BankID != "" && t.BankID != b.ID {
		return outcome{rc: iso8583.InvalidCardNumber, reason: ReasonTokenBank}, nil
	}
	if orig.Promo != nil {
		if out, ok := s.splitRefund(ctx, store, orig, rec); !ok {
			return out, nil
		}
		if rec.Promo.Split.CardHolder == 0 {
			// The funders take all of it back: nothing to credit the card.
			return outcome{rc: iso8583.Approved}, nil
		}
	}
	fwd, err := s.toIssuerRefund(f.Raw, res.PAN, t, rec.Promo)
	if err != nil {
		s.cfg.Log.Error("netswitch: cannot build the issuer's refund", "err", fault.MessageOf(err))
		return outcome{rc: iso8583.SystemMalfunction, reason: ReasonForward}, nil
	}
	l := s.links[b.ID]
	if l == nil {
		return outcome{rc: iso8583.IssuerInoperative, reason: ReasonIssuerUnknown}, nil
	}
	resp, sent, err := l.send(ctx, fwd)
	if err != nil {
		reason := issuerFailure(err)
		s.cfg.Log.Warn("netswitch: issuer did not answer a refund; answering 91", "bank", b.ID, "reason", string(reason), "err", fault.MessageOf(err))
		if !sent {
			fwd = nil // it never left: nothing to find out, a repeat decides it again
		}
		return outcome{rc: iso8583.IssuerInoperative, reason: reason}, fwd
	}
	return issuerOutcome(resp), nil
}

// issuerOutcome reads the issuer's answer to a refund.
func issuerOutcome(resp *iso8583.Message) outcome {
	rc, ok := resp.ResponseCode()
	if !ok || len(rc) != 2 {
		return outcome{rc: iso8583.SystemMalfunction, reason: ReasonIssuerAnswer}
	}
	if rc.Approved() {
		return outcome{rc: rc, authCode: str(resp, iso8583.DEAuthID)}
	}
	return outcome{rc: rc, reason: ReasonIssuerDeclined}
}

// splitRefund splits the refund rec of a discounted purchase orig
// (Redemption.Refund under the campaign's refund rule) into rec.Promo;
// false with the answer when the split is refused (13) or the refunds
// cannot be read (96).
func (s *Switch) splitRefund(ctx context.Context, store RefundStore, orig Auth, rec *Refund) (outcome, bool) {
	already, err := store.Refunded(ctx, orig.ID)
	if err != nil {
		s.cfg.Log.Error("netswitch: cannot read refunds", "err", fault.MessageOf(err))
		return outcome{rc: iso8583.SystemMalfunction, reason: ReasonStore}, false
	}
	rule := promo.RefundRestore
	if s.cfg.Promotions != nil {
		if c, ok := s.cfg.Promotions.Campaign(orig.Promo.Campaign); ok && c.RefundRule != "" {
			rule = c.RefundRule
		}
	}
	split, err := orig.Promo.Refund(already, rec.Amount.Minor, rule)
	if err != nil {
		return outcome{rc: iso8583.InvalidAmount, reason: ReasonExceedsOriginal}, false
	}
	if split.CardHolder < 0 {
		// The funders' rounded parts exceed a refund of a few fen (several
		// funders): refused rather than debiting the card holder.
		s.cfg.Log.Warn("netswitch: a refund's promotion split gives the card holder less than nothing; answering 13", "stan", safe(rec.STAN))
		return outcome{rc: iso8583.InvalidAmount, reason: ReasonAmount}, false
	}
	rec.Promo = &PromoRefund{Campaign: orig.Promo.Campaign, HoldID: orig.ID, Split: split}
	return outcome{}, true
}

// restorePromo gives the campaign's budget back its part of an approved
// refund (Promotions.Refund, once per refund identity). A purchase not
// cleared yet (its hold not posted) cannot be restored now: Restored stays
// false, and clearing restores it once it posts the hold.
func (s *Switch) restorePromo(ctx context.Context, rec *Refund) {
	p := rec.Promo
	if p == nil || p.Restored || s.cfg.Promotions == nil {
		return
	}
	if p.Split.Restore == 0 && !p.Split.RestoreCount {
		p.Restored = true
		return
	}
	err := s.cfg.Promotions.Refund(ctx, p.HoldID, rec.ID, p.Split)
	switch {
	case err == nil:
		p.Restored = true
	case errors.Is(err, promo.ErrHoldResolved):
		s.cfg.Log.Info("netswitch: a refund of a purchase not cleared yet; its promotion's budget is restored at clearing", "stan", safe(rec.STAN))
	default:
		s.cfg.Log.Error("netswitch: cannot restore a promotion's budget after a refund", "stan", safe(rec.STAN), "err", fault.MessageOf(err))
	}
}

// toIssuerRefund is the refund as the issuer gets it: the PAN in DE2 and
// the token data in DE123; for a discounted purchase DE4 is the card
// holder's part and DE124 the refunded gross and the funders' parts.
func (s *Switch) toIssuerRefund(req *iso8583.Message, pan card.PAN, t tsp.Token, p *PromoRefund) (*iso8583.Message, error) {
	fwd := req.Clone()
	fwd.MTI = iso8583.FinancialRequest
	if err := fwd.SetString(iso8583.DEPAN, pan.Digits()); err != nil {
		return nil, err
	}
	if p != nil {
		var funders int64
		for _, sh := range p.Split.Shares {
			funders += sh.Amount
		}
		f := promo.FulfilInstant
		if s.cfg.Promotions != nil {
			if c, ok := s.cfg.Promotions.Campaign(p.Campaign); ok {
				f = c.Fulfilment
			}
		}
		if err := fwd.SetPromotionData(promoData(p.Campaign, f, p.Split.Gross, funders, p.Split.Shares)); err != nil {
			return nil, err
		}
		if err := fwd.SetNumber(iso8583.DEAmount, p.Split.CardHolder); err != nil {
			return nil, err
		}
	}
	for _, de := range []int{iso8583.DEExpiry, iso8583.DETrack2, iso8583.DEICC, iso8583.DECardSequence} {
		fwd.Unset(de)
	}
	td := iso8583.TokenData{Token: t.Number.Digits(), PAR: t.PAR, RequestorID: RequestorID, Assurance: "20", DeviceID: t.PhoneID}
	if len(td.DeviceID) > 64 {
		td.DeviceID = td.DeviceID[:64]
	}
	if err := fwd.SetTokenData(td); err != nil {
		return nil, err
	}
	return fwd, nil
}

// retryRefund finds out in the background what became of a refund the
// issuer did not answer: it sends it again (0201) until the issuer answers
// — the issuer credits once per identity, so a repeat only tells — and
// records that answer, unless the acquirer's own repeat was recorded first.
func (s *Switch) retryRefund(req, fwd *iso8583.Message, rec Refund) {
	l := s.links[rec.BankID]
	store, ok := s.cfg.Store.(RefundStore)
	if l == nil || !ok {
		return
	}
	req, fwd = req.Clone(), fwd.Clone()
	fwd.MTI = iso8583.FinancialRequestRepeat
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		for try, wait := range retryBackoff[1:] {
			select {
			case <-time.After(wait):
			case <-s.ctx.Done():
				s.cfg.Log.Warn("netswitch: stopped asking an issuer about a refund at shutdown", "bank", rec.BankID, "stan", safe(rec.STAN))
				return
			}
			resp, _, err := l.send(s.ctx, fwd)
			if err != nil {
				continue
			}
			out := issuerOutcome(resp)
			// Stored unless the acquirer's own repeat was recorded first
			// (SaveRefund keeps the first).
			s.recordRefund(s.ctx, store, req, rec, out)
			s.cfg.Log.Info("netswitch: issuer answered a refund", "bank", rec.BankID, "stan", safe(rec.STAN), "rc", safe(string(out.rc)), "tries", try+2)
			return
		}
		s.cfg.Log.Error("netswitch: the issuer never answered a refund; a repeat from the acquirer asks again", "bank", rec.BankID, "stan", safe(rec.STAN))
	}()
}
