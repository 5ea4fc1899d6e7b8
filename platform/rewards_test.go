package platform_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/issuer/rewardshttp"
	"github.com/tapwallet/tapwallet/platform"
)

// fakeRewards answers every card 7 points at its bank.
type fakeRewards struct{}

func (fakeRewards) Points(_ context.Context, bankID, par string) (bank.Points, error) {
	return bank.Points{Bank: bankID, Balance: 7, FenPerPoint: 1}, nil
}

func (fakeRewards) PayWithPoints(context.Context, bank.PayWithPoints) (bank.PointsPayment, error) {
	return bank.PointsPayment{}, nil
}

// TestRewardsRouting: Platform.Rewards answers for the banks whose issuer
// hosts the process runs in process, and asks a bank named in ClearingAt
// at its issuer process over issuer/rewardshttp under the network–issuer
// secret; a bank neither here nor named is not found.
func TestRewardsRouting(t *testing.T) {
	ctx := context.Background()
	remote := httptest.NewServer(nil)
	defer remote.Close()
	p, err := platform.Start(ctx, platform.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", Roles: platform.Roles{platform.RoleIssuers: true},
		IssuerBanks: []string{"icbc"}, ClearingAt: map[string]string{"ccb": remote.URL}, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	remote.Config.Handler = rewardshttp.Handler(fakeRewards{}, p.ClearingSecret(), nil)

	rw := p.Rewards()
	got, err := rw.Points(ctx, "icbc", "U001AAAAAAAAAAAAAAAAAAAAAAAAA")
	if err != nil || got.Bank != "icbc" || got.Balance != 0 || got.FenPerPoint != 1 {
		t.Fatalf("icbc, hosted here: got %+v %v, want 0 points at 1 fen", got, err)
	}
	got, err = rw.Points(ctx, "ccb", "U001AAAAAAAAAAAAAAAAAAAAAAAAA")
	if err != nil || got.Bank != "ccb" || got.Balance != 7 {
		t.Fatalf("ccb, at its issuer process: got %+v %v, want its 7 points", got, err)
	}
	if _, err := rw.Points(ctx, "boc", "U001AAAAAAAAAAAAAAAAAAAAAAAAA"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("boc, nowhere: got %v, want not found", err)
	}
}
