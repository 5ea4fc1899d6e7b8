package platform_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/tsp"
)

// bindOutcome is how the wallet API answered adding a card: "added" (at
// once), "otp_required" (stepped up) or the error code.
func bindOutcome(ph *phone.Phone, h *bank.Cardholder) string {
	res, err := ph.AddCard(context.Background(), h.PAN.Digits(), h.Expiry.MMYY(), h.CVN2.Digits())
	switch {
	case err != nil:
		return code(err)
	case res.Card != nil:
		return "added"
	case res.BindingID != "":
		return "otp_required"
	}
	return "no card and no binding"
}

// greenCards are n cards their bank approves at once (bank.Green).
func greenCards(t *testing.T, e *env, n int) []*bank.Cardholder {
	t.Helper()
	g := cardsBy(e.p.Banks, bank.Green)
	if len(g) < n {
		t.Fatalf("%d green test cards, want %d", len(g), n)
	}
	return g[:n]
}

// without makes the platform's engine use the default rule set without
// the rules ids (a new version), as if the rules had been removed.
func without(t *testing.T, e *env, ids ...string) {
	t.Helper()
	set := risk.Default()
	set.Version += 100
	kept := set.Rules[:0]
	for _, r := range set.Rules {
		if !slices.Contains(ids, r.ID) {
			kept = append(kept, r)
		}
	}
	if len(kept) != len(set.Rules)-len(ids) {
		t.Fatalf("the default rule set lacks one of %v", ids)
	}
	set.Rules = kept
	if err := e.p.Risk().Use(set); err != nil {
		t.Fatal(err)
	}
}

// withAndWithout runs f on a fresh platform with the default rules and on
// one whose engine uses them without the rule id (removed set); the rules
// apart are left out of both (they would fire on the same cards).
func withAndWithout(t *testing.T, id string, f func(t *testing.T, e *env, removed bool), apart ...string) {
	for _, removed := range []bool{false, true} {
		name := "default rules"
		if removed {
			name = "without " + id
		}
		t.Run(name, func(t *testing.T) {
			e := start(t)
			out := slices.Clone(apart)
			if removed {
				out = append(out, id)
			}
			if len(out) > 0 {
				without(t, e, out...)
			}
			f(t, e, removed)
		})
	}
}

// bindingPhone is a new account's phone whose clock follows the
// platform's test clock (its signed requests are not stale after advance).
func (e *env) bindingPhone(t *testing.T, email string) *phone.Phone {
	t.Helper()
	ph := e.newPhone(t, email)
	ph.Now = func() time.Time { return time.Now().Add(time.Duration(e.clock.Load())) }
	return ph
}

// later advances the platform's clock by d and logs the phone in again
// (its session may have expired meanwhile).
func (e *env) later(t *testing.T, ph *phone.Phone, d time.Duration) {
	t.Helper()
	e.advance(d)
	if err := ph.LogIn(context.Background(), ph.Profile.Email, "password-123"); err != nil {
		t.Fatal(err)
	}
}

// lostAndFound switches the phone's wallet off as lost and on again with
// the account's password, through the platform's lost-phone service.
func lostAndFound(t *testing.T, ph *phone.Phone) {
	t.Helper()
	ctx := context.Background()
	if _, err := ph.WalletOff(ctx, ph.Profile.PhoneID, "lost it"); err != nil {
		t.Fatalf("wallet off: %v", err)
	}
	// switching off ends the phone's sessions: the holder logs in again
	if err := ph.LogIn(ctx, ph.Profile.Email, "password-123"); err != nil {
		t.Fatal(err)
	}
	if _, err := ph.WalletOn(ctx, ph.Profile.PhoneID, "password-123"); err != nil {
		t.Fatalf("wallet on: %v", err)
	}
}

// TestRiskBindingManyCards: bind.cards_per_phone (more than 5 different
// cards tried on one phone in 24 h) steps up the 6th green card — a
// one-time code although its bank says green — and the 5th (near miss) is
// added at once. Without the rule the 6th is added at once too. (The
// test cards' holders differ: bind.names_per_phone is left out here.)
func TestRiskBindingManyCards(t *testing.T) {
	withAndWithout(t, "bind.cards_per_phone", func(t *testing.T, e *env, removed bool) {
		ph := e.bindingPhone(t, "many@example.com")
		cards := greenCards(t, e, 6)
		for i, h := range cards[:5] {
			if got := bindOutcome(ph, h); got != "added" {
				t.Fatalf("card %d of 5 (near miss): got %s, want added at once", i+1, got)
			}
			e.advance(time.Hour)
		}
		want := "otp_required"
		if removed {
			want = "added"
		}
		if got := bindOutcome(ph, cards[5]); got != want {
			t.Fatalf("the 6th different card in a day: got %s, want %s", got, want)
		}
	}, "bind.names_per_phone")
}

