package sqlstore_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/sqlstore"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// TestPromoColumns: the PAR and the promotion of a record, and the split
// of a refund, come back from every query that returns them (Auth,
// DayAuths, PhoneAuths, TokenAuths, Deciding; Refund, DayRefunds);
// FinishAuth stores a declined record's promotion gone (AbandonAuth
// too), SetPromo replaces
// it, PurchasedBefore finds a card's earlier approved purchase by PAR —
// on SQLite and PostgreSQL.
func TestPromoColumns(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, err := sqlstore.OpenBeside(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		tok, err := card.ParseToken("6500000000000002")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		red := &promo.Redemption{Identity: "T1|000001|1206000000", Campaign: "icbc-10", Fulfilment: promo.FulfilInstant, Merchant: "m1",
			CardBank: "icbc", Gross: 10000, Net: 9000, Discount: 1000,
			Shares: []promo.Share{{Kind: promo.FunderIssuer, Party: "icbc", Amount: 700}, {Kind: promo.FunderNetwork, Party: "network", Amount: 300}}}
		a := netswitch.Auth{ID: red.Identity, Digest: "d1", Acquirer: "48021000", Terminal: "T1", STAN: "000001", Transmission: "1206000000",
			Token: tok, PhoneID: "ph1", BankID: "icbc", PAR: "U0010000000000000000000000001", Amount: money.Fen(10000), Promo: red,
			BusinessDate: now.Format("20060102"), ReceivedAt: now.Add(-time.Minute), ClearAmount: 10000}
		if err := s.SaveAuth(ctx, a); err != nil {
			t.Fatal(err)
		}
		check := func(what string, got netswitch.Auth, want *promo.Redemption) {
			t.Helper()
			if got.PAR != a.PAR || !reflect.DeepEqual(got.Promo, want) {
				t.Errorf("%s: PAR %q promo %+v, want %q %+v", what, got.PAR, got.Promo, a.PAR, want)
			}
		}
		dec, err := s.Deciding(ctx, now, 10)
		if err != nil || len(dec) != 1 {
			t.Fatalf("Deciding: %d (%v)", len(dec), err)
		}
		check("Deciding", dec[0], red)
		a.ResponseCode, a.Answer, a.AnsweredAt = iso8583.Approved, []byte("answer"), now
		if err := s.FinishAuth(ctx, a); err != nil {
			t.Fatal(err)
		}
		got, err := s.Auth(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		check("Auth", got, red)
		day, _ := s.DayAuths(ctx, a.BusinessDate)
		phone, _ := s.PhoneAuths(ctx, "ph1", 10)
		token, _ := s.TokenAuths(ctx, []string{tok.Digits()}, 10)
		for what, l := range map[string][]netswitch.Auth{"DayAuths": day, "PhoneAuths": phone, "TokenAuths": token} {
			if len(l) != 1 {
				t.Fatalf("%s: %d records, want 1", what, len(l))
			}
			check(what, l[0], red)
		}
		if before, err := s.PurchasedBefore(ctx, a.PAR, "other"); err != nil || !before {
			t.Errorf("PurchasedBefore another: %v %v, want true", before, err)
		}
		if before, err := s.PurchasedBefore(ctx, a.PAR, a.ID); err != nil || before {
			t.Errorf("PurchasedBefore itself: %v %v, want false", before, err)
		}
		if before, _ := s.PurchasedBefore(ctx, "U0019999", "other"); before {
			t.Error("PurchasedBefore of another card: true")
		}

		cut := *red
		cut.Gross, cut.Net = 6000, 5000
		if err := s.SetPromo(ctx, a.ID, &cut); err != nil {
			t.Fatal(err)
		}
		got, _ = s.Auth(ctx, a.ID)
		check("after SetPromo", got, &cut)
		if err := s.SetPromo(ctx, a.ID, nil); err != nil {
			t.Fatal(err)
		}
		got, _ = s.Auth(ctx, a.ID)
		check("after SetPromo(nil)", got, nil)
		if err := s.SetPromo(ctx, "nope", nil); err == nil {
			t.Error("SetPromo of an unknown record: no error")
		}

		// A declined record: FinishAuth stores its promotion gone.
		b := a
		b.ID, b.Promo, b.ResponseCode, b.Answer = "T1|000002|1206000000", red, "", nil
		if err := s.SaveAuth(ctx, b); err != nil {
			t.Fatal(err)
		}
		b.ResponseCode, b.Promo, b.Answer, b.AnsweredAt = "51", nil, []byte("answer"), now
		if err := s.FinishAuth(ctx, b); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Auth(ctx, b.ID); got.Promo != nil {
			t.Errorf("declined record keeps promo %+v", got.Promo)
		}

		// A record the recovery sweep settles keeps no promotion.
		c := a
		c.ID, c.Promo, c.ResponseCode, c.Answer, c.SealedPAN = "T1|000003|1206000000", red, "", nil, []byte("sealed")
		if err := s.SaveAuth(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := s.AbandonAuth(ctx, c.ID, now); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Auth(ctx, c.ID); got.Promo != nil || got.ResponseCode != "96" {
			t.Errorf("abandoned record %s keeps promo %+v", got.ResponseCode, got.Promo)
		}

		// A refund's split.
		pr := &netswitch.PromoRefund{Campaign: "icbc-10", HoldID: a.ID, Restored: true,
			Split: promo.RefundSplit{Gross: 5000, CardHolder: 4500, Shares: []promo.Share{{Kind: promo.FunderIssuer, Party: "icbc", Amount: 350}, {Kind: promo.FunderNetwork, Party: "network", Amount: 150}}, Restore: 500}}
		if err := s.ClaimRefund(ctx, "R1", a.ID, 5000); err != nil {
			t.Fatal(err)
		}
		r := netswitch.Refund{ID: "R1", Digest: "rd", OriginalID: a.ID, Token: tok, Amount: money.Fen(5000), Promo: pr, ResponseCode: iso8583.Approved,
			BusinessDate: a.BusinessDate, ReceivedAt: now, AnsweredAt: now}
		if err := s.SaveRefund(ctx, r); err != nil {
			t.Fatal(err)
		}
		gr, err := s.Refund(ctx, "R1")
		if err != nil || !reflect.DeepEqual(gr.Promo, pr) {
			t.Errorf("Refund: promo %+v (%v), want %+v", gr.Promo, err, pr)
		}
		rs, err := s.DayRefunds(ctx, a.BusinessDate)
		if err != nil || len(rs) != 1 || !reflect.DeepEqual(rs[0].Promo, pr) {
			t.Errorf("DayRefunds: %+v (%v)", rs, err)
		}
	})
}
