package platform_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/platform"
)

// TestTransitAcquirerToNetworkElsewhere: a process with the wallet, token
// service and transit roles but no network sends the transit operators'
// charges as an acquirer over ISO 8583 to the network of another process
// (--network-addr), on the same data: a card issued and topped up through
// it is approved by that network, which records the operator's 0100s
// (MCC 4111, terminal TR000021); closing the card refunds over the same
// link. Without a network address the transit role is refused (see
// TestRolesRefused).
func TestTransitAcquirerToNetworkElsewhere(t *testing.T) {
	e := start(t) // every role: its network listens on e.p.ISOAddr
	roles, err := platform.ParseRoles("wallet,tsp,transit")
	if err != nil {
		t.Fatal(err)
	}
	b, err := platform.Start(context.Background(), platform.Config{DataDir: e.data, HTTPAddr: "127.0.0.1:0", ArgonTime: 1,
		Log: slog.New(slog.NewJSONHandler(e.logs, nil)), Roles: roles, NetworkAddr: e.p.ISOAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if b.Switch != nil {
		t.Fatal("the transit process runs a switch of its own")
	}
	ctx := context.Background()
	ph, err := phone.Open(filepath.Join(t.TempDir(), "phone"), b.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { return ph.SignUp(ctx, "gus@example.com", "password-123") },
		func() error { return ph.LogIn(ctx, "gus@example.com", "password-123") },
		func() error { _, err := ph.Register(ctx, "test phone", "model"); return err },
		func() error { _, err := ph.AddCard(ctx, refundPAN, "1230", "123"); return err },
		func() error { return ph.EnrollFinger(phone.DefaultFinger) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []func() error{
		func() error { _, err := ph.TransitAdd(ctx, "shanghai", ""); return err },
		func() error { _, err := ph.TransitTopUp(ctx, "shanghai", 5000, ""); return err },
	} {
		if err := ph.VerifyFinger(phone.DefaultFinger); err != nil {
			t.Fatal(err)
		}
		if err := step(); err != nil {
			t.Fatalf("%v (logs: %s)", err, e.logs)
		}
	}
	date := time.Now().UTC().Format("20060102")
	auths, err := e.p.Records.DayAuths(ctx, date)
	if err != nil {
		t.Fatal(err)
	}
	city, _ := fare.Default().City("shanghai")
	var fen []int64
	for _, au := range auths {
		if au.Approved() && au.MCC == "4111" && au.Terminal == "TR000021" {
			fen = append(fen, au.Amount.Minor)
		}
	}
	if len(fen) != 2 || fen[0] != city.Product.IssueFee+city.Product.Deposit || fen[1] != 5000 {
		t.Fatalf("the network recorded the operator's approved charges %v, want the issue (%d) and the top-up (5000)",
			fen, city.Product.IssueFee+city.Product.Deposit)
	}
	res, err := ph.TransitRefund(ctx, "shanghai")
	if err != nil || !res.Refunded || res.Amount != city.Product.Deposit+5000 {
		t.Fatalf("refund: got %+v, %v (logs: %s)", res, err, e.logs)
	}
	refunds, err := e.p.Records.DayRefunds(ctx, date)
	if err != nil || len(refunds) != 2 || !refunds[0].Approved() || !refunds[1].Approved() {
		t.Fatalf("the network recorded %d refunds (%v), want the two, approved", len(refunds), err)
	}
}
