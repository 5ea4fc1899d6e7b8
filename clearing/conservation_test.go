package clearing_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/clearing"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/issuer"
	issuerstore "github.com/tapwallet/tapwallet/issuer/sqlstore"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	netstore "github.com/tapwallet/tapwallet/netswitch/sqlstore"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// clock is a test clock that moves forward on request.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// bench is issuer hosts for a few banks on one database, with the switch's
// records, as clearing sees them.
type world struct {
	db    *sqldb.DB
	clock *clock
	banks *bank.Config
	hosts map[string]*issuer.Host
	led   ledgers // each bank's own, in its own wing
	store *netstore.Store
	seq   int
}

// The cards of the property: a rich debit card, a ¥10 debit card, a ¥10
// credit card and a credit card with a big limit.
// testToken is the token of the records the property test stores (a
// Luhn-valid number in the network's range).
var testToken, _ = card.ParseToken("6288010000000009")

var propCards = []string{"6222020000000007", "6217000000011854", "6226150000018513", "6253300000000005"}

func newWorld(t testing.TB, db *sqldb.DB) *world {
	t.Helper()
	banks, err := bank.Default()
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)}
	db.Now = c.Now
	store, err := netstore.OpenBeside(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	w := &world{db: db, clock: c, banks: banks, hosts: map[string]*issuer.Host{}, led: ledgers{}, store: store}
	for _, id := range []string{"icbc", "ccb", "cmbc"} {
		st, err := issuerstore.OpenBeside(context.Background(), db, id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		h, err := issuer.NewHost(context.Background(), st.HostConfig(issuer.HostConfig{Banks: banks, BankID: id,
			Secret: []byte("property"), HoldTimeout: time.Hour, Now: c.Now}))
		if err != nil {
			t.Fatal(err)
		}
		w.hosts[id], w.led[id] = h, st.Ledger
	}
	return w
}

// config is clearing as the platform runs it: the switch's records, each
// bank's file posted by its own host.
func (w *world) config() clearing.Config {
	return clearing.Config{Store: w.store, Issuers: issuer.ClearingHosts(w.hosts), Now: w.clock.Now}
}

// ledgers are the banks' ledgers, each in its bank's wing, as the tests
// read them: a call goes to the bank an id names (bank|… or bank:…, or
// after a prefix such as reduced|).
type ledgers map[string]ledger.Store

// of returns the ledger of the bank id names.
func (l ledgers) of(id string) ledger.Store {
	for bankID, s := range l {
		if strings.HasPrefix(id, bankID+"|") || strings.HasPrefix(id, bankID+":") || strings.Contains(id, "|"+bankID+"|") {
			return s
		}
	}
	return nil
}

func (l ledgers) LookupTransfer(ctx context.Context, id string) (ledger.Transfer, error) {
	s := l.of(id)
	if s == nil {
		return ledger.Transfer{}, fault.E(fault.NotFound, "transfer_not_found", "no bank's id")
	}
	return s.LookupTransfer(ctx, id)
}

func (l ledgers) LookupAccounts(ctx context.Context, ids []string) ([]ledger.Account, error) {
	// A bank's settlement account does not carry its id: ask every bank.
	var out []ledger.Account
	for _, s := range l {
		as, err := s.LookupAccounts(ctx, ids)
		if err != nil {
			return nil, err
		}
		out = append(out, as...)
	}
	return out, nil
}

func (l ledgers) ExpirePending(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for _, s := range l {
		n, err := s.ExpirePending(ctx, now)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

func (w *world) cardholder(pan string) *bank.Cardholder {
	p, _ := card.ParsePAN(pan)
	c, _ := w.banks.LookupCard(p)
	return c
}

// auth is one authorization of the property and what the model expects.
type auth struct {
	msg     *iso8583.Message
	bank    string
	acct    string
	amount  int64
	rc      string
	code    string
	holdID  string
	held    int64                // what the hold that stands holds: amount, less after a partial reversal
	status  ledger.PendingStatus // "" when no hold was placed
	date    string
	reverse bool // reversed before it was sent
	refunds []*refund
}

// refund is one refund of an authorization and what the model expects.
type refund struct {
	msg    *iso8583.Message
	amount int64
	rc     string
	code   string
}

// refundable is what the model says an authorization may still have
// refunded: what is held while pending or posted once posted (less after a
// partial reversal), nothing once voided or expired (or never held), less
// the refunds approved.
func (a *auth) refundable() int64 {
	if a.status != ledger.StatusPending && a.status != ledger.StatusPosted {
		return 0
	}
	return a.held - a.refunded()
}

// refunded is the sum of the refunds approved.
func (a *auth) refunded() int64 {
	var n int64
	for _, r := range a.refunds {
		if r.rc == "00" {
			n += r.amount
		}
	}
	return n
}

// refundMessage builds the 0200 refund of amount as the network forwards
// it to the issuer: the PAN in DE2, DE90 naming the original.
func (w *world) refundMessage(orig *iso8583.Message, amount int64) *iso8583.Message {
	w.seq++
	m := iso8583.New(iso8583.FinancialRequest)
	m.Copy(orig, iso8583.DEPAN, iso8583.DECurrency, iso8583.DEAcquirer, iso8583.DERRN, iso8583.DETerminal, iso8583.DEMerchant)
	now := w.clock.Now()
	m.SetTransmissionTime(now)
	m.SetLocalTime(now)
	_ = m.SetString(iso8583.DEProcessingCode, "200000")
	_ = m.SetNumber(iso8583.DEAmount, amount)
	_ = m.SetSTAN(iso8583.STAN(w.seq%999999 + 1))
	_ = m.SetString(iso8583.DEOriginal, netswitch.OriginalData(str(orig, iso8583.DESTAN), str(orig, iso8583.DETransmission), "48021000"))
	return m
}

// recordRefund stores the switch's record of an approved refund.
func (w *world) recordRefund(t interface{ Fatalf(string, ...any) }, a *auth, r *refund) {
	m := r.msg
	now := w.clock.Now()
	rec := netswitch.Refund{ID: netswitch.AuthID(str(m, iso8583.DETerminal), str(m, iso8583.DESTAN), str(m, iso8583.DETransmission)),
		OriginalID: netswitch.AuthID(str(a.msg, iso8583.DETerminal), str(a.msg, iso8583.DESTAN), str(a.msg, iso8583.DETransmission)),
		Acquirer:   "48021000", Terminal: str(m, iso8583.DETerminal), STAN: str(m, iso8583.DESTAN), Transmission: str(m, iso8583.DETransmission),
		RRN: str(m, iso8583.DERRN), Merchant: str(m, iso8583.DEMerchant), LocalDate: str(m, iso8583.DELocalDate), LocalTime: str(m, iso8583.DELocalTime),
		Token: testToken, PANLast4: "0000", BankID: a.bank, Amount: money.Fen(r.amount), AuthCode: r.code, ResponseCode: iso8583.ResponseCode(r.rc),
		BusinessDate: now.Format("20060102"), ReceivedAt: now, AnsweredAt: now}
	if err := w.store.SaveRefund(context.Background(), rec); err != nil {
		t.Fatalf("saving the refund's record: %v", err)
	}
}

// message builds the 0100 as the network forwards it to the issuer.
func (w *world) message(pan string, amount int64) *iso8583.Message {
	w.seq++
	m := iso8583.New(iso8583.AuthorizationRequest)
	now := w.clock.Now()
	m.SetTransmissionTime(now)
	m.SetLocalTime(now)
	_ = m.SetString(iso8583.DEPAN, pan)
	_ = m.SetString(iso8583.DEProcessingCode, "000000")
	_ = m.SetNumber(iso8583.DEAmount, amount)
	_ = m.SetNumber(iso8583.DECurrency, 156)
	_ = m.SetSTAN(iso8583.STAN(w.seq%999999 + 1))
	_ = m.SetString(iso8583.DEAcquirer, "48021000")
	_ = m.SetString(iso8583.DERRN, fmt.Sprintf("%012d", w.seq))
	_ = m.SetString(iso8583.DETerminal, fmt.Sprintf("P%07d", w.seq))
	_ = m.SetString(iso8583.DEMerchant, "898310054110001")
	return m
}

func (w *world) reversal(orig *iso8583.Message) *iso8583.Message {
	w.seq++
	m := iso8583.New(iso8583.ReversalRequest)
	m.Copy(orig, iso8583.DEPAN, iso8583.DEProcessingCode, iso8583.DEAmount, iso8583.DECurrency, iso8583.DEAcquirer,
		iso8583.DERRN, iso8583.DETerminal, iso8583.DEMerchant, iso8583.DELocalDate, iso8583.DELocalTime)
	m.SetTransmissionTime(w.clock.Now())
	_ = m.SetSTAN(iso8583.STAN(w.seq%999999 + 1))
	stan, _ := orig.String(iso8583.DESTAN)
	de7, _ := orig.String(iso8583.DETransmission)
	_ = m.SetString(iso8583.DEOriginal, netswitch.OriginalData(stan, de7, "48021000"))
	return m
}

// record stores the switch's record of an approved authorization.
func (w *world) record(t interface{ Fatalf(string, ...any) }, a *auth) {
	m := a.msg
	str := func(de int) string { v, _ := m.String(de); return v }
	now := w.clock.Now()
	rec := netswitch.Auth{ID: netswitch.AuthID(str(iso8583.DETerminal), str(iso8583.DESTAN), str(iso8583.DETransmission)),
		Digest:   "the message's digest", // a record, not an early reversal's marker
		Acquirer: "48021000", Terminal: str(iso8583.DETerminal), STAN: str(iso8583.DESTAN), Transmission: str(iso8583.DETransmission),
		RRN: str(iso8583.DERRN), Merchant: str(iso8583.DEMerchant), LocalDate: str(iso8583.DELocalDate), LocalTime: str(iso8583.DELocalTime),
		Token: testToken, BankID: a.bank, Amount: money.Fen(a.amount), ClearAmount: a.amount, PANLast4: "0000",
		AuthCode: a.code, ResponseCode: iso8583.ResponseCode(a.rc), BusinessDate: now.Format("20060102"), ReceivedAt: now, AnsweredAt: now}
	if err := w.store.SaveAuth(context.Background(), rec); err != nil {
		t.Fatalf("saving the record: %v", err)
	}
	a.date = rec.BusinessDate
}

// accounts returns every account the world's banks have.
func (w *world) accounts() []string {
	var ids []string
	for id, h := range w.hosts {
		ids = append(ids, id+":cash", id+":credit-limit", id+":network", h.SettlementAccount(), h.Program().MoneyAccount)
		for _, c := range w.banks.CardsOf(id) {
			a, _ := h.AccountFor(c.PAN)
			ids = append(ids, a)
		}
	}
	return ids
}

type bal struct{ dp, dpo, cp, cpo int64 }

func (w *world) balances(t interface{ Fatal(...any) }) map[string]bal {
	as, err := w.led.LookupAccounts(context.Background(), w.accounts())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bal{}
	for _, a := range as {
		out[a.ID] = bal{a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted}
	}
	return out
}

// TestConservation drives random authorizations, duplicates, reversals
// (before and after their original, full and partial: DE95), refunds,
// clearing runs and hold expiry through
// the issuer hosts and clearing, and checks after each step that the books
// balance, that each card account moved by exactly the model's holds and
// posts, and that no hold resolved twice or changed after resolving.
func TestConservation(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		ctx := context.Background()
		rapid.Check(t, func(rt *rapid.T) {
			// Release what earlier runs left held, then start counting.
			w.clock.Advance(2 * time.Hour)
			if _, err := w.led.ExpirePending(ctx, w.clock.Now()); err != nil {
				rt.Fatal(err)
			}
			start := w.balances(rt)
			var auths []*auth
			dates := map[string]bool{}

			check := func(rt *rapid.T) {
				now := w.balances(rt)
				var sumDP, sumCP, sumDPo, sumCPo int64
				for _, b := range now {
					sumDP, sumCP, sumDPo, sumCPo = sumDP+b.dp, sumCP+b.cp, sumDPo+b.dpo, sumCPo+b.cpo
				}
				if sumDP != sumCP || sumDPo != sumCPo {
					rt.Fatalf("the books do not balance: pending %d debits vs %d credits, posted %d vs %d", sumDP, sumCP, sumDPo, sumCPo)
				}
				wantPending := map[string]int64{}
				wantPosted := map[string]int64{}
				wantCredited := map[string]int64{}
				for _, a := range auths {
					for _, r := range a.refunds {
						if r.rc == "00" {
							wantCredited[a.acct] += r.amount
						}
					}
					if a.status == "" {
						continue
					}
					tr, err := issuer.CurrentHold(ctx, w.led.of(a.holdID), a.holdID)
					if err != nil {
						rt.Fatalf("hold %s is gone: %v", a.holdID, err)
					}
					if tr.Status != a.status {
						rt.Fatalf("got hold status %s, want %s", tr.Status, a.status)
					}
					if tr.Amount != a.held {
						rt.Fatalf("got a hold of %d, want %d", tr.Amount, a.held)
					}
					switch a.status {
					case ledger.StatusPending:
						wantPending[a.acct] += a.held
					case ledger.StatusPosted:
						wantPosted[a.acct] += a.held
					}
				}
				for _, pan := range propCards {
					c := w.cardholder(pan)
					acct, _ := w.hosts[c.Bank].AccountFor(c.PAN)
					got, was := now[acct], start[acct]
					if got.dp-was.dp != wantPending[acct] {
						rt.Fatalf("card ending %s: got %d pending, want %d", c.PAN.Last4(), got.dp-was.dp, wantPending[acct])
					}
					if got.dpo-was.dpo != wantPosted[acct] {
						rt.Fatalf("card ending %s: got %d posted, want %d", c.PAN.Last4(), got.dpo-was.dpo, wantPosted[acct])
					}
					if got.cpo-was.cpo != wantCredited[acct] {
						rt.Fatalf("card ending %s: got %d refunded, want %d", c.PAN.Last4(), got.cpo-was.cpo, wantCredited[acct])
					}
					if got.cpo-got.dpo-got.dp < 0 {
						rt.Fatalf("card ending %s is overdrawn", c.PAN.Last4())
					}
				}
			}

			send := func(rt *rapid.T, a *auth) {
				h := w.hosts[a.bank]
				resp := h.Handle(ctx, a.msg)
				rc, _ := resp.ResponseCode()
				code, _ := resp.String(iso8583.DEAuthID)
				if a.rc == "" {
					a.rc, a.code = string(rc), code
					if a.reverse {
						if rc.Approved() {
							rt.Fatalf("a late original was approved after its reversal")
						}
						return
					}
					if rc.Approved() {
						a.status, a.held = ledger.StatusPending, a.amount
						w.record(rt, a)
						dates[a.date] = true
					}
					return
				}
				if string(rc) != a.rc || code != a.code {
					rt.Fatalf("a duplicate got %s %s, want the first answer %s %s", rc, code, a.rc, a.code)
				}
			}

			rt.Repeat(map[string]func(*rapid.T){
				"auth": func(rt *rapid.T) {
					pan := rapid.SampledFrom(propCards).Draw(rt, "card")
					amount := int64(rapid.IntRange(1, 1500).Draw(rt, "amount"))
					c := w.cardholder(pan)
					m := w.message(pan, amount)
					acct, _ := w.hosts[c.Bank].AccountFor(c.PAN)
					de7, _ := m.String(iso8583.DETransmission)
					stan, _ := m.String(iso8583.DESTAN)
					tid, _ := m.String(iso8583.DETerminal)
					a := &auth{msg: m, bank: c.Bank, acct: acct, amount: amount, holdID: issuer.HoldID(c.Bank, de7, stan, tid)}
					send(rt, a)
					auths = append(auths, a)
				},
				"duplicate": func(rt *rapid.T) {
					if len(auths) == 0 {
						rt.Skip("nothing to repeat")
					}
					a := rapid.SampledFrom(auths).Draw(rt, "original")
					if a.reverse {
						rt.Skip("reversed early")
					}
					send(rt, a)
				},
				"reversal": func(rt *rapid.T) {
					if len(auths) == 0 {
						rt.Skip("nothing to reverse")
					}
					a := rapid.SampledFrom(auths).Draw(rt, "original")
					resp := w.hosts[a.bank].Handle(ctx, w.reversal(a.msg))
					rc, _ := resp.ResponseCode()
					switch a.status {
					case ledger.StatusPending:
						a.status = ledger.StatusVoided
						if err := w.store.MarkReversed(ctx, netswitch.AuthID(str(a.msg, iso8583.DETerminal), str(a.msg, iso8583.DESTAN), str(a.msg, iso8583.DETransmission)), w.clock.Now(), string(rc), 0); err != nil {
							rt.Fatal(err)
						}
						if rc != iso8583.Approved {
							rt.Fatalf("got %s reversing a pending hold, want 00", rc)
						}
					case ledger.StatusPosted:
						if rc != iso8583.InvalidTransaction {
							rt.Fatalf("got %s reversing a cleared authorization, want 12", rc)
						}
					}
				},
				"partial reversal": func(rt *rapid.T) {
					if len(auths) == 0 {
						rt.Skip("nothing to reverse")
					}
					a := rapid.SampledFrom(auths).Draw(rt, "original")
					keep := int64(rapid.IntRange(1, int(a.amount)).Draw(rt, "remaining"))
					m := w.reversal(a.msg)
					_ = m.SetString(iso8583.DEReplacement, fmt.Sprintf("%012d%012dC00000000C00000000", keep, keep))
					resp := w.hosts[a.bank].Handle(ctx, m)
					rc, _ := resp.ResponseCode()
					want := iso8583.Approved
					switch {
					case a.status == "":
						want = iso8583.UnableToLocateRecord
					case a.status == ledger.StatusPosted:
						want = iso8583.InvalidTransaction
					case a.status != ledger.StatusPending || keep >= a.held:
					case keep < a.refunded():
						want = iso8583.InvalidAmount // the refunds would give back more than remains
					default:
						a.held = keep
						if err := w.store.MarkReversed(ctx, netswitch.AuthID(str(a.msg, iso8583.DETerminal), str(a.msg, iso8583.DESTAN), str(a.msg, iso8583.DETransmission)), w.clock.Now(), string(rc), keep); err != nil {
							rt.Fatal(err)
						}
					}
					if rc != want {
						rt.Fatalf("got %s reversing %d (hold %q of %d, %d refunded) to %d, want %s", rc, a.amount, a.status, a.held, a.refunded(), keep, want)
					}
				},
				"reversal before its original": func(rt *rapid.T) {
					pan := rapid.SampledFrom(propCards).Draw(rt, "card")
					c := w.cardholder(pan)
					m := w.message(pan, 100)
					resp := w.hosts[c.Bank].Handle(ctx, w.reversal(m))
					if rc, _ := resp.ResponseCode(); rc != iso8583.UnableToLocateRecord {
						rt.Fatalf("got %s for the reversal of an unknown original, want 25", rc)
					}
					a := &auth{msg: m, bank: c.Bank, amount: 100, reverse: true}
					send(rt, a)
					auths = append(auths, a)
				},
				"refund": func(rt *rapid.T) {
					if len(auths) == 0 {
						rt.Skip("nothing to refund")
					}
					a := rapid.SampledFrom(auths).Draw(rt, "original")
					if a.reverse || a.acct == "" {
						rt.Skip("no original at the issuer")
					}
					left := a.refundable()
					amount := int64(rapid.IntRange(1, int(a.amount)+1).Draw(rt, "refund"))
					r := &refund{msg: w.refundMessage(a.msg, amount), amount: amount}
					resp := w.hosts[a.bank].Handle(ctx, r.msg)
					rc, _ := resp.ResponseCode()
					want := iso8583.Approved
					if amount > left {
						want = iso8583.InvalidAmount
					}
					if a.status == "" {
						want = iso8583.UnableToLocateRecord // declined: the issuer never held it
					}
					if rc != want {
						rt.Fatalf("got %s refunding %d of %d (%d left, hold %q), want %s", rc, amount, a.amount, left, a.status, want)
					}
					r.rc = string(rc)
					r.code, _ = resp.String(iso8583.DEAuthID)
					a.refunds = append(a.refunds, r)
					if rc.Approved() {
						w.recordRefund(rt, a, r)
						dates[w.clock.Now().Format("20060102")] = true
					}
				},
				"refund again": func(rt *rapid.T) {
					var done []*refund
					var of []*auth
					for _, a := range auths {
						for _, r := range a.refunds {
							done, of = append(done, r), append(of, a)
						}
					}
					if len(done) == 0 {
						rt.Skip("no refund to repeat")
					}
					i := rapid.IntRange(0, len(done)-1).Draw(rt, "refund")
					r := done[i]
					resp := w.hosts[of[i].bank].Handle(ctx, r.msg)
					rc, _ := resp.ResponseCode()
					code, _ := resp.String(iso8583.DEAuthID)
					if r.rc == "00" && (string(rc) != r.rc || code != r.code) {
						rt.Fatalf("a repeated refund got %s %s, want the first answer %s %s", rc, code, r.rc, r.code)
					}
					if r.rc != "00" && rc.Approved() && r.amount > of[i].refundable() {
						rt.Fatalf("a repeated refund beyond what is left was approved")
					}
					if r.rc != "00" && rc.Approved() {
						r.rc, r.code = "00", code // room freed since (never here: refunds only shrink what is left)
						w.recordRefund(rt, of[i], r)
					}
				},
				"clearing": func(rt *rapid.T) {
					for d := range dates {
						rep, err := clearing.Run(ctx, w.config(), d)
						if err != nil {
							rt.Fatal(err)
						}
						if rep.Network != 0 || len(rep.RefundFlags()) != 0 {
							rt.Fatalf("clearing of %s: network position %d, %d refunds flagged; want 0 and 0", d, rep.Network, len(rep.RefundFlags()))
						}
						var net int64
						for _, l := range rep.Banks {
							net += l.Net
						}
						for _, l := range rep.Acquirers {
							net += l.Net
						}
						if net != 0 {
							rt.Fatalf("clearing of %s: positions sum to %d, want 0", d, net)
						}
					}
					for _, a := range auths {
						if a.status == ledger.StatusPending {
							a.status = ledger.StatusPosted
						}
					}
				},
				"expiry": func(rt *rapid.T) {
					w.clock.Advance(2 * time.Hour)
					if _, err := w.led.ExpirePending(ctx, w.clock.Now()); err != nil {
						rt.Fatal(err)
					}
					for _, a := range auths {
						if a.status == ledger.StatusPending {
							a.status = ledger.StatusExpired
						}
					}
				},
				"": check,
			})
		})
	})
}

func str(m *iso8583.Message, de int) string {
	v, _ := m.String(de)
	return v
}

// promoRefund is one refund of a discounted (or full-price) purchase in
// TestConservationPromotions, as the switch split it.
type promoRefund struct {
	id       string
	of       *discounted
	gross    int64              // what the merchant gives back
	cardPart int64              // what the card holder gets: the issuer's credit
	split    *promo.RefundSplit // nil for a full-price purchase
}

// TestConservationPromotions drives random purchases with instant,
// statement-credit and points redemptions (funded by the network, the
// card's bank, another bank and the merchant), full and partial reversals
// (the switch's rule: the discount stands while 1 fen is left to charge),
// refunds split as the switch splits them (some restored by the switch,
// some left to clearing), issuer holds expiring, and clearing runs of
// every date again and again, through the issuer hosts and a
// promo.MemStore. After each clearing it checks that every position sums
// to zero and matches the model's (the card's bank pays the net and its
// issuer shares, the acquirer is paid the gross less the merchant's
// shares, the network its shares, refunds the other way round), that
// merchant gross = card net + Σ shares on every presentment, that each
// promotion hold is posted once however many runs (and never for a
// flagged presentment), and that each budget spent and restored what the
// holds and refunds say.
func TestConservationPromotions(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		ctx := context.Background()
		recs := newPromoRecords(w.store)
		postedOnce := map[string]bool{}
		var seen promoSeen
		rapid.Check(t, func(rt *rapid.T) {
			// Each check has budgets of its own.
			st := promo.NewMemStore()
			if err := st.Save(ctx, testCampaigns); err != nil {
				rt.Fatal(err)
			}
			cfg := w.config()
			cfg.Store, cfg.Promotions = recs, st
			// Each check clears days of its own: the next morning.
			now := w.clock.Now()
			w.clock.Advance(time.Date(now.Year(), now.Month(), now.Day()+1, 9, 0, 0, 0, time.UTC).Sub(now))
			if _, err := w.led.ExpirePending(ctx, w.clock.Now()); err != nil {
				rt.Fatal(err)
			}
			var ds []*discounted
			byID := map[string]*discounted{}
			var refunds []*promoRefund
			refundByID := map[string]*promoRefund{}
			refundsOf := map[*discounted][]*promoRefund{}
			refundedGross := map[*discounted]int64{}
			dates := map[string]bool{}

			pick := func(rt *rapid.T, ok func(d *discounted) bool) *discounted {
				var in []*discounted
				for _, d := range ds {
					if ok(d) {
						in = append(in, d)
					}
				}
				if len(in) == 0 {
					rt.Skip("no purchase to act on")
				}
				return rapid.SampledFrom(in).Draw(rt, "purchase")
			}
			// setPromo records the redemption as the switch leaves it.
			setPromo := func(rt *rapid.T, d *discounted, r *promo.Redemption, voided bool) {
				if voided {
					if _, err := st.Void(ctx, d.id); err != nil {
						rt.Fatalf("voiding %s: %v", d.id, err)
					}
				}
				d.promo = r
				recs.set(d.id, parOf(propCardOf(w, d)), r)
			}
			reverse := func(rt *rapid.T, d *discounted, remaining, issuerKeep int64) {
				m := w.reversal(d.msg)
				if remaining > 0 {
					_ = m.SetString(iso8583.DEReplacement, fmt.Sprintf("%012d%012dC00000000C00000000", issuerKeep, issuerKeep))
				}
				if rc, _ := w.hosts[d.bank].Handle(ctx, m).ResponseCode(); rc != iso8583.Approved {
					rt.Fatalf("got %s reversing a pending hold of %d to %d, want 00", rc, d.held, issuerKeep)
				}
				if err := w.store.MarkReversed(ctx, d.id, w.clock.Now(), "00", remaining); err != nil {
					rt.Fatal(err)
				}
				d.clear = remaining
				if remaining > 0 && d.promo != nil {
					seen.PartialKept++
				}
				if remaining == 0 {
					d.status = ledger.StatusVoided
				} else {
					d.held = issuerKeep
				}
			}

			rt.Repeat(map[string]func(*rapid.T){
				"purchase": func(rt *rapid.T) {
					pan := rapid.SampledFrom(propCards).Draw(rt, "card")
					gross := int64(rapid.IntRange(2, 1500).Draw(rt, "gross"))
					var c *promo.Campaign
					var discount int64
					if id := rapid.SampledFrom([]string{"", "t-three", "t-merchant", "t-credit", "t-points"}).Draw(rt, "campaign"); id != "" {
						c = testCampaign(id)
						discount = int64(rapid.IntRange(1, int(gross)-1).Draw(rt, "discount"))
					}
					d := w.purchase(rt, recs, st, pan, gross, c, discount)
					if d.rc == "00" {
						ds = append(ds, d)
						byID[d.id] = d
						dates[d.date] = true
					} else if c != nil {
						if h, err := st.Hold(ctx, d.id); err != nil || h.Status != promo.HoldVoided {
							rt.Fatalf("a declined purchase's hold: got %s %v, want voided", h.Status, err)
						}
					}
				},
				"reversal": func(rt *rapid.T) {
					d := pick(rt, func(d *discounted) bool { return d.status == ledger.StatusPending && len(refundsOf[d]) == 0 })
					if d.promo != nil {
						setPromo(rt, d, nil, true)
					}
					reverse(rt, d, 0, 0)
				},
				"partial reversal": func(rt *rapid.T) {
					d := pick(rt, func(d *discounted) bool {
						return d.status == ledger.StatusPending && len(refundsOf[d]) == 0 && d.clear >= 2
					})
					r := int64(rapid.IntRange(1, int(d.clear)-1).Draw(rt, "remaining"))
					keep, p := r, d.promo
					switch {
					case p == nil:
					case p.Fulfilment == promo.FulfilInstant && r-p.Discount >= 1:
						keep = r - p.Discount
						np := *p
						np.Gross, np.Net = r, r-p.Discount
						setPromo(rt, d, &np, false)
					case p.Fulfilment != promo.FulfilInstant && r > p.Discount:
						np := *p
						np.Gross, np.Net = r, r
						setPromo(rt, d, &np, false)
					default:
						if r >= d.held {
							rt.Skip("the switch answers 13: the issuer's hold cannot grow")
						}
						setPromo(rt, d, nil, true)
					}
					reverse(rt, d, r, keep)
				},
				"refund": func(rt *rapid.T) {
					d := pick(rt, func(d *discounted) bool {
						return (d.status == ledger.StatusPending || d.status == ledger.StatusPosted) && d.clear-refundedGross[d] >= 1
					})
					amount := int64(rapid.IntRange(1, int(d.clear-refundedGross[d])).Draw(rt, "refund"))
					rf := &promoRefund{of: d, gross: amount, cardPart: amount}
					var pr *netswitch.PromoRefund
					if d.promo != nil {
						split, err := d.promo.Refund(refundedGross[d], amount, promo.RefundRestore)
						if err != nil {
							rt.Fatalf("splitting a refund of %d after %d of %+v: %v", amount, refundedGross[d], d.promo, err)
						}
						rf.split, rf.cardPart = &split, split.CardHolder
						pr = &netswitch.PromoRefund{Campaign: d.promo.Campaign, HoldID: d.id, Split: split}
					}
					if rf.cardPart < 0 {
						// promo's split of a refund after clearing can
						// give the funders more than the refund (1 fen
						// refunded, two funders' parts rounded up to 1
						// each): such a refund cannot reach the issuer.
						return
					}
					m := w.refundMessage(d.msg, max(rf.cardPart, 1))
					rf.id = netswitch.AuthID(str(m, iso8583.DETerminal), str(m, iso8583.DESTAN), str(m, iso8583.DETransmission))
					code := "FUNDER"
					if rf.cardPart > 0 {
						resp := w.hosts[d.bank].Handle(ctx, m)
						rc, _ := resp.ResponseCode()
						if rf.cardPart > d.held-d.refunded() {
							// The split gives the card holder the fen the
							// funders' parts round away, which a tiny net
							// cannot take: the issuer refuses more than it
							// holds, and the refund is declined.
							if rc != iso8583.InvalidAmount {
								rt.Fatalf("got %s refunding %d to the card, %d left of its %d, want 13", rc, rf.cardPart, d.held-d.refunded(), d.held)
							}
							return
						}
						if rc != iso8583.Approved {
							rt.Fatalf("got %s refunding %d to the card (%d of the purchase's %d), want 00", rc, rf.cardPart, amount, d.clear)
						}
						code = str(resp, iso8583.DEAuthID)
						d.refunds = append(d.refunds, &refund{msg: m, amount: rf.cardPart, rc: "00", code: code})
					}
					if pr != nil && (pr.Split.Restore > 0 || pr.Split.RestoreCount) {
						// The switch restores the budget when the hold is
						// posted; clearing does it otherwise.
						_, err := st.Refund(ctx, d.id, rf.id, pr.Split)
						switch {
						case err == nil:
							pr.Restored = true
						case !errors.Is(err, promo.ErrHoldResolved):
							rt.Fatalf("restoring a refund: %v", err)
						}
					}
					now := w.clock.Now()
					rec := netswitch.Refund{ID: rf.id, OriginalID: d.id, Acquirer: "48021000", Terminal: str(m, iso8583.DETerminal), STAN: str(m, iso8583.DESTAN),
						Transmission: str(m, iso8583.DETransmission), RRN: str(m, iso8583.DERRN), Merchant: testMerchant, LocalDate: str(m, iso8583.DELocalDate),
						LocalTime: str(m, iso8583.DELocalTime), Token: testToken, PANLast4: "0000", BankID: d.bank, Amount: money.Fen(amount), AuthCode: code,
						ResponseCode: iso8583.Approved, BusinessDate: now.Format("20060102"), ReceivedAt: now, AnsweredAt: now, Promo: pr}
					if err := w.store.SaveRefund(ctx, rec); err != nil {
						rt.Fatalf("saving the refund: %v", err)
					}
					refundedGross[d] += amount
					refunds = append(refunds, rf)
					refundByID[rf.id] = rf
					refundsOf[d] = append(refundsOf[d], rf)
					dates[rec.BusinessDate] = true
				},
				"expiry": func(rt *rapid.T) {
					w.clock.Advance(2 * time.Hour)
					if _, err := w.led.ExpirePending(ctx, w.clock.Now()); err != nil {
						rt.Fatal(err)
					}
					for _, d := range ds {
						if d.status == ledger.StatusPending {
							d.status = ledger.StatusExpired
						}
					}
				},
				"clearing": func(rt *rapid.T) {
					var order []string
					for d := range dates {
						order = append(order, d)
					}
					sort.Strings(order) // a purchase's date before its refunds'
					for _, date := range order {
						rep, err := clearing.Run(ctx, cfg, date)
						if err != nil {
							rt.Fatal(err)
						}
						checkPromoRun(rt, rep, byID, refundByID, postedOnce, st)
						seen.add(rep)
					}
					for _, d := range ds {
						if d.status == ledger.StatusPending {
							d.status = ledger.StatusPosted
						}
					}
					checkBudgets(rt, st, ds, refundsOf)
				},
				"": func(rt *rapid.T) {
					var sumD, sumC int64
					for _, b := range w.balances(rt) {
						sumD, sumC = sumD+b.dp+b.dpo, sumC+b.cp+b.cpo
					}
					if sumD != sumC {
						rt.Fatalf("the books do not balance: %d debits vs %d credits", sumD, sumC)
					}
				},
			})
		})
		t.Logf("%+v", seen)
		if seen.Discounted == 0 || seen.RefundsSplit == 0 || seen.HoldsPosted == 0 || seen.Flagged == 0 || seen.PartialKept == 0 {
			t.Errorf("the property did not reach every case: %+v", seen)
		}
	})
}

