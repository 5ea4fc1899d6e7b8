package netswitch

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
)

// OriginalOf reads DE90 of a reversal: the original's STAN (DE11) and
// transmission time (DE7); false when DE90 is absent or not the layout of
// docs/iso8583.md for an authorization.
func OriginalOf(req *iso8583.Message) (stan, transmission string, ok bool) {
	v, has := req.String(iso8583.DEOriginal)
	if !has || len(v) != 42 || iso8583.MTI(v[:4]).Class() != '1' {
		return "", "", false
	}
	return v[4:10], v[10:20], true
}

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
// again). The answer is 00 when the original was approved and is now
// reversed (or will be: the network keeps retrying an issuer that does not
// answer), was already reversed, or was declined; 25 when the switch never
// saw the original — remembered, so that it is declined should it still
// come; 30 for a reversal that breaks the spec.
func (s *Switch) reverse(ctx context.Context, req *iso8583.Message) *iso8583.Message {
	if de, bad := missing(req, reversalMandatory); bad {
		s.cfg.Log.Warn("netswitch: reversal lacks a mandatory element; answering 30", "de", de, "stan", safe(str(req, iso8583.DESTAN)))
		return answer(req, iso8583.FormatError)
	}
	ostan, ode7, ok := OriginalOf(req)
	if !ok {
		return answer(req, iso8583.FormatError)
	}
	ctx = context.WithoutCancel(ctx)
	origID := AuthID(str(req, iso8583.DETerminal), ostan, ode7)

	s.mu.Lock()
	c := s.inflight[origID]
	provisional := false
	if c == nil && !s.early[origID] {
		s.early[origID] = true // until the store says whether the original was seen
		provisional = true
	}
	s.mu.Unlock()
	if c != nil {
		<-c.done
	}

	rec, err := s.cfg.Store.Auth(ctx, origID)
	if fault.KindOf(err) == fault.NotFound {
		if err := s.cfg.Store.SaveReversal(ctx, Reversal{OriginalID: origID, RRN: str(req, iso8583.DERRN), At: s.cfg.Now().UTC()}); err != nil {
			s.cfg.Log.Error("netswitch: cannot remember a reversal", "err", fault.MessageOf(err))
			return answer(req, iso8583.SystemMalfunction)
		}
		return answer(req, iso8583.UnableToLocateRecord)
	}
	if provisional {
		s.mu.Lock()
		delete(s.early, origID)
		s.mu.Unlock()
	}
	if err != nil {
		s.cfg.Log.Error("netswitch: cannot read the original", "err", fault.MessageOf(err))
		return answer(req, iso8583.SystemMalfunction)
	}
	if !rec.Approved() || !rec.ReversedAt.IsZero() || rec.SealedPAN == nil {
		return answer(req, iso8583.Approved)
	}
	remaining := int64(0)
	if v, ok := req.String(iso8583.DEReplacement); ok && len(v) >= 12 {
		if n, err := strconv.ParseInt(v[:12], 10, 64); err == nil && n >= 0 && n < rec.Amount {
			remaining = n
		}
	}
	fwd, err := s.issuerReversal(rec, iso8583.ReversalRequest, remaining)
	if err != nil {
		s.cfg.Log.Error("netswitch: cannot build the issuer's reversal", "err", fault.MessageOf(err))
		return answer(req, iso8583.SystemMalfunction)
	}
	rc := iso8583.ResponseCode("")
	if l := s.links[rec.BankID]; l != nil {
		if resp, _, err := l.send(ctx, fwd); err == nil {
			rc, _ = resp.ResponseCode()
		}
	}
	switch rc {
	case iso8583.Approved, iso8583.UnableToLocateRecord:
	case "":
		// Store and forward: the network owns the reversal now and keeps
		// sending it until the issuer answers.
		rc = "SF"
		s.retryReversal(rec, remaining)
	default:
		return answer(req, rc) // such as 12: the original was already cleared
	}
	if err := s.cfg.Store.MarkReversed(ctx, origID, s.cfg.Now().UTC(), string(rc), remaining); err != nil {
		s.cfg.Log.Error("netswitch: cannot record a reversal", "err", fault.MessageOf(err))
		return answer(req, iso8583.SystemMalfunction)
	}
	return answer(req, iso8583.Approved)
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
		err = m.SetNumber(iso8583.DEAmount, rec.Amount)
	}
	if err == nil {
		err = m.SetNumber(iso8583.DECurrency, int64(rec.Currency))
	}
	if err == nil {
		err = m.SetTokenData(iso8583.TokenData{Token: rec.Token, RequestorID: RequestorID})
	}
	return m, err
}

// reverseInBackground reverses at the issuer an authorization that the
// issuer may have approved without the network knowing (no answer in time,
// a lost link, a record that could not be stored).
func (s *Switch) reverseInBackground(rec Auth) {
	s.retryReversal(rec, 0)
}

// retryBackoff are the waits between tries of a reversal the issuer does
// not answer; after the last the hold is left to the issuer's expiry sweep.
var retryBackoff = []time.Duration{0, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
	30 * time.Second, time.Minute, 5 * time.Minute}

// retryReversal sends an issuer reversal in the background: first 0400,
// then 0401 repeats, until the issuer answers or the switch closes.
func (s *Switch) retryReversal(rec Auth, remaining int64) {
	l := s.links[rec.BankID]
	if l == nil {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		mti := iso8583.ReversalRequest
		for try, wait := range retryBackoff {
			select {
			case <-time.After(wait):
			case <-s.ctx.Done():
				s.cfg.Log.Warn("netswitch: stopped retrying a reversal at shutdown", "bank", rec.BankID, "stan", safe(rec.STAN))
				return
			}
			m, err := s.issuerReversal(rec, mti, remaining)
			if err != nil {
				s.cfg.Log.Error("netswitch: cannot build the issuer's reversal", "err", fault.MessageOf(err))
				return
			}
			resp, _, err := l.send(s.ctx, m)
			if err == nil {
				rc, _ := resp.ResponseCode()
				s.cfg.Log.Info("netswitch: issuer reversed", "bank", rec.BankID, "stan", safe(rec.STAN), "rc", safe(string(rc)), "tries", try+1)
				return
			}
			mti = iso8583.ReversalRequestRepeat
		}
		s.cfg.Log.Error("netswitch: the issuer never answered a reversal; its expiry sweep will release the hold", "bank", rec.BankID, "stan", safe(rec.STAN))
	}()
}
