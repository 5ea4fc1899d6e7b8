package clearing_test

import (
	"context"
	"fmt"
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
