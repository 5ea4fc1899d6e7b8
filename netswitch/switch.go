// Package netswitch is the card network's switch. Store terminals (the
// acquirer side) connect to it over ISO 8583 on TCP; for each authorization
// it checks the message, routes the token by its range to the token
// service — which checks the token, its counter, its limited-use key, the
// cryptogram and the fingerprint, and swaps the token for the PAN — then
// forwards the authorization with the PAN and the token data (DE123) to the
// issuing bank's host over the bank's own ISO 8583 connection, and answers
// the terminal with the token (never the PAN) and an ARPC. It keeps one
// record per authorization for duplicates, reversals, the phone's history
// and clearing; it reverses at the issuer what a timed-out issuer may have
// approved, and remembers reversals that came before their original. Each
// request is decoded once at the door (netmsg). Several switches may share
// one Store: it is where each message is decided once (the duplicate and
// the early-reversal checks are its primary key, not a process's memory).
package netswitch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/netmsg"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/qpboc"
	"github.com/tapwallet/tapwallet/tsp"
)

// Sealer seals the PAN into an authorization record and opens it for a
// reversal (the platform key store).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// RequestorID is the token requestor id (DE123 DF03, 11 digits) of the
// tapwallet wallet at the token service.
const RequestorID = "50110030273"

// Config is how to run the switch.
type Config struct {
	Banks  *bank.Directory // the network's directory of banks: routes token ranges
	Tokens tsp.TokenCheck  // the token service (in process, or tsphttp.Client)
	Store  Store           // authorization records
	Keys   Sealer          // seals the PAN in the records
	// Issuers is each bank's host address (bank id → host:port); the
	// switch dials them as it needs them.
	Issuers map[string]string
	// Local are the issuer hosts in the switch's own process (bank id →
	// host): asked by a call instead of over TCP (link.go), within the
	// same IssuerTimeout. A bank in both is asked locally.
	Local map[string]IssuerHost
	// IssuerTimeout is how long the switch waits for an issuer before it
	// answers 91 and reverses at the issuer (default 2s).
	IssuerTimeout time.Duration
	// DuplicateWindow is how long an answer is kept in memory to answer a
	// duplicate with (default 10 minutes; older duplicates are found in
	// the store).
	DuplicateWindow time.Duration
	// MaxRemembered bounds the answers kept in memory (default 200,000).
	MaxRemembered int
	// RecoverAfter is how long a record may wait for its issuer's answer
	// before the recovery sweep takes it for one that a stopped switch
	// left, settles it (96) and reverses it at the issuer (default 3 ×
	// IssuerTimeout; the sweep runs at start and every RecoverAfter/2).
	// It must be longer than any switch sharing the store takes to decide.
	RecoverAfter time.Duration
	// Observe, if set, is told of every authorization once it is stored
	// (the platform records security events with it).
	Observe func(ctx context.Context, a Auth)
	// Risk, if set, is the network's risk engine, asked before the issuer
	// (risk.go).
	Risk *Risk
	// Meter, if set, is told the time of each hop of an authorization and
	// its response code (meter.go).
	Meter Meter
	// Promotions, if set, are the network's campaigns (promo.go,
	// docs/promotions.md): a purchase they discount is held at its net by
	// the issuer, and its 0110 carries DE124. Nil: no promotions.
	Promotions Promotions
	// MaxConns and MaxConnsPerSource bound the acquirer connections Serve
	// keeps open at once, in all and per source address (0: the defaults
	// of isolink.ConnLimits; negative: no bound); a connection beyond them
	// is closed at once and logged.
	MaxConns, MaxConnsPerSource int

	Log *slog.Logger
	Now func() time.Time
}

// Switch is the card network switch. Handle is its isolink.Handler.
type Switch struct {
	cfg  Config
	stan *iso8583.STANCounter

	mu       sync.Mutex
	inflight map[string]*call // authorizations this switch is deciding
	recent   recentAnswers    // final answers, a cache of the store's for duplicates
	retrying map[string]bool  // queued reversals this switch is sending (by original id)

	mux *netmsg.Mux // decodes requests and calls authorize, reverse, refund

	links map[string]*link // bank id → its host

	bg     sync.WaitGroup // reversals sent in the background
	ctx    context.Context
	cancel context.CancelFunc
}