// promoSeen counts what TestConservationPromotions's clearing runs saw.
type promoSeen struct {
	Runs, Discounted, Instant, Credit, Points, MerchantFunded, Flagged, HoldsPosted, HoldsAlready int
	RefundsSplit, RefundsNoIssuer, RestoredByClearing, PartialKept                                int
}

func (s *promoSeen) add(rep clearing.Report) {
	s.Runs++
	s.HoldsPosted += rep.PromoHolds.Posted
	s.HoldsAlready += rep.PromoHolds.AlreadyPosted
	s.RestoredByClearing += rep.PromoHolds.Restored
	for _, it := range rep.Items {
		if it.Outcome == clearing.Flagged {
			s.Flagged++
		}
		if it.Promo == nil {
			continue
		}
		s.Discounted++
		switch it.Promo.Fulfilment {
		case promo.FulfilInstant:
			s.Instant++
		case promo.FulfilStatementCredit:
			s.Credit++
		default:
			s.Points++
		}
		for _, sh := range it.Promo.Shares {
			if sh.Kind == promo.FunderMerchant {
				s.MerchantFunded++
			}
		}
	}
	for _, it := range rep.Refunds {
		if it.Promo != nil {
			s.RefundsSplit++
			if it.Amount == 0 {
				s.RefundsNoIssuer++
			}
		}
	}
}

