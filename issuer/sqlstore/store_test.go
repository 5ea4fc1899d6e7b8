package sqlstore_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/issuer/sqlstore"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// backends returns the DSNs and data folders to test on: SQLite always,
// PostgreSQL when TAPWALLET_TEST_POSTGRES is set.
func backends(t *testing.T, fn func(t *testing.T, dsn, dir string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, "", t.TempDir()) })
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		t.Run("postgres", func(t *testing.T) { fn(t, sqldbtest.PostgresDSN(t), "") })
	}
}

var now = func() time.Time { return time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC) }

func open(t *testing.T, dsn, dir string, cfg *bank.Config, id string) (*sqlstore.Store, *issuer.Host) {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), dsn, dir, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	b, _ := cfg.BankByID(id)
	h, err := issuer.NewHost(context.Background(), s.HostConfig(issuer.HostConfig{Bank: b, Holders: cfg.Holders(id), Secret: []byte("s"), Now: now}))
	if err != nil {
		t.Fatal(err)
	}
	return s, h
}

func auth(stan string, pan string) *iso8583.Message {
	m := iso8583.New(iso8583.AuthorizationRequest)
	m.SetTransmissionTime(now())
	m.SetLocalTime(now())
	for de, v := range map[int]string{iso8583.DEPAN: pan, iso8583.DEProcessingCode: "000000", iso8583.DESTAN: stan,
		iso8583.DERRN: "000000" + stan, iso8583.DETerminal: "T0000001", iso8583.DEAcquirer: "48021000"} {
		_ = m.SetString(de, v)
	}
	_ = m.SetNumber(iso8583.DEAmount, 1234)
	_ = m.SetNumber(iso8583.DECurrency, 156)
	return m
}

// TestBankWings: each bank's issuer host keeps its holds in its own wing
// (none in another bank's), and what it remembers (a reversal of an
// original it never saw, a refund counted) survives a restart.
func TestBankWings(t *testing.T) {
	cfg, err := bank.Default()
	if err != nil {
		t.Fatal(err)
	}
	backends(t, func(t *testing.T, dsn, dir string) {
		ctx := context.Background()
		icbc, h := open(t, dsn, dir, cfg, "icbc")
		cmb, _ := open(t, dsn, dir, cfg, "cmb")
		pan := h.Holders().Cards()[0].PAN.Digits()
		resp := h.Handle(ctx, auth("000001", pan))
		if rc, _ := resp.ResponseCode(); rc != iso8583.Approved {
			t.Fatalf("authorization: got %s, want approved", rc)
		}
		id := issuer.HoldID("icbc", now().UTC().Format("0102150405"), "000001", "T0000001")
		if _, err := icbc.Ledger.LookupTransfer(ctx, id); err != nil {
			t.Errorf("the hold is not in icbc's wing: %v", err)
		}
		if _, err := cmb.Ledger.LookupTransfer(ctx, id); fault.KindOf(err) != fault.NotFound {
			t.Errorf("cmb's wing: got %v, want no such hold", err)
		}
		if err := icbc.RememberReversal(ctx, "icbc", "gone", now()); err != nil {
			t.Fatal(err)
		}
		r := issuer.Refund{BankID: "icbc", ID: "r1", OriginalID: id, Amount: 100, At: now()}
		if got, err := icbc.ReserveRefund(ctx, r, 1234); err != nil || got != issuer.Reserved {
			t.Fatalf("reserve: got %v %v", got, err)
		}
		icbc.Close()
		again, _ := open(t, dsn, dir, cfg, "icbc")
		ids, err := again.Reversed(ctx, "icbc")
		if err != nil || len(ids) != 1 || ids[0] != "gone" {
			t.Errorf("reversals after a restart: got %v %v, want [gone]", ids, err)
		}
		if got, err := again.ReserveRefund(ctx, r, 1234); err != nil || got != issuer.Repeated {
			t.Errorf("the same refund after a restart: got %v %v, want repeated", got, err)
		}
		if n, err := again.Refunded(ctx, "icbc", id); err != nil || n != 100 {
			t.Errorf("refunded: got %d %v, want 100", n, err)
		}
	})
}
