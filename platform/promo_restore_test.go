package platform_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/platform"
	"github.com/tapwallet/tapwallet/promo"
	promostore "github.com/tapwallet/tapwallet/promo/sqlstore"
	"github.com/tapwallet/tapwallet/sqldb"
)

// TestPromoHoldsRestoredAfterAStop: the switch answers a discounted
// approval once its record — which names the hold — is stored, while the
// promo wing stores the hold (decided in memory) behind. A stop between
// the two leaves the discount given and the wing without its hold; the
// next start, finding the wing not closed clean, gives it the holds the
// switch's last records name: the hold is back, pending, and the budget
// counts it. After a clean close nothing is given again.
func TestPromoHoldsRestoredAfterAStop(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	ph, card, c := e.payingPhone(t, "restore@example.com")
	resp := tapAnswer(t, c, ph.SE, card, 10000)
	pd, err := resp.PromotionData()
	if rc, _ := resp.ResponseCode(); rc != "00" || err != nil || pd.Discount != 5000 {
		t.Fatalf("first tap: %s %+v %v, want 00 with ¥50 off", rc, pd, err)
	}
	id := netswitch.AuthID(de(resp, iso8583.DETerminal), de(resp, iso8583.DESTAN), de(resp, iso8583.DETransmission))
	c.Close()
	if err := e.p.Close(); err != nil {
		t.Fatal(err)
	}
	mark := filepath.Join(e.data, "promo.clean")
	if _, err := os.Stat(mark); err != nil {
		t.Fatalf("a clean close leaves no mark: %v", err)
	}

	// What a stop after the answer and before the wing stored the hold
	// leaves: the record, no hold, no clean mark.
	st, err := promostore.Open(ctx, "", e.data)
	if err != nil {
		t.Fatal(err)
	}
	h, err := st.Hold(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`DELETE FROM promo_holds WHERE id = ?`, []any{id}},
			{`UPDATE promo_campaigns SET reserved = reserved - ?, reserved_count = reserved_count - 1 WHERE id = ?`, []any{h.Amount, h.Campaign}},
			{`UPDATE promo_card_usage SET reserved_count = reserved_count - 1, reserved_amount = reserved_amount - ? WHERE campaign_id = ? AND card = ?`, []any{h.Amount, h.Campaign, h.Card}},
		} {
			if _, err := tx.Exec(ctx, q.sql, q.args...); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := os.Remove(mark); err != nil {
		t.Fatal(err)
	}

	reopen := func() (*platform.Platform, *syncBuffer) {
		logs := &syncBuffer{}
		p, err := platform.Start(ctx, platform.Config{DataDir: e.data, HTTPAddr: "127.0.0.1:0", ArgonTime: 1,
			Log: slog.New(slog.NewJSONHandler(logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return p, logs
	}
	p, logs := reopen()
	got, err := p.Promotions().Hold(ctx, id)
	if err != nil || got.Status != promo.HoldPending || got.Amount != 5000 || got.Campaign != h.Campaign || got.Card != h.Card {
		t.Fatalf("after the start: hold %+v (%v), want %+v pending", got, err, h)
	}
	if u, _ := p.Promotions().Usage(ctx, h.Campaign); u.Reserved != 5000 || u.ReservedCount != 1 {
		t.Errorf("the budget after the start: %+v, want 5000 reserved in one hold", u)
	}
	if !strings.Contains(logs.String(), "given to the wing again") {
		t.Errorf("the start did not say it gave holds again: %s", logs.String())
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p, logs = reopen()
	defer p.Close()
	if strings.Contains(logs.String(), "given to the wing again") {
		t.Errorf("a start after a clean close gave holds again")
	}
	if u, _ := p.Promotions().Usage(ctx, h.Campaign); u.Reserved != 5000 || u.ReservedCount != 1 {
		t.Errorf("the budget after a clean restart: %+v, want the same 5000 in one hold", u)
	}
}
