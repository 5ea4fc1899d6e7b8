package netswitch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	"github.com/tapwallet/tapwallet/promo"
	promostore "github.com/tapwallet/tapwallet/promo/sqlstore"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// testCampaigns: ICBC's ¥10 off ¥50 (ICBC 70 %, the network 30 %; a
// budget of two), the network's ¥5 off ¥50 for every bank (the next
// best), and a forfeit one for BOC.
const testCampaigns = `{"campaigns": [
 {"id": "icbc-10", "name": {"zh": "工行满50减10", "en": "ICBC: ¥10 off ¥50"}, "owner": "icbc",
  "funders": [{"kind": "issuer", "share_bp": 7000}, {"kind": "network", "share_bp": 3000}],
  "window": {"start": "2020-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z"}, "channels": ["nfc"],
  "eligibility": {"banks": ["icbc"]}, "mechanic": {"kind": "fixed", "threshold": "50.00", "amount": "10.00"},
  "limits": {}, "budget": "20.00", "enrolment": "auto", "fulfilment": "instant"},
 {"id": "net-5", "name": {"zh": "银联满50减5", "en": "Network: ¥5 off ¥50"}, "owner": "network",
  "funders": [{"kind": "network", "share_bp": 10000}],
  "window": {"start": "2020-01-01T00:00:00Z", "end": "2098-01-01T00:00:00Z"}, "channels": ["nfc"],
  "eligibility": {"banks": ["icbc", "ccb"]}, "mechanic": {"kind": "fixed", "threshold": "50.00", "amount": "5.00"},
  "limits": {}, "budget": "1000.00", "enrolment": "auto", "fulfilment": "instant"},
 {"id": "boc-forfeit", "name": {"zh": "中行新客立减", "en": "BOC new card holders"}, "owner": "boc",
  "funders": [{"kind": "issuer", "party": "boc", "share_bp": 10000}],
  "window": {"start": "2020-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z"}, "channels": ["nfc"],
  "eligibility": {"banks": ["boc"], "new_card_holder": true}, "mechanic": {"kind": "fixed", "threshold": "20.00", "amount": "8.00"},
  "limits": {"card_count": 1}, "budget": "100.00", "enrolment": "auto", "fulfilment": "instant", "refund_rule": "forfeit"},
 {"id": "abc-halves", "name": {"zh": "农行满3减2", "en": "ABC: ¥2 off ¥3"}, "owner": "abc",
  "funders": [{"kind": "issuer", "party": "abc", "share_bp": 5000}, {"kind": "network", "share_bp": 5000}],
  "window": {"start": "2020-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z"}, "channels": ["nfc"],
  "eligibility": {"banks": ["abc"]}, "mechanic": {"kind": "fixed", "threshold": "3.00", "amount": "2.00"},
  "limits": {}, "budget": "100.00", "enrolment": "auto", "fulfilment": "instant"}
]}`

// abcDebit is ABC's debit card (¥3,000.00, docs/test-cards.md).
const abcDebit = "6228480000000000000"

// eachPromoMode runs fn on SQLite and PostgreSQL (sqldbtest.Each) with
// the holds stored before the issuer is asked ("stored_first", several
// network processes) and decided in memory and stored while the issuer
// is asked ("ahead", promo.Mirror: one network process).
func eachPromoMode(t *testing.T, fn func(t *testing.T, db *sqldb.DB, ahead bool)) {
	for _, ahead := range []bool{false, true} {
		name := "stored_first"
		if ahead {
			name = "ahead"
		}
		t.Run(name, func(t *testing.T) {
			sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) { fn(t, db, ahead) })
		})
	}
}

// newPromotions is the switch's promotions over st with the campaigns cs,
// with a promo.Mirror when ahead (settle(st) has it store what it decided
// before the test reads st).
func newPromotions(st promo.MirrorStore, cs []promo.Campaign, ahead bool) *netswitch.StorePromotions {
	p := netswitch.NewPromotions(st, cs)
	if ahead {
		p.Ahead = promo.NewMirror(st)
		mirrorsMu.Lock()
		mirrors[st] = p.Ahead
		mirrorsMu.Unlock()
	}
	return p
}

var (
	mirrorsMu sync.Mutex
	mirrors   = map[promo.MirrorStore]*promo.Mirror{}
)

// settle has the mirror over st, if any, store every hold it decided (its
// committer gathers them for promo.MirrorGather), as the platform's
// readers do (promo.SettledStore).
func settle(st promo.MirrorStore) {
	mirrorsMu.Lock()
	m := mirrors[st]
	mirrorsMu.Unlock()
	if m != nil {
		m.Settle()
	}
}

// noHold is holdStatus's answer for an id the store has no hold of.
const noHold promo.HoldStatus = "none"

// released reports whether a hold ended released: voided — or, with the
// mirror, never stored (taken back from its queue before its commit).
func released(s promo.HoldStatus, ahead bool) bool {
	return s == promo.HoldVoided || (ahead && s == noHold)
}