// call is an authorization being decided, which a duplicate or a
// reversal of it may wait for. Its done channel is made by the first to
// wait (waitFor), not with the call: almost every call ends unwaited.
type call struct {
	digest string
	done   chan struct{} // closed when the call ends; nil: no one waits
	answer *iso8583.Message
}

// waitFor returns the channel closed when c ends; s.mu is held and c is
// in s.inflight (it ends by leaving it under s.mu, then closing done).
func (c *call) waitFor() <-chan struct{} {
	if c.done == nil {
		c.done = make(chan struct{})
	}
	return c.done
}

type recentAuth struct {
	digest string
	answer []byte
}

// New returns a switch. It starts sending again the reversals its issuers
// have not answered, and starts the recovery sweep
// (recovery.go). It fails with fault.Invalid for a config without banks,
// token service, store or key store, and with the store's error.
func New(ctx context.Context, cfg Config) (*Switch, error) {
	if cfg.Banks == nil || cfg.Tokens == nil || cfg.Store == nil || cfg.Keys == nil {
		return nil, fault.E(fault.Invalid, "switch_config", "the switch needs the directory of banks, the token service, a store and a key store")
	}
	if cfg.IssuerTimeout <= 0 {
		cfg.IssuerTimeout = 2 * time.Second
	}
	if cfg.DuplicateWindow <= 0 {
		cfg.DuplicateWindow = 10 * time.Minute
	}
	if cfg.MaxRemembered <= 0 {
		cfg.MaxRemembered = 200_000
	}
	if cfg.RecoverAfter <= 0 {
		cfg.RecoverAfter = 3 * cfg.IssuerTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Switch{cfg: cfg, stan: &iso8583.STANCounter{}, inflight: map[string]*call{},
		retrying: map[string]bool{}, links: map[string]*link{}}
	s.mux = &netmsg.Mux{Side: netmsg.Network, Authorization: s.authorizeMetered, Reversal: s.reverse, Refund: s.refund, Log: cfg.Log}
	for id, addr := range cfg.Issuers {
		s.links[id] = &link{addr: addr, timeout: cfg.IssuerTimeout, log: cfg.Log}
	}
	for id, h := range cfg.Local {
		if h != nil {
			s.links[id] = &link{addr: "in process", local: h, timeout: cfg.IssuerTimeout, log: cfg.Log}
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.recoverOnce(ctx); err != nil {
		s.cancel()
		return nil, err
	}
	s.bg.Add(1)
	go s.recoverLoop()
	return s, nil
}

// Serve answers the acquirers on ln until ctx ends, within the config's
// connection limits; see isolink.Server.
func (s *Switch) Serve(ctx context.Context, ln net.Listener) error {
	ln = isolink.LimitListener(ln, isolink.ConnLimits{Total: s.cfg.MaxConns, PerSource: s.cfg.MaxConnsPerSource}, s.cfg.Log)
	srv := &isolink.Server{Handler: s.Handle, Log: s.cfg.Log}
	return srv.Serve(ctx, ln)
}

// Close stops the recovery sweep and the reversals still being retried in
// the background (they stay queued in the store for the next start) and
// closes the issuer connections. It always returns nil.
func (s *Switch) Close() error {
	s.cancel()
	s.bg.Wait()
	for _, l := range s.links {
		l.close()
	}
	return nil
}

// Handle answers one message from an acquirer: 0100/0101 authorizations,
// 0400/0401 reversals, 0200/0201 refunds (refund.go), 0800 network
// management; any other request is
// answered 40. It never fails and never panics on bad input: a message
// that breaks the spec is answered 30.
func (s *Switch) Handle(ctx context.Context, req *iso8583.Message) *iso8583.Message {
	return s.mux.Handle(ctx, req)
}

func answer(req *iso8583.Message, rc iso8583.ResponseCode) *iso8583.Message {
	return netmsg.Answer(req, rc)
}

func str(m *iso8583.Message, de int) string {
	v, _ := m.String(de)
	return v
}

// AuthID is the message identity of an authorization at the switch:
// terminal (DE41), STAN (DE11) and transmission time (DE7) (netmsg.ID).
func AuthID(terminal, stan, transmission string) string {
	return netmsg.ID(terminal, stan, transmission)
}

// digestElements are the elements of an authorization that a
// retransmission repeats unchanged: with DE41, DE11 and DE7 (the identity)
// the whole message identity — the acquirer (DE32), the local date and time,
// the RRN — and what it asks: the token, the processing code, the amount
// and currency, the merchant, and the chip data (DE55: the cryptogram and
// the counter of that one tap).
var digestElements = []int{iso8583.DEPAN, iso8583.DEProcessingCode, iso8583.DEAmount, iso8583.DECurrency, iso8583.DEMerchant, iso8583.DERRN,
	iso8583.DEAcquirer, iso8583.DELocalDate, iso8583.DELocalTime, iso8583.DEICC}

// digestOf hashes what an authorization asks for, so that a duplicate can
// be told from a different request reusing an identity (a terminal whose
// STAN restarted): only a message equal in every digestElements element
// gets the stored answer, any other is answered 94.
func digestOf(req *iso8583.Message) string {
	var buf [512]byte // the elements at their longest and their separators fit
	b := buf[:0]
	for _, de := range digestElements {
		b, _ = req.Append(b, de)
		b = append(b, 0)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// authorize answers an 0100: from memory for a duplicate, after the first
// for a duplicate still being decided, and else by deciding it.
func (s *Switch) authorize(ctx context.Context, a *netmsg.Authorization) *iso8583.Message {
	req := a.Raw
	id := a.ID()
	digest := digestOf(req)

	s.mu.Lock()
	if r, ok := s.recent.get(id); ok {
		s.mu.Unlock()
		return s.duplicate(req, r.digest, digest, r.answer)
	}
	if c, ok := s.inflight[id]; ok {
		done := c.waitFor()
		s.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return nil
		}
		if c.digest != digest || c.answer == nil {
			return answer(req, iso8583.DuplicateTransmission)
		}
		return c.answer.Clone()
	}
	c := calls.Get().(*call)
	c.digest = digest
	s.inflight[id] = c
	s.mu.Unlock()

	resp, packed := s.decide(context.WithoutCancel(ctx), a, id, digest)

	s.mu.Lock()
	c.answer = resp
	delete(s.inflight, id)
	if packed != nil {
		s.recent.add(id, digest, packed, s.cfg.Now(), s.cfg.DuplicateWindow, s.cfg.MaxRemembered)
	}
	done := c.done // no one waits on c from here: it left s.inflight
	s.mu.Unlock()
	if done != nil {
		close(done)
	} else {
		*c = call{} // no one ever waited: no one holds c
		calls.Put(c)
	}
	return resp
}

// calls holds the calls no one waited for, to be used again: a call is
// handed out only under s.mu while it is in s.inflight (waitFor), so one
// that left it without a done channel is held by nobody.
var calls = sync.Pool{New: func() any { return new(call) }}

// duplicate answers a repeated authorization with the first answer, or 94
// when the repeat asks for something else under the same identity.
func (s *Switch) duplicate(req *iso8583.Message, first, now string, packed []byte) *iso8583.Message {
	if first != now {
		return answer(req, iso8583.DuplicateTransmission)
	}
	m, err := iso8583.Unpack(packed)
	if err != nil {
		return answer(req, iso8583.SystemMalfunction)
	}
	return m
}

// duplicateOf answers a request whose identity the store holds already
// (first): the stored answer for a true duplicate, 94 for another message
// under the same identity, 96 while first is still being decided. The
// packed answer is returned to be remembered only for a true duplicate.
func (s *Switch) duplicateOf(req *iso8583.Message, first Auth, digest string) (*iso8583.Message, []byte) {
	if first.Early() {
		// Another switch settled the marker meanwhile and failed: retry.
		return answer(req, iso8583.SystemMalfunction), nil
	}
	if first.Digest != digest {
		return answer(req, iso8583.DuplicateTransmission), nil
	}
	if first.Deciding() {
		s.cfg.Log.Warn("netswitch: a duplicate of an authorization still being decided elsewhere; answering 96", "stan", safe(first.STAN))
		return answer(req, iso8583.SystemMalfunction), nil
	}
	return s.duplicate(req, first.Digest, digest, first.Answer), first.Answer
}

// outcome is what deciding an authorization came to.
type outcome struct {
	rc       iso8583.ResponseCode
	reason   Reason
	authCode string
	arpc     []byte // tag 91 value
	intended bool   // the record was stored before the issuer was asked: finish it
	existing *Auth  // the identity was stored already: this is a duplicate of it
	risk     *riskCall
}

// decide runs one authorization through the token service and the issuer,
// stores its record and returns the answer (and its packed form).
func (s *Switch) decide(ctx context.Context, a *netmsg.Authorization, id, digest string) (*iso8583.Message, []byte) {
	req := a.Raw
	now := s.cfg.Now().UTC()
	rec := Auth{ID: id, Digest: digest, Acquirer: a.Acquirer, Terminal: a.Terminal, STAN: a.STANText(), Transmission: a.Transmission,
		RRN: a.RRN, Merchant: a.Merchant, MerchantName: merchantName(a.MerchantName), MCC: a.MCC, LocalDate: a.LocalDate,
		LocalTime: a.LocalTime, Token: a.Token, TokenLast4: a.Token.Last4(), Amount: a.Amount,
		ClearAmount: a.Amount.Minor, BusinessDate: businessDate(now), ReceivedAt: now}

	// A repeat (0101) is looked up in the store first: decided at another
	// switch sharing it (or here, before the answer cache's window), it gets
	// the stored answer without the token service, whose check would
	// decline the repeated cryptogram and warn the card holder of an attack.
	// (Not for every 0100: the read costs about a fifth of the throughput;
	// an 0100 sent again is found when its record is stored.)
	if a.MTI == iso8583.AuthorizationRequestRepeat {
		if first, err := s.cfg.Store.Auth(ctx, id); err == nil {
			if first.Early() {
				return s.settleEarly(ctx, req, rec)
			}
			return s.duplicateOf(req, first, digest)
		}
	}

	out := s.run(ctx, a, &rec)
	if out.existing != nil {
		if out.existing.Early() {
			return s.settleEarly(ctx, req, rec)
		}
		return s.duplicateOf(req, *out.existing, digest)
	}

	resp := answer(req, out.rc)
	if resp == nil {
		return nil, nil
	}
	if out.rc.Approved() && out.authCode != "" {
		if err := resp.SetString(iso8583.DEAuthID, out.authCode); err != nil {
			out.authCode = ""
		}
	}
	if out.arpc != nil {
		var buf [32]byte // tag 91 on the stack: the answer keeps a copy
		if b, err := emv.AppendEncode(buf[:0], emv.New(qpboc.TagIssuerAuth, out.arpc)); err == nil {
			_ = resp.SetBytes(iso8583.DEICC, b)
		}
	}
	if out.rc.Approved() && rec.Promo != nil {
		// The terminal prints the discount and the amount charged.
		if err := resp.SetPromotionData(s.acquirerPromo(rec.Promo)); err != nil {
			s.cfg.Log.Error("netswitch: the promotion does not fit DE124; answering without it", "err", fault.MessageOf(err))
		}
	}
	packed, err := resp.PackOnce() // stored and sent: encoded once
	if err != nil {
		s.cfg.Log.Error("netswitch: answer does not pack", "err", fault.MessageOf(err))
		if out.intended {
			s.voidPromo(ctx, &rec) // the recovery sweep settles the record and reverses it
		}
		return answer(req, iso8583.SystemMalfunction), nil
	}
	rec.ResponseCode, rec.Reason, rec.AuthCode = out.rc, out.reason, out.authCode
	rec.Answer, rec.AnsweredAt = packed, s.cfg.Now().UTC()
	save := s.cfg.Store.SaveAuth
	if out.intended {
		save = s.cfg.Store.FinishAuth
	}
	if err := save(ctx, rec); err != nil {
		if !out.intended && fault.Has(err, fault.Conflict, CodeAuthExists) {
			// A duplicate of an answer no longer in memory, or an original
			// whose reversal came first: the stored answer, or 05.
			if first, err := s.cfg.Store.Auth(ctx, id); err == nil {
				if first.Early() {
					return s.settleEarly(ctx, req, rec)
				}
				return s.duplicateOf(req, first, digest)
			}
		}
		if fault.Has(err, fault.Conflict, CodeAuthSettled) {
			// The recovery sweep took it for one a stopped switch left and
			// reverses it: the terminal must not be told "approved".
			s.cfg.Log.Warn("netswitch: the answer came after the recovery sweep settled the authorization; answering 96", "stan", safe(rec.STAN))
			s.voidPromo(ctx, &rec)
			return answer(req, iso8583.SystemMalfunction), nil
		}
		s.cfg.Log.Error("netswitch: cannot store the authorization; answering 96", "err", fault.MessageOf(err))
		if out.rc.Approved() && rec.SealedPAN != nil {
			s.queueReversal(ctx, rec, 0)
		}
		s.voidPromo(ctx, &rec)
		return answer(req, iso8583.SystemMalfunction), nil
	}
	if s.cfg.Observe != nil {
		s.cfg.Observe(ctx, rec)
	}
	s.recordRisk(ctx, a, rec, out.risk)
	return resp, packed
}

// dayText is a UTC day's number since 1970 and its YYYYMMDD.
type dayText struct {
	day  int64
	text string
}

// lastDay is the day businessDate gave last.
var lastDay atomic.Pointer[dayText]

// businessDate is t's UTC date as YYYYMMDD (Auth.BusinessDate): the day's
// text made once and kept, not formatted (and allocated) per record.
func businessDate(t time.Time) string {
	sec := t.Unix()
	day := sec / 86400
	if sec%86400 < 0 {
		day-- // before 1970: the day's start is below
	}
	if d := lastDay.Load(); d != nil && d.day == day {
		return d.text
	}
	d := &dayText{day: day, text: t.UTC().Format("20060102")}
	lastDay.Store(d)
	return d.text
}

// settleEarly answers an original whose reversal came first (its marker
// holds the identity): 05, stored over the marker so that a repeat gets
// the same answer at any switch.
func (s *Switch) settleEarly(ctx context.Context, req *iso8583.Message, rec Auth) (*iso8583.Message, []byte) {
	resp := answer(req, iso8583.DoNotHonour)
	if resp == nil {
		return nil, nil
	}
	packed, err := resp.PackOnce() // stored and sent: encoded once
	if err != nil {
		return answer(req, iso8583.SystemMalfunction), nil
	}
	rec.ResponseCode, rec.Reason, rec.AuthCode, rec.SealedPAN = iso8583.DoNotHonour, ReasonReversedBeforeArrival, "", nil
	rec.Answer, rec.AnsweredAt = packed, s.cfg.Now().UTC()
	if err := s.cfg.Store.SettleEarly(ctx, rec); err != nil {
		if first, err2 := s.cfg.Store.Auth(ctx, rec.ID); fault.Has(err, fault.Conflict, CodeAuthExists) && err2 == nil {
			return s.duplicateOf(req, first, rec.Digest)
		}
		s.cfg.Log.Error("netswitch: cannot store an authorization reversed before it came; answering 96", "err", fault.MessageOf(err))
		return answer(req, iso8583.SystemMalfunction), nil
	}
	return resp, packed
}

// run decides: checks, token service, issuer. It fills rec's token and
// bank fields as it learns them.
func (s *Switch) run(ctx context.Context, a *netmsg.Authorization, rec *Auth) outcome {
	if !authorizable(a.ProcessingCode) {
		return outcome{rc: iso8583.InvalidTransaction, reason: ReasonProcessingCode}
	}
	if a.Amount.Minor <= 0 {
		return outcome{rc: iso8583.InvalidAmount, reason: ReasonAmount}
	}
	b, ok := s.cfg.Banks.BankForTokenRange(rec.Token.Digits())
	if a.Token.IsZero() || !ok {
		return outcome{rc: iso8583.InvalidCardNumber, reason: ReasonTokenRange}
	}
	rec.BankID = b.ID
	if a.ChipErr != nil {
		return outcome{rc: iso8583.FormatError, reason: ReasonChipData}
	}
	chip := a.Chip
	if rc, reason, ok := matchChip(a, chip); !ok {
		return outcome{rc: rc, reason: reason}
	}
	arqc := chip[qpboc.TagCryptogram]
	checked := time.Now()
	res, err := s.cfg.Tokens.Authorize(ctx, tsp.AuthRequest{Token: rec.Token.Digits(), Contactless: a.Contactless(), Chip: chip})
	s.hop(HopTokenCheck, checked)
	if err != nil {
		rc, reason := DeclineCode(err)
		if rc == iso8583.SystemMalfunction {
			s.cfg.Log.Error("netswitch: token service failed", "err", fault.MessageOf(err))
		}
		return outcome{rc: rc, reason: reason}
	}
	t := res.Token
	rec.PANLast4, rec.PhoneID, rec.AccountID, rec.PAR = res.PAN.Last4(), t.PhoneID, t.AccountID, t.PAR
	if t.BankID != "" && t.BankID != b.ID {
		res.Forget()
		return outcome{rc: iso8583.InvalidCardNumber, reason: ReasonTokenBank}
	}
	rk := s.screen(ctx, a, rec, t)
	if rk.declines() {
		res.Forget()
		return outcome{rc: iso8583.SuspectedFraud, reason: RiskReason(rk.d), risk: rk}
	}
	sealed, err := s.seal(res.PAN, rec.ID)
	if err != nil {
		res.Forget()
		s.cfg.Log.Error("netswitch: cannot seal the PAN", "err", fault.MessageOf(err))
		return outcome{rc: iso8583.SystemMalfunction, reason: ReasonSeal}
	}
	rec.SealedPAN = sealed

	product := t.Product
	if p, ok := b.Product(res.PAN); ok {
		product = string(p.Kind)
	}
	fwd, err := s.toIssuer(a.Raw, res.PAN, t, rk.score(), nil)
	if err != nil {
		res.Forget()
		s.cfg.Log.Error("netswitch: cannot build the issuer's message", "err", fault.MessageOf(err))
		return outcome{rc: iso8583.SystemMalfunction, reason: ReasonForward}
	}
	// The promotion: a hold decided in memory (promo.Mirror, one network
	// process) is decided first and named by the record stored before the
	// issuer is asked — that record is the hold's durable trace, and the
	// promotions store it in their own wing meanwhile (restored from the
	// records at the next start if a stop came first, RestorePromotions).
	// A hold the store reserves itself (several network processes) is
	// reserved while the record is stored: two group commits at once; the
	// record gets it with its answer. A record the recovery sweep settles
	// voids its identity's hold whatever it says.
	var pc promoCall
	var out outcome
	if s.promoAhead() {
		pc = s.applyPromo(ctx, rec, b.ID, res.PAN, t, product, city(a.MerchantName))
		rec.Promo = pc.r
		out, ok = s.intend(ctx, *rec)
	} else {
		promoted := s.startPromo(ctx, *rec, b.ID, res.PAN, t, product, city(a.MerchantName))
		out, ok = s.intend(ctx, *rec)
		pc = promoted()
		rec.Promo = pc.r
	}
	if !ok {
		res.Forget()
		if out.existing == nil || out.existing.Early() {
			// Not stored (or the reversal came first): the hold is this
			// message's to give back. A stored duplicate owns it.
			if s.settled(ctx, pc) == nil {
				s.voidPromo(ctx, rec)
			}
			rec.Promo = nil
		}
		return out
	}
	if rec.Promo != nil {
		if err := promoToIssuer(fwd, rec.Promo); err != nil {
			// The purchase goes at its price: promotions never stop a payment.
			s.cfg.Log.Error("netswitch: the promotion does not fit the issuer's message; the purchase goes at its price", "err", fault.MessageOf(err))
			if s.settled(ctx, pc) == nil {
				s.voidPromo(ctx, rec)
			}
			rec.Promo, pc = nil, promoCall{}
			if fwd, err = s.toIssuer(a.Raw, res.PAN, t, rk.score(), nil); err != nil {
				res.Forget()
				s.cfg.Log.Error("netswitch: cannot build the issuer's message", "err", fault.MessageOf(err))
				return outcome{rc: iso8583.SystemMalfunction, reason: ReasonForward, intended: true}
			}
		}
	}
	fault.Inject("netswitch.recorded")
	out = s.askIssuer(ctx, b.ID, fwd, rec)
	out.intended, out.risk = true, rk
	if err := s.promoStored(ctx, pc, out.rc.Approved(), rec.STAN); err != nil {
		// The hold the issuer was told of could not be stored (the
		// promotions' store refused or failed): the discount is not
		// funded, so the authorization is not approved and its hold at the
		// issuer is reversed. The terminal may send it again.
		if out.rc.Approved() {
			s.cfg.Log.Error("netswitch: the promotion's hold could not be stored; answering 96", "stan", safe(rec.STAN), "err", fault.MessageOf(err))
			s.queueReversal(ctx, *rec, 0)
			out = outcome{rc: iso8583.SystemMalfunction, reason: ReasonPromoStore, intended: true, risk: rk}
		}
		rec.Promo = nil // nothing was reserved: nothing to void
	}
	if !out.rc.Approved() {
		s.voidPromo(ctx, rec)
		rec.Promo = nil
	}
	fault.Inject("netswitch.issuer_answered")
	if arc := []byte(out.rc); len(arc) == 2 && len(arqc) == 8 {
		if v, err := res.ARPC(arqc, arc); err == nil {
			out.arpc = v
		}
	}
	res.Forget()
	return out
}

// seal seals a PAN for an authorization's record, under the additional
// data "switch:" and its identity. The PAN's digits and the additional
// data are put together in a pooled room, not allocated; the digits are
// cleared after.
func (s *Switch) seal(pan card.PAN, id string) ([]byte, error) {
	const aadPrefix = "switch:"
	digits := pan.Digits()
	bp := sealRooms.Get().(*[]byte)
	b := append(append(append((*bp)[:0], digits...), aadPrefix...), id...)
	n := len(digits)
	sealed, err := s.cfg.Keys.Seal(b[:n:n], b[n:len(b):len(b)])
	clear(b[:n])
	if cap(b) <= 256 {
		*bp = b[:0]
		sealRooms.Put(bp)
	}
	return sealed, err
}

// sealRooms hold the room a seal's plaintext and additional data are put
// together in: the key store reads them during Seal and keeps neither
// (AEAD), and the digits are cleared before the room goes back.
var sealRooms = sync.Pool{New: func() any { b := make([]byte, 0, 64); return &b }}

// intend stores the record before the issuer is asked, still being
// decided, so that a hold the issuer places is never unknown to the
// network, whatever stops the switch after (recovery.go). false with the
// outcome to answer: the identity is stored already (a duplicate), or the
// store failed (96: the issuer is not asked).
func (s *Switch) intend(ctx context.Context, rec Auth) (outcome, bool) {
	rec.ResponseCode, rec.Reason, rec.AuthCode, rec.Answer, rec.AnsweredAt = "", "", "", nil, time.Time{}
	err := s.cfg.Store.SaveAuth(ctx, rec)
	if err == nil {
		return outcome{}, true
	}
	if fault.Has(err, fault.Conflict, CodeAuthExists) {
		if first, err := s.cfg.Store.Auth(ctx, rec.ID); err == nil {
			return outcome{existing: &first}, false
		}
	}
	s.cfg.Log.Error("netswitch: cannot record the authorization before asking the issuer; answering 96", "err", fault.MessageOf(err))
	return outcome{rc: iso8583.SystemMalfunction, reason: ReasonStore}, false
}

// askIssuer sends the authorization to the bank's host. No answer in time
// (or a lost link after sending) is answered 91 and reversed at the issuer.
func (s *Switch) askIssuer(ctx context.Context, bankID string, fwd *iso8583.Message, rec *Auth) outcome {
	l := s.links[bankID]
	if l == nil {
		return outcome{rc: iso8583.IssuerInoperative, reason: ReasonIssuerUnknown}
	}
	asked := time.Now()
	resp, sent, err := l.send(ctx, fwd)
	s.hop(HopIssuer, asked)
	if err != nil {
		reason := issuerFailure(err)
		s.cfg.Log.Warn("netswitch: issuer did not answer; answering 91", "bank", bankID, "reason", string(reason), "err", fault.MessageOf(err))
		if sent {
			s.queueReversal(ctx, *rec, 0)
		}
		return outcome{rc: iso8583.IssuerInoperative, reason: reason}
	}
	rc, ok := resp.ResponseCode()
	if !ok || len(rc) != 2 {
		s.cfg.Log.Error("netswitch: issuer answered without a response code", "bank", bankID)
		s.queueReversal(ctx, *rec, 0)
		return outcome{rc: iso8583.SystemMalfunction, reason: ReasonIssuerAnswer}
	}
	out := outcome{rc: rc}
	if rc.Approved() {
		out.authCode = str(resp, iso8583.DEAuthID)
	} else {
		out.reason = ReasonIssuerDeclined
	}
	return out
}

// issuerFailure is the reason of an issuer that did not answer.
func issuerFailure(err error) Reason {
	if errors.Is(err, isolink.ErrTimeout) {
		return ReasonIssuerTimeout
	}
	return ReasonIssuerUnavailable
}

// toIssuer is the authorization as the issuer gets it: the PAN in DE2, the
// token data in DE123, and no chip or track data of the token. With a
// promotion DE124 tells it the campaign, the gross and the funders'
// shares, and DE4 is the net of an instant discount (what it holds).
func (s *Switch) toIssuer(req *iso8583.Message, pan card.PAN, t tsp.Token, score string, r *promo.Redemption) (*iso8583.Message, error) {
	fwd := req.Clone()
	if fwd.MTI == iso8583.AuthorizationRequestRepeat {
		fwd.MTI = iso8583.AuthorizationRequest
	}
	if err := fwd.SetString(iso8583.DEPAN, pan.Digits()); err != nil {
		return nil, err
	}
	if r != nil {
		if err := promoToIssuer(fwd, r); err != nil {
			return nil, err
		}
	}
	for _, de := range []int{iso8583.DEExpiry, iso8583.DETrack2, iso8583.DEICC, iso8583.DECardSequence} {
		fwd.Unset(de)
	}
	td := iso8583.TokenData{Token: t.Number.Digits(), PAR: t.PAR, RequestorID: RequestorID, Assurance: "20", DeviceID: t.PhoneID, RiskScore: score}
	if len(td.DeviceID) > 64 {
		td.DeviceID = td.DeviceID[:64]
	}
	if err := fwd.SetTokenData(td); err != nil {
		return nil, err
	}
	return fwd, nil
}

// promoToIssuer puts the promotion r in the issuer's message fwd: DE124
// with the campaign, the gross and the funders' shares, and DE4 the net
// (r.Net: the gross but for an instant discount).
func promoToIssuer(fwd *iso8583.Message, r *promo.Redemption) error {
	if err := fwd.SetPromotionData(promoData(r.Campaign, r.Fulfilment, r.Gross, r.Discount, r.Shares)); err != nil {
		return err
	}
	return fwd.SetNumber(iso8583.DEAmount, r.Net)
}

// ChipData reads DE55 into its tags; it fails like netmsg.DecodeChip.
func ChipData(icc []byte) (map[emv.Tag][]byte, error) { return netmsg.DecodeChip(icc) }

// matchChip checks that the chip's amount (9F02) and currency (5F2A) are
// those of DE4 and DE49 (13 otherwise).
func matchChip(a *netmsg.Authorization, chip netmsg.Chip) (iso8583.ResponseCode, Reason, bool) {
	if v, ok := chip[qpboc.TagAmount]; ok && (len(v) != 6 || !bcdIs(v, a.Amount.Minor)) {
		return iso8583.InvalidAmount, ReasonChipAmount, false
	}
	if v, ok := chip[qpboc.TagCurrency]; ok && (len(v) != 2 || !bcdIs(v, int64(a.Amount.Currency))) {
		return iso8583.InvalidAmount, ReasonChipCurrency, false
	}
	return "", "", true
}

// bcdIs reports whether b is n in packed BCD, right-aligned and padded
// with zeros (no allocation: it runs for every authorization).
func bcdIs(b []byte, n int64) bool {
	if n < 0 {
		return false
	}
	for i := len(b) - 1; i >= 0; i-- {
		d := byte(n % 100)
		n /= 100
		if b[i] != d/10<<4|d%10 {
			return false
		}
	}
	return n == 0
}

func merchantName(de43 string) string {
	if len(de43) > 25 {
		de43 = de43[:25]
	}
	return strings.TrimSpace(de43)
}

// city is DE43's city (positions 26-38), trimmed.
func city(de43 string) string {
	if len(de43) <= 25 {
		return ""
	}
	return strings.TrimSpace(de43[25:min(len(de43), 38)])
}

// safe keeps short printable ASCII for a log line (STANs, codes).
func safe(s string) string {
	if len(s) > 12 {
		s = s[:12]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}
