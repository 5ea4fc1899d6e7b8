package issuer_test

import (
	"context"
	"testing"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/ledger"
)

// TestHostPreAuth: a pre-authorization (DE3 030000) is approved with a
// hold for its amount, like a purchase; any other DE3 but a purchase's
// (010000 cash, 310000 balance inquiry) is declined 12 with no hold.
func TestHostPreAuth(t *testing.T) {
	hs, led := hosts(t)
	ctx := context.Background()
	icbc := hs["icbc"]
	holdOf := func(m *iso8583.Message) (ledger.Transfer, error) {
		de7, _ := m.String(iso8583.DETransmission)
		stan, _ := m.String(iso8583.DESTAN)
		return led.LookupTransfer(ctx, issuer.HoldID("icbc", de7, stan, "T0000001"))
	}
	for _, tc := range []struct {
		pc, want string
	}{
		{issuer.PreAuthProcessingCode, "00"},
		{issuer.PurchaseProcessingCode, "00"},
		{"010000", "12"},
		{"310000", "12"},
	} {
		t.Run(tc.pc, func(t *testing.T) {
			m := msg("6222020000000007", 4200)
			_ = m.SetString(iso8583.DEProcessingCode, tc.pc)
			if got := rc(icbc.Handle(ctx, m)); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			h, err := holdOf(m)
			if tc.want == "00" && (err != nil || h.Status != ledger.StatusPending || h.Amount != 4200) {
				t.Errorf("got hold %s of %d (%v), want pending 4200", h.Status, h.Amount, err)
			}
			if tc.want != "00" && err == nil {
				t.Errorf("a declined DE3 %s left a hold", tc.pc)
			}
		})
	}
}
