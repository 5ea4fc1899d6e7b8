package platform_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/phone"
)

// TestAddBlockedOrLostCard: the wallet API refuses to add a card its bank
// blocked or its holder reported lost, with a declined error that says why
// and never shows the card number.
func TestAddBlockedOrLostCard(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	ph := e.newPhone(t, "gus@example.com")
	for _, tt := range []struct {
		status bank.Status
		want   string
	}{
		{bank.Blocked, "the bank has blocked it"},
		{bank.Lost, "it was reported lost"},
	} {
		t.Run(string(tt.status), func(t *testing.T) {
			var h *bank.Cardholder
			for i := range e.p.Banks.Cards {
				if c := &e.p.Banks.Cards[i]; c.Status == tt.status {
					h = c
					break
				}
			}
			if h == nil {
				t.Fatalf("no %s test card", tt.status)
			}
			_, err := ph.AddCard(ctx, h.PAN.Digits(), h.Expiry.MMYY(), h.CVN2.Digits())
			var ae *phone.APIError
			if !errors.As(err, &ae) || ae.Code != "card_blocked" || ae.Status != 422 || ae.Kind != "declined" {
				t.Fatalf("got %v, want 422 declined card_blocked", err)
			}
			if !strings.Contains(ae.Message, tt.want) || strings.Contains(ae.Message, h.PAN.Digits()) {
				t.Errorf("got message %q, want it to say %q and not show the card number", ae.Message, tt.want)
			}
		})
	}
	if cards, err := ph.Cards(ctx); err != nil || len(cards) != 0 {
		t.Errorf("got %d cards on the phone (%v), want none", len(cards), err)
	}
}