// propCardOf returns the card number a purchase was made with.
func propCardOf(w *world, d *discounted) string {
	pan, _ := d.msg.String(iso8583.DEPAN)
	return pan
}

// checkPromoRun checks one clearing run against the model.
func checkPromoRun(rt *rapid.T, rep clearing.Report, byID map[string]*discounted, refundByID map[string]*promoRefund, postedOnce map[string]bool, st promo.Store) {
	ctx := context.Background()
	if rep.Network != 0 || positions(rep) != 0 {
		rt.Fatalf("clearing of %s: network %d, positions sum to %d; want 0 and 0", rep.Date, rep.Network, positions(rep))
	}
	if len(rep.RefundFlags()) != 0 {
		rt.Fatalf("clearing of %s: refunds flagged %+v", rep.Date, rep.RefundFlags())
	}
	want := map[string]int64{}
	var acq, network int64
	share := func(p []promo.Share, sign int64) (merchant int64) {
		for _, s := range p {
			switch s.Kind {
			case promo.FunderIssuer:
				want[s.Party] += sign * s.Amount
			case promo.FunderNetwork:
				network += sign * s.Amount
			case promo.FunderMerchant:
				merchant += s.Amount
			}
		}
		return merchant
	}
	for _, it := range rep.Items {
		d := byID[it.AuthID]
		if d == nil {
			rt.Fatalf("clearing of %s presented %s, not a purchase of the model", rep.Date, it.AuthID)
		}
		if d.status == ledger.StatusExpired {
			if it.Outcome != clearing.Flagged || it.PromoHold != "" {
				rt.Fatalf("an expired hold's presentment: got %s, promotion hold %q; want flagged, not posted", it.Outcome, it.PromoHold)
			}
			if d.promo != nil {
				if h, _ := st.Hold(ctx, d.id); h.Status != promo.HoldPending {
					rt.Fatalf("a flagged presentment's promotion hold is %s, want pending", h.Status)
				}
			}
			continue
		}
		if !it.Outcome.Done() || it.Amount != d.held {
			rt.Fatalf("presentment of %s: got %s for %d, want posted for %d (the issuer's hold)", it.AuthID, it.Outcome, it.Amount, d.held)
		}
		want[d.bank] -= d.held
		if d.promo == nil {
			if it.Promo != nil {
				rt.Fatalf("a purchase without promotion presented with %+v", it.Promo)
			}
			acq += d.clear
			continue
		}
		p := it.Promo
		var shares int64
		for _, s := range p.Shares {
			shares += s.Amount
		}
		wantGross := it.Amount
		if p.Fulfilment == promo.FulfilInstant {
			wantGross += shares // merchant gross = card net + Σ shares
		}
		if p.Gross != d.clear || p.Gross != wantGross || p.Campaign != d.promo.Campaign {
			rt.Fatalf("presentment of %s: got gross %d net %d shares %d, want gross %d", it.AuthID, p.Gross, it.Amount, shares, d.clear)
		}
		switch it.PromoHold {
		case clearing.HoldPosted:
			if postedOnce[d.id] {
				rt.Fatalf("the promotion hold of %s was posted twice", d.id)
			}
			postedOnce[d.id] = true
		case clearing.HoldAlreadyPosted:
			if !postedOnce[d.id] {
				rt.Fatalf("the promotion hold of %s is said posted before, but no run posted it", d.id)
			}
		default:
			rt.Fatalf("the promotion hold of a posted presentment: got %q", it.PromoHold)
		}
		m := share(d.promo.Shares, -1)
		acq += d.clear - m
		if p.Fulfilment != promo.FulfilInstant {
			want[d.bank] += d.promo.Discount
		}
	}
	for _, it := range rep.Refunds {
		rf := refundByID[it.RefundID]
		if rf == nil || it.Outcome != clearing.Credited || it.Amount != rf.cardPart {
			rt.Fatalf("refund %s: got %s of %d, want credited %+v", it.RefundID, it.Outcome, it.Amount, rf)
		}
		want[rf.of.bank] += rf.cardPart
		m := int64(0)
		if rf.split != nil {
			m = share(rf.split.Shares, +1)
		}
		acq -= rf.gross - m
	}
	for _, l := range rep.Banks {
		if l.Net != want[l.Bank] {
			rt.Fatalf("clearing of %s: %s's position is %d, the model's %d (%+v)", rep.Date, l.Bank, l.Net, want[l.Bank], l)
		}
		delete(want, l.Bank)
	}
	for bank, n := range want {
		if n != 0 {
			rt.Fatalf("clearing of %s: %s has no line, the model's position is %d", rep.Date, bank, n)
		}
	}
	var gotAcq int64
	for _, l := range rep.Acquirers {
		gotAcq += l.Net
	}
	if gotAcq != acq || rep.Promotion != network {
		rt.Fatalf("clearing of %s: acquirer %d, network promotions %d; the model's %d and %d", rep.Date, gotAcq, rep.Promotion, acq, network)
	}
	if s := rep.Promotions; s != nil && s.Gross != s.CardNet+s.Discounts {
		rt.Fatalf("settlement: gross %d ≠ card net %d + discounts %d", s.Gross, s.CardNet, s.Discounts)
	}
}

