package issuer

import (
	"context"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/fault"
)

// TestIDV: the in-process ID&V routes by the directory and decides by the
// bank's own card holders; a bank whose card holders are not in this
// process is unavailable, not "no such card".
func TestIDV(t *testing.T) {
	cfg, err := bank.Default()
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC) }
	var green *bank.Cardholder
	for i := range cfg.Cards {
		if c := &cfg.Cards[i]; c.IDV == bank.Green && c.Usable() && !c.Expiry.Expired(now()) {
			green = c
			break
		}
	}
	idv := NewIDV(cfg, now)
	ctx := context.Background()
	v, err := idv.Verify(ctx, bank.IDVRequest{PAN: green.PAN, Expiry: green.Expiry, CVN2: green.CVN2.Digits()})
	b, _ := cfg.BankByID(green.Bank)
	if err != nil || v.Decision != bank.Green || v.BankID != b.ID || v.BankName != b.Name || v.TokenRange != b.TokenRange || v.Product != green.Product {
		t.Fatalf("green card: got %+v %v, want green at %s", v, err, b.ID)
	}
	wrong := "000"
	if green.CVN2.Matches(wrong) {
		wrong = "111"
	}
	v, err = idv.Verify(ctx, bank.IDVRequest{PAN: green.PAN, Expiry: green.Expiry, CVN2: wrong})
	if v.Decision != bank.Red || v.Reason != bank.CodeWrongCVN2 || !fault.Has(err, fault.Invalid, bank.CodeWrongCVN2) {
		t.Errorf("wrong CVN2: got %+v %v, want red %s", v, err, bank.CodeWrongCVN2)
	}
	delete(idv.Holders, green.Bank)
	v, err = idv.Verify(ctx, bank.IDVRequest{PAN: green.PAN, Expiry: green.Expiry, CVN2: green.CVN2.Digits()})
	if v.Decision != bank.Red || fault.KindOf(err) != fault.Unavailable {
		t.Errorf("holders elsewhere: got %+v %v, want red and unavailable", v, err)
	}
	if name, art, ok := idv.Bank(b.ID); !ok || name != b.Name || art != b.Products[0].Art {
		t.Errorf("Bank(%s): got %q %q %v", b.ID, name, art, ok)
	}
}