// promoEnv is env with the test campaigns in a promo.MemStore.
func promoEnv(t *testing.T, db *sqldb.DB, ahead bool) (*env, *promo.MemStore) {
	t.Helper()
	cs, err := promo.ParseFile(strings.NewReader(testCampaigns))
	if err != nil {
		t.Fatal(err)
	}
	st := promo.NewMemStore()
	if err := st.Save(context.Background(), cs); err != nil {
		t.Fatal(err)
	}
	p := newPromotions(st, cs, ahead)
	return newEnv(t, db, func(c *netswitch.Config) { c.Promotions = p }), st
}

func authIDOf(m *iso8583.Message) string {
	return netswitch.AuthID(str(m, iso8583.DETerminal), str(m, iso8583.DESTAN), str(m, iso8583.DETransmission))
}

func usage(t *testing.T, st *promo.MemStore, id string) promo.Usage {
	t.Helper()
	settle(st)
	u, err := st.Usage(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func holdStatus(t *testing.T, st *promo.MemStore, id string) promo.HoldStatus {
	t.Helper()
	settle(st)
	h, err := st.Hold(context.Background(), id)
	if errors.Is(err, promo.ErrNoHold) {
		return noHold
	}
	if err != nil {
		t.Fatalf("promotion hold %s: %v", id, err)
	}
	return h.Status
}

// TestPromoDiscountedPurchase: ICBC's ¥10 off a ¥100 tap over TCP — the
// issuer holds ¥90, the 0110 echoes ¥100 with DE124 (campaign, gross,
// discount, the Chinese name), the record keeps the PAR and the
// redemption (shares 7.00 ICBC, 3.00 network), a retransmission reserves
// nothing more, the budget of two runs out exactly and the third tap gets
// the next best campaign (¥5), and no card number is in DE124 or the
// record's promotion.
func TestPromoDiscountedPurchase(t *testing.T) {
	eachPromoMode(t, func(t *testing.T, db *sqldb.DB, ahead bool) {
		e, st := promoEnv(t, db, ahead)
		ctx := context.Background()
		c := e.phone(t, icbcDebit).Cards[0]

		req := e.auth(t, c, 10000, nettest.Tap{})
		resp := e.send(t, req)
		if got := rcOf(resp); got != "00" {
			t.Fatalf("got %s, want 00 (logs: %s)", got, e.logs)
		}
		if got, _ := resp.Number(iso8583.DEAmount); got != 10000 {
			t.Errorf("0110 DE4 %d, want the gross 10000", got)
		}
		pd, err := resp.PromotionData()
		if err != nil {
			t.Fatalf("0110 DE124: %v", err)
		}
		if pd.Campaign != "icbc-10" || pd.Gross != 10000 || pd.Discount != 1000 || pd.Name != "工行满50减10" || len(pd.Funders) != 0 || pd.Fulfilment != iso8583.PromoInstant {
			t.Errorf("0110 DE124 %+v, want icbc-10, 10000, 1000, instant, the zh name, no funders", pd)
		}
		hold, err := e.holdOf(t, "icbc", req)
		if err != nil || hold.Amount != 9000 || hold.Status != ledger.StatusPending {
			t.Fatalf("issuer hold %d %s (%v), want 9000 pending", hold.Amount, hold.Status, err)
		}
		rec, err := e.store.Auth(ctx, authIDOf(req))
		if err != nil {
			t.Fatal(err)
		}
		if rec.PAR == "" || rec.Promo == nil {
			t.Fatalf("record PAR %q promo %+v, want both", rec.PAR, rec.Promo)
		}
		p := rec.Promo
		if p.Campaign != "icbc-10" || p.Gross != 10000 || p.Net != 9000 || p.Discount != 1000 || p.Identity != rec.ID || p.CardBank != "icbc" ||
			len(p.Shares) != 2 || p.Shares[0] != (promo.Share{Kind: promo.FunderIssuer, Party: "icbc", Amount: 700}) ||
			p.Shares[1] != (promo.Share{Kind: promo.FunderNetwork, Party: "network", Amount: 300}) {
			t.Errorf("record promo %+v, want icbc-10 10000/9000/1000 shares icbc 700 network 300", p)
		}
		if err := p.Check(); err != nil {
			t.Error(err)
		}
		if rec.Amount.Minor != 10000 || rec.ClearAmount != 10000 {
			t.Errorf("record amount %d clear %d, want the gross 10000", rec.Amount.Minor, rec.ClearAmount)
		}
		de124, _ := resp.Bytes(iso8583.DEPromotionData)
		pj, _ := json.Marshal(rec.Promo)
		for _, where := range []string{string(de124), string(pj), rec.PAR} {
			if strings.Contains(where, icbcDebit) || strings.Contains(where, icbcDebit[6:]) {
				t.Errorf("a card number in %q", where)
			}
		}
		if u := usage(t, st, "icbc-10"); u.Reserved != 1000 || u.ReservedCount != 1 {
			t.Errorf("icbc-10 reserved %d (%d), want 1000 (1)", u.Reserved, u.ReservedCount)
		}

		t.Run("a retransmission reserves nothing more", func(t *testing.T) {
			again := e.send(t, req)
			a, _ := resp.Pack()
			b, _ := again.Pack()
			if string(a) != string(b) {
				t.Errorf("got %s, want the first answer %s", again.Describe(), resp.Describe())
			}
			if u := usage(t, st, "icbc-10"); u.Reserved != 1000 || u.ReservedCount != 1 {
				t.Errorf("icbc-10 reserved %d (%d) after the retransmission, want 1000 (1)", u.Reserved, u.ReservedCount)
			}
		})
		t.Run("the budget runs out exactly, then the next best", func(t *testing.T) {
			second := e.auth(t, c, 5000, nettest.Tap{})
			if pd, err := e.send(t, second).PromotionData(); err != nil || pd.Campaign != "icbc-10" || pd.Discount != 1000 {
				t.Fatalf("second tap: %+v %v, want icbc-10 1000", pd, err)
			}
			if u := usage(t, st, "icbc-10"); u.Reserved != 2000 || u.Remaining() != 0 {
				t.Errorf("icbc-10 reserved %d remaining %d, want 2000 and 0", u.Reserved, u.Remaining())
			}
			third := e.auth(t, c, 5000, nettest.Tap{})
			resp := e.send(t, third)
			if pd, err := resp.PromotionData(); rcOf(resp) != "00" || err != nil || pd.Campaign != "net-5" || pd.Discount != 500 {
				t.Fatalf("third tap: %s %+v %v, want 00 net-5 500", rcOf(resp), pd, err)
			}
			if hold, err := e.holdOf(t, "icbc", third); err != nil || hold.Amount != 4500 {
				t.Errorf("third tap held %d (%v), want 4500", hold.Amount, err)
			}
		})
		t.Run("below every threshold: no DE124, the gross held", func(t *testing.T) {
			small := e.auth(t, c, 4999, nettest.Tap{})
			resp := e.send(t, small)
			if rcOf(resp) != "00" || resp.Has(iso8583.DEPromotionData) {
				t.Fatalf("got %s with DE124 %v, want 00 without", rcOf(resp), resp.Has(iso8583.DEPromotionData))
			}
			if hold, _ := e.holdOf(t, "icbc", small); hold.Amount != 4999 {
				t.Errorf("held %d, want 4999", hold.Amount)
			}
			rec, _ := e.store.Auth(ctx, authIDOf(small))
			if rec.Promo != nil || rec.PAR == "" {
				t.Errorf("record promo %+v PAR %q, want none and the PAR", rec.Promo, rec.PAR)
			}
		})
	})
}

// TestPromoDeclineAndReversals: a decline voids the hold; a full reversal
// voids it and the issuer's hold of the net; a partial reversal keeps the
// discount while what remains leaves at least 1 fen to charge (the
// issuer keeps remaining − discount), else voids it and the issuer keeps
// what remains.
func TestPromoDeclineAndReversals(t *testing.T) {
	eachPromoMode(t, func(t *testing.T, db *sqldb.DB, ahead bool) {
		e, st := promoEnv(t, db, ahead)
		ctx := context.Background()

		t.Run("a decline voids the hold", func(t *testing.T) {
			low := e.phone(t, ccbLow).Cards[0] // ¥10.00 on the card
			req := e.auth(t, low, 6000, nettest.Tap{})
			if got := rcOf(e.send(t, req)); got != "51" {
				t.Fatalf("got %s, want 51", got)
			}
			if s := holdStatus(t, st, authIDOf(req)); !released(s, ahead) {
				t.Errorf("promotion hold %s, want voided", s)
			}
			if u := usage(t, st, "net-5"); u.Reserved != 0 || u.ReservedCount != 0 {
				t.Errorf("net-5 reserved %d (%d), want nothing", u.Reserved, u.ReservedCount)
			}
			if rec, _ := e.store.Auth(ctx, authIDOf(req)); rec.Promo != nil {
				t.Errorf("declined record keeps promo %+v", rec.Promo)
			}
		})

		c := e.phone(t, ccbDebit).Cards[0]
		t.Run("a full reversal voids the hold", func(t *testing.T) {
			req := e.auth(t, c, 10000, nettest.Tap{})
			if got := rcOf(e.send(t, req)); got != "00" {
				t.Fatalf("got %s, want 00", got)
			}
			rev, err := e.term.Reversal(req, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if got := rcOf(e.send(t, rev)); got != "00" {
				t.Fatalf("reversal: got %s, want 00", got)
			}
			if s := holdStatus(t, st, authIDOf(req)); !released(s, ahead) {
				t.Errorf("promotion hold %s, want voided", s)
			}
			if hold, _ := e.holdOf(t, "ccb", req); hold.Status != ledger.StatusVoided || hold.Amount != 9500 {
				t.Errorf("issuer hold %d %s, want 9500 voided", hold.Amount, hold.Status)
			}
			if u := usage(t, st, "net-5"); u.Reserved != 0 {
				t.Errorf("net-5 reserved %d after the reversal, want 0", u.Reserved)
			}
		})
		t.Run("a partial reversal keeps the discount, then voids it", func(t *testing.T) {
			req := e.auth(t, c, 10000, nettest.Tap{})
			if got := rcOf(e.send(t, req)); got != "00" {
				t.Fatalf("got %s, want 00", got)
			}
			id := authIDOf(req)
			// To 60.00: 55.00 charged, the ¥5 stands.
			if got := rcOf(e.send(t, e.partialReversal(t, req, 6000))); got != "00" {
				t.Fatalf("partial reversal to 60.00: got %s, want 00 (logs: %s)", got, e.logs)
			}
			if cur := e.currentHold(t, "ccb", req); cur.Amount != 5500 || cur.Status != ledger.StatusPending {
				t.Errorf("issuer holds %d %s, want 5500 pending", cur.Amount, cur.Status)
			}
			rec, _ := e.store.Auth(ctx, id)
			if rec.ClearAmount != 6000 || rec.Promo == nil || rec.Promo.Gross != 6000 || rec.Promo.Net != 5500 || rec.Promo.Discount != 500 {
				t.Errorf("record clear %d promo %+v, want 6000 and 6000/5500/500", rec.ClearAmount, rec.Promo)
			}
			if err := rec.Promo.Check(); err != nil {
				t.Error(err)
			}
			if s := holdStatus(t, st, id); s != promo.HoldPending {
				t.Errorf("promotion hold %s, want pending", s)
			}
			// To 5.00: 5.00 − 5.00 leaves nothing to charge: the discount goes.
			if got := rcOf(e.send(t, e.partialReversal(t, req, 500))); got != "00" {
				t.Fatalf("partial reversal to 5.00: got %s, want 00 (logs: %s)", got, e.logs)
			}
			if cur := e.currentHold(t, "ccb", req); cur.Amount != 500 || cur.Status != ledger.StatusPending {
				t.Errorf("issuer holds %d %s, want 500 pending", cur.Amount, cur.Status)
			}
			if s := holdStatus(t, st, id); !released(s, ahead) {
				t.Errorf("promotion hold %s, want voided", s)
			}
			rec, _ = e.store.Auth(ctx, id)
			if rec.ClearAmount != 500 || rec.Promo != nil {
				t.Errorf("record clear %d promo %+v, want 500 and none", rec.ClearAmount, rec.Promo)
			}
		})
	})
}

// currentHold is the issuer's hold standing for an authorization now.
func (e *env) currentHold(t *testing.T, bankID string, m *iso8583.Message) ledger.Transfer {
	t.Helper()
	first, err := e.holdOf(t, bankID, m)
	if err != nil {
		t.Fatal(err)
	}
	cur := first
	for cur.Status == ledger.StatusVoided {
		next, err := e.ledger.LookupTransfer(context.Background(), "reduced|"+cur.ID)
		if err != nil {
			break
		}
		cur = next
	}
	return cur
}

// TestPromoRefunds: refunds of a discounted purchase split by the
// redemption — the issuer credits the card holder's part (DE4) — and the
// budget takes back the funders' part under "restore" (the count with the
// refund that completes it), nothing under "forfeit"; a refund before the
// purchase cleared credits the card and leaves the budget to clearing.
func TestPromoRefunds(t *testing.T) {
	eachPromoMode(t, func(t *testing.T, db *sqldb.DB, ahead bool) {
		e, st := promoEnv(t, db, ahead)
		ctx := context.Background()
		c := e.phone(t, icbcDebit).Cards[0]
		req := e.auth(t, c, 10000, nettest.Tap{})
		if got := rcOf(e.send(t, req)); got != "00" {
			t.Fatalf("got %s, want 00", got)
		}
		id := authIDOf(req)
		settle(st)
		if _, err := st.Post(ctx, id); err != nil { // clearing presented it
			t.Fatal(err)
		}
		before := e.credits(t, "icbc", icbcDebit)
		half := e.refundOf(t, req, 5000)
		if got := rcOf(e.send(t, half)); got != "00" {
			t.Fatalf("refund 50.00: got %s, want 00 (logs: %s)", got, e.logs)
		}
		if got := e.credits(t, "icbc", icbcDebit) - before; got != 4500 {
			t.Errorf("card credited %d, want 4500 (half of the 90.00 paid)", got)
		}
		if u := usage(t, st, "icbc-10"); u.Spent != 500 || u.SpentCount != 1 {
			t.Errorf("icbc-10 spent %d (%d), want 500 (1): half the discount restored", u.Spent, u.SpentCount)
		}
		e.send(t, half) // a duplicate: no second credit, no second restore
		if got := e.credits(t, "icbc", icbcDebit) - before; got != 4500 {
			t.Errorf("card credited %d after a duplicate, want 4500", got)
		}
		rf, err := e.store.Refund(ctx, netswitch.AuthID(str(half, iso8583.DETerminal), str(half, iso8583.DESTAN), str(half, iso8583.DETransmission)))
		if err != nil || rf.Promo == nil || !rf.Promo.Restored || rf.Promo.Split.CardHolder != 4500 || rf.Promo.Split.Restore != 500 || rf.Promo.HoldID != id {
			t.Errorf("refund record promo %+v (%v), want card holder 4500, restore 500, restored", rf.Promo, err)
		}
		if got := rcOf(e.send(t, e.refundOf(t, req, 5000))); got != "00" {
			t.Fatalf("refund the other 50.00: got %s, want 00", got)
		}
		if got := e.credits(t, "icbc", icbcDebit) - before; got != 9000 {
			t.Errorf("card credited %d in all, want the 9000 paid", got)
		}
		if u := usage(t, st, "icbc-10"); u.Spent != 0 || u.SpentCount != 0 {
			t.Errorf("icbc-10 spent %d (%d) after a full refund, want 0 (0)", u.Spent, u.SpentCount)
		}

		t.Run("forfeit keeps the budget used", func(t *testing.T) {
			c := e.phone(t, bocDebit).Cards[0]
			req := e.auth(t, c, 3000, nettest.Tap{})
			resp := e.send(t, req)
			if pd, err := resp.PromotionData(); rcOf(resp) != "00" || err != nil || pd.Campaign != "boc-forfeit" || pd.Discount != 800 {
				t.Fatalf("new BOC card holder: %s %+v %v, want 00 boc-forfeit 800", rcOf(resp), pd, err)
			}
			settle(st)
			if _, err := st.Post(ctx, authIDOf(req)); err != nil {
				t.Fatal(err)
			}
			before := e.credits(t, "boc", bocDebit)
			if got := rcOf(e.send(t, e.refundOf(t, req, 3000))); got != "00" {
				t.Fatalf("refund: got %s, want 00", got)
			}
			if got := e.credits(t, "boc", bocDebit) - before; got != 2200 {
				t.Errorf("card credited %d, want the 2200 paid", got)
			}
			if u := usage(t, st, "boc-forfeit"); u.Spent != 800 || u.SpentCount != 1 {
				t.Errorf("boc-forfeit spent %d (%d), want 800 (1): forfeit", u.Spent, u.SpentCount)
			}
			// Not a new card holder any more (its purchase was approved).
			again := e.auth(t, c, 3000, nettest.Tap{})
			if resp := e.send(t, again); rcOf(resp) != "00" || resp.Has(iso8583.DEPromotionData) {
				t.Errorf("second BOC tap: %s with DE124 %v, want 00 without", rcOf(resp), resp.Has(iso8583.DEPromotionData))
			}
		})
		t.Run("refunded in pieces, the card holder gets back what it paid, never more", func(t *testing.T) {
			// ¥3.00 less ¥2.00 funded half and half, refunded 0.02, 0.01 and
			// 2.97: the card holder's running part is ceil(1.00 × refunded /
			// 3.00) — 0.01, 0.01 (a refund all the funders', approved without
			// the issuer), then 1.00 — and the funders' the rest. (The old
			// proportional split gave the card holder -0.01 on the 0.01.)
			c := e.phone(t, abcDebit).Cards[0]
			req := e.auth(t, c, 300, nettest.Tap{})
			if pd, err := e.send(t, req).PromotionData(); err != nil || pd.Discount != 200 {
				t.Fatalf("got %+v (%v), want ¥2 off", pd, err)
			}
			before := e.credits(t, "abc", abcDebit)
			for _, step := range []struct{ amount, card int64 }{{2, 1}, {1, 1}, {297, 100}} {
				if got := rcOf(e.send(t, e.refundOf(t, req, step.amount))); got != "00" {
					t.Fatalf("refund %d: got %s, want 00 (logs: %s)", step.amount, got, e.logs)
				}
				if got := e.credits(t, "abc", abcDebit) - before; got != step.card {
					t.Fatalf("after the refund of %d the card has %d back, want %d", step.amount, got, step.card)
				}
			}
		})
		t.Run("before clearing: credited, the budget left to clearing", func(t *testing.T) {
			c := e.phone(t, ccbDebit).Cards[0]
			req := e.auth(t, c, 10000, nettest.Tap{})
			if got := rcOf(e.send(t, req)); got != "00" {
				t.Fatalf("got %s, want 00", got)
			}
			before := e.credits(t, "ccb", ccbDebit)
			ref := e.refundOf(t, req, 2000)
			if got := rcOf(e.send(t, ref)); got != "00" {
				t.Fatalf("refund: got %s, want 00 (logs: %s)", got, e.logs)
			}
			if got := e.credits(t, "ccb", ccbDebit) - before; got != 1900 {
				t.Errorf("card credited %d, want 1900", got)
			}
			rf, _ := e.store.Refund(ctx, netswitch.AuthID(str(ref, iso8583.DETerminal), str(ref, iso8583.DESTAN), str(ref, iso8583.DETransmission)))
			if rf.Promo == nil || rf.Promo.Restored || rf.Promo.Split.Restore != 100 {
				t.Errorf("refund record promo %+v, want restore 100 not yet restored", rf.Promo)
			}
		})
	})
}

// TestPromoIssuerTimeoutVoids: an issuer that does not answer in time (91)
// voids the promotion's hold and clears the record's promotion, and the
// issuer's hold of the net ends voided (the queued reversal).
func TestPromoIssuerTimeoutVoids(t *testing.T) {
	for _, ahead := range []bool{false, true} {
		t.Run(fmt.Sprint("ahead=", ahead), func(t *testing.T) { promoIssuerTimeoutVoids(t, ahead) })
	}
}

func promoIssuerTimeoutVoids(t *testing.T, ahead bool) {
	db := sqldbtest.OpenSQLite(t)
	cs, err := promo.ParseFile(strings.NewReader(testCampaigns))
	if err != nil {
		t.Fatal(err)
	}
	st := promo.NewMemStore()
	if err := st.Save(context.Background(), cs); err != nil {
		t.Fatal(err)
	}
	var real string
	e := newEnv(t, db, func(cfg *netswitch.Config) {
		cfg.Promotions = newPromotions(st, cs, ahead)
		real = cfg.Issuers["icbc"]
		addr, stop := startSlowIssuer(t, func() string { return real }, 400*time.Millisecond)
		t.Cleanup(stop)
		cfg.Issuers = copyMap(cfg.Issuers)
		cfg.Issuers["icbc"] = addr
		cfg.IssuerTimeout = 100 * time.Millisecond
	})
	c := e.phone(t, icbcDebit).Cards[0]
	req := e.auth(t, c, 10000, nettest.Tap{})
	if rc := rcOf(e.send(t, req)); rc != "91" {
		t.Fatalf("got %s, want 91", rc)
	}
	if s := holdStatus(t, st, authIDOf(req)); !released(s, ahead) {
		t.Errorf("promotion hold %s, want voided", s)
	}
	if u := usage(t, st, "icbc-10"); u.Reserved != 0 {
		t.Errorf("icbc-10 reserved %d after a 91, want 0", u.Reserved)
	}
	rec, err := e.store.Auth(context.Background(), authIDOf(req))
	if err != nil || rec.Promo != nil {
		t.Errorf("record promo %+v (%v), want none", rec.Promo, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		hold, err := e.holdOf(t, "icbc", req)
		if (err == nil && hold.Status == ledger.StatusVoided) || fault.KindOf(err) == fault.NotFound {
			if err == nil && hold.Amount != 9000 {
				t.Errorf("the issuer held %d, want the net 9000", hold.Amount)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("issuer hold %s 10 s after the timeout, want voided", hold.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPromoConcurrentBudget: 16 taps of four cards at once, each on its
// own connection, against a campaign with a budget of five discounts in
// the promo wing (promo/sqlstore with its batched reservations, on the
// test's SQLite or PostgreSQL): exactly five 0110s carry DE124, the
// budget is reserved to the fen, every tap is approved and each issuer
// hold is the net of its answer; the same taps sent again over other
// connections at once reserve nothing more.
func TestPromoConcurrentBudget(t *testing.T) {
	eachPromoMode(t, func(t *testing.T, db *sqldb.DB, ahead bool) {
		ctx := context.Background()
		wdb, err := db.Beside(ctx, promostore.Wing)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { wdb.Close() })
		st := promostore.NewBatch(promostore.New(wdb))
		t.Cleanup(func() { st.Close() })
		cs, err := promo.ParseFile(strings.NewReader(`{"campaigns": [{"id": "tight", "name": {"zh": "限量立减", "en": "Five only"},
			"owner": "network", "funders": [{"kind": "network", "share_bp": 10000}],
			"window": {"start": "2020-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z"}, "channels": ["nfc"],
			"eligibility": {}, "mechanic": {"kind": "fixed", "threshold": "10.00", "amount": "1.00"},
			"limits": {}, "budget": "5.00", "enrolment": "auto", "fulfilment": "instant"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Save(ctx, cs); err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, db, func(c *netswitch.Config) { c.Promotions = newPromotions(st, cs, ahead) })
		cards := []struct{ bank, pan string }{{"icbc", icbcDebit}, {"icbc", icbcCredit}, {"ccb", ccbDebit}, {"boc", bocDebit}}
		reqs := make([][]*iso8583.Message, len(cards))
		for i, cd := range cards {
			c := e.phone(t, cd.pan).Cards[0]
			for range 4 {
				reqs[i] = append(reqs[i], e.auth(t, c, 2000, nettest.Tap{}))
			}
		}
		send := func() [][]*iso8583.Message {
			out := make([][]*iso8583.Message, len(cards))
			done := make(chan struct{})
			conns := make([]*isolink.Client, len(cards))
			for i := range cards {
				conns[i] = e.dial(t)
			}
			for i := range cards {
				go func() {
					defer func() { done <- struct{}{} }()
					for _, m := range reqs[i] {
						r, err := conns[i].Send(ctx, m)
						if err != nil {
							r = nil
						}
						out[i] = append(out[i], r)
					}
				}()
			}
			for range cards {
				<-done
			}
			return out
		}
		first := send()
		discounted := 0
		for i, answers := range first {
			for j, r := range answers {
				if r == nil || rcOf(r) != "00" {
					t.Fatalf("card %d tap %d: got %v, want 00 (logs: %s)", i, j, r, e.logs)
				}
				want := int64(2000)
				if pd, err := r.PromotionData(); err == nil {
					discounted++
					want -= pd.Discount
				}
				if hold, err := e.holdOf(t, cards[i].bank, reqs[i][j]); err != nil || hold.Amount != want {
					t.Errorf("card %d tap %d: issuer holds %d (%v), want %d", i, j, hold.Amount, err, want)
				}
			}
		}
		if discounted != 5 {
			t.Errorf("%d taps discounted, want exactly 5", discounted)
		}
		settle(st)
		if u, err := st.Usage(ctx, "tight"); err != nil || u.Reserved != 500 || u.ReservedCount != 5 || u.Remaining() != 0 {
			t.Errorf("usage %+v (%v), want 500 reserved in 5 holds, nothing left", u, err)
		}
		again := send()
		for i := range again {
			for j, r := range again[i] {
				a, _ := first[i][j].Pack()
				var b []byte
				if r != nil {
					b, _ = r.Pack()
				}
				if string(a) != string(b) {
					t.Errorf("card %d tap %d sent again: got another answer", i, j)
				}
			}
		}
		settle(st)
		if u, _ := st.Usage(ctx, "tight"); u.Reserved != 500 || u.ReservedCount != 5 {
			t.Errorf("usage after the repeats %+v, want 500 in 5 holds", u)
		}
	})
}

// TestPromoRecoveryVoidsAnUnnamedHold: the switch reserves a purchase's
// promotion while it stores the record (two group commits at once), so a
// switch stopped between the two leaves a record being decided that does
// not name the hold its identity has. The recovery sweep of the next
// switch on the store settles the record and voids that hold (before:
// only a hold the record named, so this one stayed reserved for 7 days).
func TestPromoRecoveryVoidsAnUnnamedHold(t *testing.T) {
	ctx := context.Background()
	e, st := promoEnv(t, sqldbtest.OpenSQLite(t), false)
	c := e.phone(t, icbcDebit).Cards[0]
	req := e.auth(t, c, 10000, nettest.Tap{})
	id := authIDOf(req)
	then := time.Now().Add(-time.Hour)
	rec := netswitch.Auth{ID: id, Digest: "d", Terminal: str(req, iso8583.DETerminal), STAN: str(req, iso8583.DESTAN),
		Transmission: str(req, iso8583.DETransmission), BankID: "icbc", BusinessDate: then.UTC().Format("20060102"), ReceivedAt: then}
	if err := e.store.SaveAuth(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Reserve(ctx, promo.Hold{ID: id, Campaign: "net-5", Card: "par-x", Amount: 500, At: then, ExpiresAt: then.Add(promo.HoldTimeout)}); err != nil {
		t.Fatal(err)
	}
	cfg := e.cfg
	cfg.RecoverAfter = time.Minute
	sw, err := netswitch.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	got, err := e.store.Auth(ctx, id)
	if err != nil || got.Deciding() {
		t.Fatalf("the record after the sweep: %+v, %v; want settled", got, err)
	}
	if s := holdStatus(t, st, id); s != promo.HoldVoided {
		t.Errorf("the unnamed promotion hold is %s after the sweep, want voided", s)
	}
	if u := usage(t, st, "net-5"); u.Reserved != 0 {
		t.Errorf("net-5 reserved %d after the sweep, want 0", u.Reserved)
	}
}

// TestPromoHoldNotStoredIs96: with the holds decided in memory
// (promo.Mirror), a hold the store refuses before the issuer answers —
// another process took the budget behind the mirror's back — is not
// funded: the terminal gets 96 (reason promo_store), the issuer's hold of
// the net is reversed, the budget is not overspent; the next tap, the
// mirror having read the store again, pays the full price without a
// discount.
func TestPromoHoldNotStoredIs96(t *testing.T) {
	ctx := context.Background()
	db := sqldbtest.OpenSQLite(t)
	cs, err := promo.ParseFile(strings.NewReader(`{"campaigns": [{"id": "two", "name": {"zh": "限量立减", "en": "Two only"},
		"owner": "network", "funders": [{"kind": "network", "share_bp": 10000}],
		"window": {"start": "2020-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z"}, "channels": ["nfc"],
		"eligibility": {}, "mechanic": {"kind": "fixed", "threshold": "10.00", "amount": "1.00"},
		"limits": {}, "budget": "2.00", "enrolment": "auto", "fulfilment": "instant"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	st := promo.NewMemStore()
	if err := st.Save(ctx, cs); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, db, func(cfg *netswitch.Config) {
		cfg.Promotions = newPromotions(st, cs, true)
		// The issuer answers after 100 ms: the store's refusal is known
		// before its answer, however busy the machine.
		real := cfg.Issuers["icbc"]
		addr, stop := startSlowIssuer(t, func() string { return real }, 100*time.Millisecond)
		t.Cleanup(stop)
		cfg.Issuers = copyMap(cfg.Issuers)
		cfg.Issuers["icbc"] = addr
	})
	c := e.phone(t, icbcDebit).Cards[0]
	first := e.auth(t, c, 2000, nettest.Tap{})
	if r := e.send(t, first); rcOf(r) != "00" {
		t.Fatalf("first tap: %s, want 00", rcOf(r))
	}
	if _, err := st.Reserve(ctx, promo.Hold{ID: "elsewhere", Campaign: "two", Card: "par-x", Amount: 100,
		At: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	second := e.auth(t, c, 2000, nettest.Tap{})
	resp := e.send(t, second)
	if rcOf(resp) != "96" {
		t.Fatalf("second tap: %s, want 96 (logs: %s)", rcOf(resp), e.logs)
	}
	if _, err := resp.PromotionData(); err == nil {
		t.Error("a 96 carries DE124")
	}
	rec, err := e.store.Auth(ctx, authIDOf(second))
	if err != nil || rec.Reason != netswitch.ReasonPromoStore || rec.Promo != nil {
		t.Errorf("record reason %q promo %+v (%v), want promo_store and none", rec.Reason, rec.Promo, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		hold, err := e.holdOf(t, "icbc", second)
		if err == nil && hold.Status == ledger.StatusVoided {
			if hold.Amount != 1900 {
				t.Errorf("the issuer held %d, want the net 1900", hold.Amount)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("issuer hold %s (%v) 10 s after the 96, want voided", hold.Status, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if u := usage(t, st, "two"); u.Reserved != 200 || u.ReservedCount != 2 {
		t.Errorf("usage %+v, want the budget's 2.00 in 2 holds, never more", u)
	}
	third := e.auth(t, c, 2000, nettest.Tap{})
	resp = e.send(t, third)
	if rcOf(resp) != "00" {
		t.Fatalf("third tap: %s, want 00", rcOf(resp))
	}
	if _, err := resp.PromotionData(); err == nil {
		t.Error("the third tap got a discount the budget has not")
	}
	if hold, err := e.holdOf(t, "icbc", third); err != nil || hold.Amount != 2000 {
		t.Errorf("third tap: the issuer holds %d (%v), want the full 2000", hold.Amount, err)
	}
}

// slowStore is a promo.MemStore whose Reserve of a hold a mirror decided
// waits until release is closed: a wing slow to store it.
type slowStore struct {
	*promo.MemStore
	release chan struct{}
}

func (s slowStore) Reserve(ctx context.Context, h promo.Hold) (promo.Hold, error) {
	if h.Decided {
		<-s.release
	}
	return s.MemStore.Reserve(ctx, h)
}

func (s slowStore) ReserveDecided(ctx context.Context, hs []promo.Hold) ([]promo.Hold, []error, error) {
	<-s.release
	return s.MemStore.ReserveDecided(ctx, hs)
}

// TestPromoAnswerDoesNotWaitForTheWing: with the holds decided in memory
// the switch answers an approved discounted tap without waiting for the
// promo wing to store the hold — the record stored before the issuer was
// asked names it (netswitch.PromoHold gives it back) — and the wing has
// it once it is done.
func TestPromoAnswerDoesNotWaitForTheWing(t *testing.T) {
	ctx := context.Background()
	cs, err := promo.ParseFile(strings.NewReader(testCampaigns))
	if err != nil {
		t.Fatal(err)
	}
	st := slowStore{promo.NewMemStore(), make(chan struct{})}
	if err := st.Save(ctx, cs); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, sqldbtest.OpenSQLite(t), func(c *netswitch.Config) { c.Promotions = newPromotions(st, cs, true) })
	c := e.phone(t, icbcDebit).Cards[0]
	req := e.auth(t, c, 10000, nettest.Tap{})
	resp := e.send(t, req)
	pd, err := resp.PromotionData()
	if rcOf(resp) != "00" || err != nil || pd.Campaign != "icbc-10" || pd.Discount != 1000 {
		t.Fatalf("got %s %+v (%v), want 00 with icbc-10's 10.00 off while the wing is still storing the hold", rcOf(resp), pd, err)
	}
	if _, err := st.Hold(ctx, authIDOf(req)); !errors.Is(err, promo.ErrNoHold) {
		t.Fatalf("the wing has the hold already (%v): the test's store did not hold it back", err)
	}
	rec, err := e.store.Auth(ctx, authIDOf(req))
	if err != nil {
		t.Fatal(err)
	}
	h, ok := netswitch.PromoHold(rec)
	if !ok || h.ID != rec.ID || h.Campaign != "icbc-10" || h.Amount != 1000 || h.Card != rec.PAR || !h.Decided {
		t.Fatalf("the record names %+v (%v), want icbc-10's 1000 on the PAR", h, ok)
	}
	close(st.release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := st.Hold(ctx, rec.ID)
		if err == nil {
			if got.Status != promo.HoldPending || got.Amount != 1000 {
				t.Fatalf("the wing's hold %+v, want pending 1000", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the wing has no hold 5 s after it was let go: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