// checkBudgets checks, after every date was cleared, each promotion hold
// and each campaign's budget against the model: a posted purchase's hold
// is posted and has had every refund's part restored once; the budgets
// spent what the posted holds took less what refunds restored, and hold
// what the pending ones reserve.
func checkBudgets(rt *rapid.T, st promo.Store, ds []*discounted, refundsOf map[*discounted][]*promoRefund) {
	ctx := context.Background()
	spent, reserved := map[string]int64{}, map[string]int64{}
	for _, d := range ds {
		if d.promo == nil {
			continue
		}
		h, err := st.Hold(ctx, d.id)
		if err != nil {
			rt.Fatal(err)
		}
		var restored int64
		for _, rf := range refundsOf[d] {
			if rf.split != nil {
				restored += rf.split.Restore
			}
		}
		switch d.status {
		case ledger.StatusPosted:
			if h.Status != promo.HoldPosted || h.Refunded != restored {
				rt.Fatalf("hold %s: got %s with %d restored, want posted with %d", d.id, h.Status, h.Refunded, restored)
			}
			spent[h.Campaign] += h.Amount - restored
		default:
			if h.Status != promo.HoldPending || h.Refunded != 0 {
				rt.Fatalf("hold %s of a purchase not posted: got %s with %d restored, want pending", d.id, h.Status, h.Refunded)
			}
			reserved[h.Campaign] += h.Amount
		}
	}
	for _, c := range testCampaigns {
		u, err := st.Usage(ctx, c.ID)
		if err != nil {
			rt.Fatal(err)
		}
		if u.Spent != spent[c.ID] || u.Reserved != reserved[c.ID] {
			rt.Fatalf("%s: got %d spent and %d reserved, want %d and %d", c.ID, u.Spent, u.Reserved, spent[c.ID], reserved[c.ID])
		}
	}
}
