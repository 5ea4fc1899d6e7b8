package bank

import (
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
)

// firstCard returns the first card matching ok.
func firstCard(t *testing.T, c *Config, what string, ok func(*Cardholder) bool) *Cardholder {
	t.Helper()
	for i := range c.Cards {
		if ok(&c.Cards[i]) {
			return &c.Cards[i]
		}
	}
	t.Fatalf("no %s card in the default configuration", what)
	return nil
}

func TestVerify(t *testing.T) {
	c := mustDefault(t)
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	usable := func(d Decision) func(*Cardholder) bool {
		return func(h *Cardholder) bool { return h.IDV == d && !h.Expiry.Expired(now) && h.Usable() }
	}
	blocked := firstCard(t, c, "blocked", func(h *Cardholder) bool { return h.Status == Blocked && !h.Expiry.Expired(now) })
	lost := firstCard(t, c, "lost", func(h *Cardholder) bool { return h.Status == Lost && !h.Expiry.Expired(now) })
	green := firstCard(t, c, "green", usable(Green))
	otp := firstCard(t, c, "otp", usable(StepUp))
	red := firstCard(t, c, "red", usable(Red))
	expired := firstCard(t, c, "expired", func(h *Cardholder) bool { return h.Expiry.Expired(now) })
	unknownBIN := luhnPAN(t, "621999000000001")
	notIssued := luhnPAN(t, green.PAN.BIN()+"999999999")
	wrongCVN2 := string('0'+(green.CVN2.Digits()[0]-'0'+1)%10) + green.CVN2.Digits()[1:]
	nextMonth := card.Expiry{Year: green.Expiry.Year, Month: green.Expiry.Month%12 + 1}

	tests := []struct {
		name   string
		pan    card.PAN
		expiry card.Expiry
		cvn2   string
		want   Decision
		kind   fault.Kind
		code   string
	}{
		{"green", green.PAN, green.Expiry, green.CVN2.Digits(), Green, "", ""},
		{"otp", otp.PAN, otp.Expiry, otp.CVN2.Digits(), StepUp, "", ""},
		{"red", red.PAN, red.Expiry, red.CVN2.Digits(), Red, fault.Declined, "idv_declined"},
		{"unknown BIN", unknownBIN, green.Expiry, "123", Red, fault.NotFound, "unknown_bin"},
		{"token range", luhnPAN(t, "628801000000001"), green.Expiry, "123", Red, fault.NotFound, "unknown_bin"},
		{"zero PAN", card.PAN{}, green.Expiry, "123", Red, fault.NotFound, "unknown_bin"},
		{"card not found", notIssued, green.Expiry, green.CVN2.Digits(), Red, fault.NotFound, "card_not_found"},
		{"expired card", expired.PAN, expired.Expiry, expired.CVN2.Digits(), Red, fault.Invalid, "card_expired"},
		{"expired card with a future date", expired.PAN, green.Expiry, expired.CVN2.Digits(), Red, fault.Invalid, "wrong_expiry"},
		{"past date entered", green.PAN, card.Expiry{Year: 2024, Month: 1}, green.CVN2.Digits(), Red, fault.Invalid, "card_expired"},
		{"wrong expiry", green.PAN, nextMonth, green.CVN2.Digits(), Red, fault.Invalid, "wrong_expiry"},
		{"wrong cvn2", green.PAN, green.Expiry, wrongCVN2, Red, fault.Invalid, "wrong_cvn2"},
		{"short cvn2", green.PAN, green.Expiry, green.CVN2.Digits()[:2], Red, fault.Invalid, "wrong_cvn2"},
		{"empty cvn2", green.PAN, green.Expiry, "", Red, fault.Invalid, "wrong_cvn2"},
		{"red card wrong cvn2", red.PAN, red.Expiry, "", Red, fault.Invalid, "wrong_cvn2"},
		{"blocked card", blocked.PAN, blocked.Expiry, blocked.CVN2.Digits(), Red, fault.Declined, "card_blocked"},
		{"lost card", lost.PAN, lost.Expiry, lost.CVN2.Digits(), Red, fault.Declined, "card_blocked"},
		{"blocked card wrong cvn2", blocked.PAN, blocked.Expiry, "", Red, fault.Invalid, "wrong_cvn2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Verify(c, tt.pan, tt.expiry, tt.cvn2, now)
			if got != tt.want {
				t.Errorf("decision: got %s, want %s", got, tt.want)
			}
			// The split path — the network's directory routes, the bank's
			// own card holders decide — answers the same.
			split, serr := splitVerify(c, IDVRequest{PAN: tt.pan, Expiry: tt.expiry, CVN2: tt.cvn2}, now)
			if split.Decision != tt.want || (serr != nil) != (tt.code != "") || serr != nil && fault.CodeOf(serr) != tt.code || split.Reason != tt.code {
				t.Errorf("directory and holders: got %s %q (%v), want %s %q", split.Decision, split.Reason, serr, tt.want, tt.code)
			}
			if tt.code == "" {
				if err != nil {
					t.Errorf("error: got %v, want nil", err)
				}
				return
			}
			if !fault.Has(err, tt.kind, tt.code) {
				t.Errorf("error: got %v (%s %s), want %s %s", err, fault.KindOf(err), fault.CodeOf(err), tt.kind, tt.code)
			}
			if d := tt.pan.Digits(); d != "" && strings.Contains(err.Error(), d) {
				t.Errorf("error text contains the card number: %q", err.Error())
			}
		})
	}

	t.Run("nil config", func(t *testing.T) {
		got, err := Verify(nil, green.PAN, green.Expiry, green.CVN2.Digits(), now)
		if got != Red || fault.KindOf(err) != fault.Internal {
			t.Errorf("got %s %v, want red and an internal error", got, err)
		}
	})
	t.Run("every card", func(t *testing.T) {
		for i := range c.Cards {
			h := &c.Cards[i]
			got, err := Verify(c, h.PAN, h.Expiry, h.CVN2.Digits(), now)
			want := h.IDV
			if h.Expiry.Expired(now) || !h.Usable() {
				want = Red
			}
			if got != want {
				t.Errorf("cards[%d]: got %s (%v), want %s", i, got, err, want)
			}
		}
	})
}

// TestVerifyNotActiveSaysWhy: a blocked or lost card is refused with a
// message that says so, and the card holder what to do.
func TestVerifyNotActiveSaysWhy(t *testing.T) {
	c := mustDefault(t)
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		status Status
		want   string
	}{
		{Blocked, "the bank has blocked it"},
		{Lost, "it was reported lost"},
	} {
		t.Run(string(tt.status), func(t *testing.T) {
			h := firstCard(t, c, string(tt.status), func(h *Cardholder) bool { return h.Status == tt.status })
			_, err := Verify(c, h.PAN, h.Expiry, h.CVN2.Digits(), now)
			msg := fault.MessageOf(err)
			for _, w := range []string{tt.want, "ending " + h.PAN.Last4(), "call the bank"} {
				if !strings.Contains(msg, w) {
					t.Errorf("got %q, want it to contain %q", msg, w)
				}
			}
		})
	}
}

// splitVerify is ID&V as the parties do it: the directory routes the card
// to its bank, whose own card holders decide.
func splitVerify(c *Config, req IDVRequest, now time.Time) (IDVVerdict, error) {
	v, err := c.Directory().Route(req.PAN)
	if err != nil {
		return v, err
	}
	b, _ := c.Directory().BankByID(v.BankID)
	d, err := c.Holders(v.BankID).Verify(b, req, now)
	if err != nil {
		return red(err)
	}
	v.Decision = d
	return v, nil
}