// TestRiskBindingLostManyCards: bind.lost_many_cards declines (risk_declined)
// the 4th different card tried on a phone switched off as lost less than
// a day ago; the 3rd (near miss) is only stepped up (bind.lost_recently),
// and so is a 4th card a day and more after the switch-off. Without the
// rule the 4th is stepped up, not declined.
func TestRiskBindingLostManyCards(t *testing.T) {
	withAndWithout(t, "bind.lost_many_cards", func(t *testing.T, e *env, removed bool) {
		ph := e.bindingPhone(t, "found@example.com")
		lostAndFound(t, ph)
		e.advance(time.Hour)
		cards := greenCards(t, e, 4)
		for i, h := range cards[:3] {
			if got := bindOutcome(ph, h); got != "otp_required" {
				t.Fatalf("card %d of 3 (near miss) on a phone lost an hour ago: got %s, want otp_required", i+1, got)
			}
		}
		want := tsp.CodeRiskDeclined
		if removed {
			want = "otp_required"
		}
		if got := bindOutcome(ph, cards[3]); got != want {
			t.Fatalf("the 4th different card on a phone lost an hour ago: got %s, want %s", got, want)
		}
	})
	t.Run("near miss: lost more than a day ago", func(t *testing.T) {
		e := start(t)
		ph := e.bindingPhone(t, "found2@example.com")
		lostAndFound(t, ph)
		e.later(t, ph, 25*time.Hour)
		for i, h := range greenCards(t, e, 4) {
			if got := bindOutcome(ph, h); got != "otp_required" {
				t.Fatalf("card %d of 4 on a phone lost 25 hours ago: got %s, want otp_required (stepped up, not declined)", i+1, got)
			}
		}
	})
}

// TestRiskBindingLostRecently: bind.lost_recently (switched off as lost in
// the last 7 days) steps up a green card on a phone switched off 3 days
// ago and is silent 8 days after. Without the rule the card is added at
// once 3 days after.
func TestRiskBindingLostRecently(t *testing.T) {
	for _, tt := range []struct {
		name    string
		after   time.Duration
		removed bool
		want    string
	}{
		{"3 days after", 3 * 24 * time.Hour, false, "otp_required"},
		{"8 days after (near miss)", 8 * 24 * time.Hour, false, "added"},
		{"3 days after without bind.lost_recently", 3 * 24 * time.Hour, true, "added"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t)
			if tt.removed {
				without(t, e, "bind.lost_recently")
			}
			ph := e.bindingPhone(t, "lost7@example.com")
			lostAndFound(t, ph)
			e.later(t, ph, tt.after)
			if got := bindOutcome(ph, greenCards(t, e, 1)[0]); got != tt.want {
				t.Fatalf("a green card %s the switch-off: got %s, want %s", tt.name, got, tt.want)
			}
		})
	}
}

// TestRiskBindingHolderNames: bind.names_per_phone (more than 2 distinct
// card-holder names on one phone in 90 days, MDES's reason) — the banks'
// ID&V gives the holder's name (kept only as a keyed reference) — steps up
// the third name, a green card its bank approves at once; two names (the
// near miss) and more cards of one name pass. Without the rule the third
// name is added at once.
func TestRiskBindingHolderNames(t *testing.T) {
	withAndWithout(t, "bind.names_per_phone", func(t *testing.T, e *env, removed bool) {
		ph := e.bindingPhone(t, "names@example.com")
		var one []*bank.Cardholder // cards of one holder
		var others []*bank.Cardholder
		names := map[string]bool{}
		for _, h := range cardsBy(e.p.Banks, bank.Green) {
			switch {
			case h.Name == "ZHANG MIN" && len(one) < 2:
				one = append(one, h)
			case h.Name != "ZHANG MIN" && !names[h.Name] && len(others) < 2:
				names[h.Name] = true
				others = append(others, h)
			}
		}
		if len(one) < 2 || len(others) < 2 {
			t.Fatalf("test cards: %d of ZHANG MIN, %d of other names; want 2 and 2", len(one), len(others))
		}
		for i, h := range append(one, others[0]) {
			if got := bindOutcome(ph, h); got != "added" {
				t.Fatalf("card %d (at most 2 names): got %s, want added at once", i+1, got)
			}
			e.advance(time.Hour)
		}
		want := "otp_required"
		if removed {
			want = "added"
		}
		if got := bindOutcome(ph, others[1]); got != want {
			t.Fatalf("the third holder name: got %s, want %s", got, want)
		}
	})
}
