package risk_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/risk"
)

var t0 = time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)

// auth is an ordinary authorization: a month-old token, 50.00 at a Beijing
// grocery.
func auth(mod ...func(a *risk.Auth)) risk.Auth {
	a := risk.Auth{ID: "T0000001|000001|0314100000", At: t0, Token: "tok_A", Card: "par_A", Phone: "ph_A", Account: "acc_A", Bank: "icbc",
		Amount: 5000, Currency: 156, MCC: "5411", Merchant: "898310054110001", City: "BEIJING", Country: "CN", EntryMode: "07",
		TokenCreated: t0.Add(-60 * 24 * time.Hour)}
	for _, m := range mod {
		m(&a)
	}
	return a
}

func binding(mod ...func(b *risk.Binding)) risk.Binding {
	b := risk.Binding{ID: "bnd_1", At: t0, Card: "par_A", Phone: "ph_A", Account: "acc_A", Bank: "icbc", Holder: "nm_1",
		PhoneCreated: t0.Add(-100 * 24 * time.Hour), AccountCreated: t0.Add(-100 * 24 * time.Hour)}
	for _, m := range mod {
		m(&b)
	}
	return b
}

// past records n authorizations before t0 (the i-th at t0 - ago(i)),
// each made by mod(i, a).
func past(n int, approved bool, ago func(i int) time.Duration, mod func(i int, a *risk.Auth)) func(t *testing.T, e *risk.Engine) {
	return func(t *testing.T, e *risk.Engine) {
		for i := 0; i < n; i++ {
			a := auth(func(a *risk.Auth) {
				a.ID = fmt.Sprintf("T0000001|%06d|past", i)
				a.At = t0.Add(-ago(i))
				if mod != nil {
					mod(i, a)
				}
			})
			if err := e.RecordAuth(context.Background(), a, approved); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func pastBindings(n int, ago func(i int) time.Duration, mod func(i int, b *risk.Binding)) func(t *testing.T, e *risk.Engine) {
	return func(t *testing.T, e *risk.Engine) {
		for i := 0; i < n; i++ {
			b := binding(func(b *risk.Binding) {
				b.ID = fmt.Sprintf("bnd_past_%d", i)
				b.At = t0.Add(-ago(i))
				if mod != nil {
					mod(i, b)
				}
			})
			if err := e.RecordBinding(context.Background(), b); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// ride is an ordinary cleared ride: a Beijing metro exit at Xidan, 3.00,
// of a transit card on phone ph_A.
func ride(mod ...func(r *risk.TransitRide)) risk.TransitRide {
	r := risk.TransitRide{ID: "beijing|tc_a|10", At: t0, Card: "tc_a", Phone: "ph_A", Account: "acc_A", City: "beijing", Line: 1, Station: 112, Amount: 300}
	for _, m := range mod {
		m(&r)
	}
	return r
}

// pastRides records n cleared rides (the i-th at t0 - ago(i); a negative
// ago is after t0: a file cleared before this one's), each made by mod.
func pastRides(n int, ago func(i int) time.Duration, mod func(i int, r *risk.TransitRide)) func(t *testing.T, e *risk.Engine) {
	return func(t *testing.T, e *risk.Engine) {
		for i := 0; i < n; i++ {
			r := ride(func(r *risk.TransitRide) {
				r.ID = fmt.Sprintf("beijing|tc_a|%d", i)
				r.At = t0.Add(-ago(i))
				if mod != nil {
					mod(i, r)
				}
			})
			if err := e.RecordRide(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func rp(r risk.TransitRide) *risk.TransitRide { return &r }

// shanghaiCard is the phone's other transit card, tapped in Shanghai.
func shanghaiCard(i int, r *risk.TransitRide) {
	r.ID, r.Card, r.City = fmt.Sprintf("shanghai|tc_b|%d", i), "tc_b", "shanghai"
}

func minutes(m int) func(int) time.Duration {
	return func(i int) time.Duration { return time.Duration(m*(i+1)) * time.Minute }
}
func hours(h int) func(int) time.Duration {
	return func(i int) time.Duration { return time.Duration(h*(i+1)) * time.Hour }
}

func nothing(*testing.T, *risk.Engine) {}

type ruleCase struct {
	name  string
	rule  string
	setup func(t *testing.T, e *risk.Engine)
	in    any // *risk.Auth, *risk.Binding or nil (the ordinary one of the rule's point)
	fire  bool
	want  risk.Outcome // the decision's outcome
}

func ap(a risk.Auth) *risk.Auth       { return &a }
func bp(b risk.Binding) *risk.Binding { return &b }
func amount(n int64) func(*risk.Auth) { return func(a *risk.Auth) { a.Amount = n } }
func other(i int, a *risk.Auth, token, card, phone bool) {
	if token {
		a.Token = fmt.Sprintf("tok_o%d", i)
	}
	if card {
		a.Card = fmt.Sprintf("par_o%d", i)
	}
	if phone {
		a.Phone = fmt.Sprintf("ph_o%d", i)
	}
}

// TestDefaultRules: each default rule fires on a case built for it and
// stays silent on its near miss, and the decision's outcome is the one the
// rule set promises.
func TestDefaultRules(t *testing.T) {
	tenK := past(10, true, hours(20), func(i int, a *risk.Auth) { a.Amount = 10000 })
	cases := []ruleCase{
		{"p95 fires at 6x the usual", "auth.amount_p95", tenK, ap(auth(amount(60000))), true, risk.Review},
		{"p95 silent at 5x", "auth.amount_p95", tenK, ap(auth(amount(50000))), false, risk.Approve},
		{"p95 silent with 4 payments of history", "auth.amount_p95", past(4, true, hours(20), func(i int, a *risk.Auth) { a.Amount = 10000 }), ap(auth(amount(60000))), false, risk.Approve},

		{"token velocity (shadow) fires at the 6th in 15 min, outcome unchanged", "auth.token_velocity_15m", past(5, true, minutes(2), nil), ap(auth()), true, risk.Approve},
		{"token velocity silent at the 5th", "auth.token_velocity_15m", past(4, true, minutes(2), nil), ap(auth()), false, risk.Approve},
		{"token velocity silent when the 5 are 16 min old", "auth.token_velocity_15m", past(5, true, func(i int) time.Duration { return 16*time.Minute + time.Duration(i)*time.Second }, nil), ap(auth()), false, risk.Approve},

		{"card velocity (shadow) fires at the 11th in an hour, outcome unchanged", "auth.card_velocity_1h", past(10, true, minutes(5), func(i int, a *risk.Auth) { other(i, a, true, false, true) }), ap(auth()), true, risk.Approve},
		{"card velocity silent at the 10th", "auth.card_velocity_1h", past(9, true, minutes(5), func(i int, a *risk.Auth) { other(i, a, true, false, true) }), ap(auth()), false, risk.Approve},

		{"card sum (shadow) fires above 20,000.00, outcome unchanged", "auth.card_sum_24h", past(2, true, hours(8), func(i int, a *risk.Auth) { a.Amount = 995000 }), ap(auth(amount(20000))), true, risk.Approve},
		{"card sum silent at 20,000.00", "auth.card_sum_24h", past(2, true, hours(8), func(i int, a *risk.Auth) { a.Amount = 995000 }), ap(auth(amount(10000))), false, risk.Approve},

		{"phone velocity (shadow) fires at the 16th, outcome unchanged", "auth.phone_velocity_1h", past(15, true, minutes(3), func(i int, a *risk.Auth) { other(i, a, true, true, false) }), ap(auth()), true, risk.Approve},
		{"phone velocity silent at the 15th", "auth.phone_velocity_1h", past(14, true, minutes(3), func(i int, a *risk.Auth) { other(i, a, true, true, false) }), ap(auth()), false, risk.Approve},

		{"merchant burst (shadow) fires at the 301st, outcome unchanged", "auth.merchant_burst_15m", past(300, true, func(i int) time.Duration { return time.Duration(i) * 2 * time.Second }, func(i int, a *risk.Auth) { other(i, a, true, true, true) }), ap(auth()), true, risk.Approve},
		{"merchant burst silent at the 300th", "auth.merchant_burst_15m", past(299, true, func(i int) time.Duration { return time.Duration(i) * 2 * time.Second }, func(i int, a *risk.Auth) { other(i, a, true, true, true) }), ap(auth()), false, risk.Approve},

		{"card testing fires after 3 declines", "auth.card_testing", past(3, false, minutes(3), func(i int, a *risk.Auth) { a.Amount = 100 }), ap(auth(amount(100))), true, risk.Decline},
		{"card testing silent after 2 declines", "auth.card_testing", past(2, false, minutes(3), func(i int, a *risk.Auth) { a.Amount = 100 }), ap(auth(amount(100))), false, risk.Approve},
		{"card testing silent above 20.00", "auth.card_testing", past(3, false, minutes(3), func(i int, a *risk.Auth) { a.Amount = 100 }), ap(auth(amount(2001))), false, risk.Approve},
		{"card testing fires on the card's declines over other tokens", "auth.card_testing", past(3, false, minutes(15), func(i int, a *risk.Auth) { other(i, a, true, false, true) }), ap(auth(amount(100))), true, risk.Decline},

		{"small burst fires at the 6th small payment", "auth.small_burst", past(5, true, minutes(2), func(i int, a *risk.Auth) { a.Amount = 500 }), ap(auth(amount(500))), true, risk.Decline},
		{"small burst silent above 10.00", "auth.small_burst", past(5, true, minutes(2), func(i int, a *risk.Auth) { a.Amount = 500 }), ap(auth(amount(1001))), false, risk.Approve},

		{"decline velocity fires at 10 declines in 24 h", "auth.decline_velocity_24h", past(10, false, hours(2), nil), ap(auth()), true, risk.Decline},
		{"decline velocity silent at 9", "auth.decline_velocity_24h", past(9, false, hours(2), nil), ap(auth()), false, risk.Approve},

		{"high-risk MCC fires on gambling", "auth.mcc_high_risk", nothing, ap(auth(func(a *risk.Auth) { a.MCC = "7995" })), true, risk.Review},
		{"high-risk MCC silent on groceries", "auth.mcc_high_risk", nothing, ap(auth()), false, risk.Approve},

		{"sanctioned country fires", "auth.country_blocked", nothing, ap(auth(func(a *risk.Auth) { a.Country = "KP" })), true, risk.Decline},
		{"sanctioned country silent next door", "auth.country_blocked", nothing, ap(auth(func(a *risk.Auth) { a.Country = "KR" })), false, risk.Approve},

		{"impossible travel: Shanghai 10 min after Beijing declines", "auth.impossible_travel", past(1, true, minutes(10), nil), ap(auth(func(a *risk.Auth) { a.City = "SHANGHAI" })), true, risk.Decline},
		{"fast travel: Shanghai 100 min after Beijing reviews", "auth.impossible_travel", past(1, true, minutes(100), nil), ap(auth(func(a *risk.Auth) { a.City = "SHANGHAI" })), true, risk.Review},
		{"travel silent 3 h after Beijing (a flight)", "auth.impossible_travel", past(1, true, minutes(180), nil), ap(auth(func(a *risk.Auth) { a.City = "SHANGHAI" })), false, risk.Approve},
		{"travel silent within one city", "auth.impossible_travel", past(1, true, minutes(1), nil), ap(auth()), false, risk.Approve},
		// A transit operator's in-app charge (MCC 4111) is made from anywhere:
		// buying a Shanghai transit card from Beijing is no travel, and it
		// leaves no sighting that would make the next tap at home look far.
		{"travel silent on a Shanghai operator's in-app charge 10 min after Beijing", "auth.impossible_travel", past(1, true, minutes(10), nil),
			ap(auth(func(a *risk.Auth) { a.City, a.MCC = "SHANGHAI", risk.TransitOperatorMCC })), false, risk.Approve},
		{"travel silent at home 10 min after a Shanghai operator's in-app charge", "auth.impossible_travel", past(1, true, minutes(10), func(i int, a *risk.Auth) { a.City, a.MCC = "SHANGHAI", risk.TransitOperatorMCC }),
			ap(auth()), false, risk.Approve},
		{"impossible travel from the phone's reported place", "auth.impossible_travel", nothing, ap(auth(func(a *risk.Auth) {
			a.City = "SHANGHAI"
			a.PhoneSeen = &risk.Sighting{Place: risk.Place{Lat: 39.93, Lon: 116.45}, At: t0.Add(-5 * time.Minute)}
		})), true, risk.Decline},
		{"travel from a terminal place the merchant directory gives", "auth.impossible_travel", past(1, true, minutes(10), nil), ap(auth(func(a *risk.Auth) {
			a.City = "NOWHERE"
			a.Terminal = &risk.Place{Lat: 31.23, Lon: 121.47}
		})), true, risk.Decline},

		{"new token fires at 2,000.00 on first use", "auth.new_token_high_amount", nothing, ap(auth(amount(200000), func(a *risk.Auth) { a.TokenCreated = t0.Add(-2 * time.Hour) })), true, risk.Review},
		{"new token silent at 1,999.99", "auth.new_token_high_amount", nothing, ap(auth(amount(199999), func(a *risk.Auth) { a.TokenCreated = t0.Add(-2 * time.Hour) })), false, risk.Approve},
		{"new token silent on second use", "auth.new_token_high_amount", past(1, true, minutes(30), nil), ap(auth(amount(200000), func(a *risk.Auth) { a.TokenCreated = t0.Add(-2 * time.Hour) })), false, risk.Approve},

		{"young pair fires at 5,000.00", "auth.young_pair_high_amount", nothing, ap(auth(amount(500000), func(a *risk.Auth) { a.TokenCreated = t0.Add(-10 * 24 * time.Hour) })), true, risk.Review},
		{"young pair silent at 21 days", "auth.young_pair_high_amount", nothing, ap(auth(amount(500000), func(a *risk.Auth) { a.TokenCreated = t0.Add(-21 * 24 * time.Hour) })), false, risk.Approve},

		{"card/device attempts fire at the 4th in 72 h", "bind.card_device_attempts", pastBindings(3, hours(20), nil), nil, true, risk.Review},
		{"card/device attempts silent at the 3rd", "bind.card_device_attempts", pastBindings(2, hours(20), nil), nil, false, risk.Approve},
		{"card/device attempts silent when older than 72 h", "bind.card_device_attempts", pastBindings(3, func(i int) time.Duration { return time.Duration(73+i) * time.Hour }, nil), nil, false, risk.Approve},

		{"card/device attempts decline at the 9th in 72 h (wrong codes count)", "bind.card_device_attempts_many", pastBindings(8, hours(8), nil), nil, true, risk.Decline},
		{"card/device attempts step up only at the 8th", "bind.card_device_attempts_many", pastBindings(7, hours(8), nil), nil, false, risk.Review},

		{"cards per phone step up at the 6th card", "bind.cards_per_phone", pastBindings(5, hours(3), func(i int, b *risk.Binding) { b.Card = fmt.Sprintf("par_o%d", i) }), nil, true, risk.Review},
		{"cards per phone step up, not decline, on a new phone and account", "bind.cards_per_phone", pastBindings(7, hours(3), func(i int, b *risk.Binding) { b.Card = fmt.Sprintf("par_o%d", i) }), bp(binding(func(b *risk.Binding) {
			b.PhoneCreated, b.AccountCreated = t0.Add(-2*time.Hour), t0.Add(-3*time.Hour)
		})), true, risk.Review},
		{"cards per phone silent at the 5th", "bind.cards_per_phone", pastBindings(4, hours(3), func(i int, b *risk.Binding) { b.Card = fmt.Sprintf("par_o%d", i) }), nil, false, risk.Approve},

		{"lost 6 days ago fires", "bind.lost_recently", nothing, bp(binding(func(b *risk.Binding) { b.PhoneLostAt = t0.Add(-6 * 24 * time.Hour) })), true, risk.Review},
		{"lost 8 days ago silent", "bind.lost_recently", nothing, bp(binding(func(b *risk.Binding) { b.PhoneLostAt = t0.Add(-8 * 24 * time.Hour) })), false, risk.Approve},

		{"lost 12 hours ago and a 4th card declines", "bind.lost_many_cards", pastBindings(3, hours(2), func(i int, b *risk.Binding) { b.Card = fmt.Sprintf("par_o%d", i) }), bp(binding(func(b *risk.Binding) { b.PhoneLostAt = t0.Add(-12 * time.Hour) })), true, risk.Decline},
		{"lost 12 hours ago and a 3rd card steps up", "bind.lost_many_cards", pastBindings(2, hours(2), func(i int, b *risk.Binding) { b.Card = fmt.Sprintf("par_o%d", i) }), bp(binding(func(b *risk.Binding) { b.PhoneLostAt = t0.Add(-12 * time.Hour) })), false, risk.Review},
		{"lost 2 days ago and a 4th card steps up", "bind.lost_many_cards", pastBindings(3, hours(2), func(i int, b *risk.Binding) { b.Card = fmt.Sprintf("par_o%d", i) }), bp(binding(func(b *risk.Binding) { b.PhoneLostAt = t0.Add(-48 * time.Hour) })), false, risk.Review},

		{"3 names on a phone fire", "bind.names_per_phone", pastBindings(2, hours(30), func(i int, b *risk.Binding) { b.Holder = fmt.Sprintf("nm_o%d", i) }), nil, true, risk.Review},
		{"2 names on a phone silent", "bind.names_per_phone", pastBindings(1, hours(30), func(i int, b *risk.Binding) { b.Holder = fmt.Sprintf("nm_o%d", i) }), nil, false, risk.Approve},

		{"a card on 3 accounts fires", "bind.card_many_accounts", pastBindings(2, hours(30), func(i int, b *risk.Binding) {
			b.Account, b.Phone = fmt.Sprintf("acc_o%d", i), fmt.Sprintf("ph_o%d", i)
		}), nil, true, risk.Review},
		{"a card on 2 accounts silent", "bind.card_many_accounts", pastBindings(1, hours(30), func(i int, b *risk.Binding) {
			b.Account, b.Phone = fmt.Sprintf("acc_o%d", i), fmt.Sprintf("ph_o%d", i)
		}), nil, false, risk.Approve},

		{"3 wrong codes fire", "bind.failed_otps", nothing, bp(binding(func(b *risk.Binding) { b.FailedOTPs = 3 })), true, risk.Decline},
		{"2 wrong codes silent", "bind.failed_otps", nothing, bp(binding(func(b *risk.Binding) { b.FailedOTPs = 2 })), false, risk.Approve},

		{"3 wrong codes on a phone, other cards, step up", "bind.phone_failed_otps", pastBindings(3, hours(5), func(i int, b *risk.Binding) {
			b.Card, b.WrongOTP = fmt.Sprintf("par_o%d", i), true
		}), nil, true, risk.Review},
		{"6 wrong codes on a phone, other cards, decline", "bind.phone_failed_otps", pastBindings(6, hours(3), func(i int, b *risk.Binding) {
			b.Card, b.WrongOTP = fmt.Sprintf("par_o%d", i%2), true
		}), nil, true, risk.Decline},
		{"2 wrong codes on a phone silent", "bind.phone_failed_otps", pastBindings(2, hours(5), func(i int, b *risk.Binding) {
			b.Card, b.WrongOTP = fmt.Sprintf("par_o%d", i), true
		}), nil, false, risk.Approve},
		{"3 wrong codes on a phone 25 h ago silent", "bind.phone_failed_otps", pastBindings(3, func(i int) time.Duration { return time.Duration(25+i) * time.Hour }, func(i int, b *risk.Binding) {
			b.Card, b.WrongOTP = fmt.Sprintf("par_o%d", i), true
		}), nil, false, risk.Approve},
		{"3 attempts without wrong codes silent", "bind.phone_failed_otps", pastBindings(3, hours(5), func(i int, b *risk.Binding) { b.Card = fmt.Sprintf("par_o%d", i) }), nil, false, risk.Approve},

		{"new phone and account score but stay green", "bind.new_phone_new_account", nothing, bp(binding(func(b *risk.Binding) {
			b.PhoneCreated, b.AccountCreated = t0.Add(-2*time.Hour), t0.Add(-3*time.Hour)
		})), true, risk.Approve},
		{"a two-day-old phone silent", "bind.new_phone_new_account", nothing, bp(binding(func(b *risk.Binding) {
			b.PhoneCreated, b.AccountCreated = t0.Add(-48*time.Hour), t0.Add(-3*time.Hour)
		})), false, risk.Approve},

		{"4 banks on a phone (shadow) recorded, green", "bind.banks_per_phone", pastBindings(3, hours(2), func(i int, b *risk.Binding) {
			b.Bank, b.Card = fmt.Sprintf("bank%d", i), fmt.Sprintf("par_o%d", i)
		}), nil, true, risk.Approve},
		{"3 banks on a phone silent", "bind.banks_per_phone", pastBindings(2, hours(2), func(i int, b *risk.Binding) {
			b.Bank, b.Card = fmt.Sprintf("bank%d", i), fmt.Sprintf("par_o%d", i)
		}), nil, false, risk.Approve},

		{"transit travel: the phone's Shanghai card 10 min before a Beijing ride", "transit.impossible_travel", pastRides(1, minutes(10), shanghaiCard), nil, true, risk.Review},
		{"transit travel: the Shanghai ride 10 min after, cleared first", "transit.impossible_travel", pastRides(1, minutes(-10), shanghaiCard), nil, true, risk.Review},
		{"transit travel: a payment tap in Shanghai 10 min before", "transit.impossible_travel", past(1, true, minutes(10), func(i int, a *risk.Auth) { a.Phone, a.City = "ph_A", "SHANGHAI" }), nil, true, risk.Review},
		{"transit travel silent 3 h after Shanghai (a fast train)", "transit.impossible_travel", pastRides(1, minutes(180), shanghaiCard), nil, false, risk.Approve},
		{"transit travel silent within one city", "transit.impossible_travel", pastRides(1, minutes(1), nil), nil, false, risk.Approve},
		{"transit travel silent for another phone's card", "transit.impossible_travel", pastRides(1, minutes(10), func(i int, r *risk.TransitRide) {
			shanghaiCard(i, r)
			r.Phone = "ph_B"
		}), nil, false, risk.Approve},

		{"tap burst fires at the 7th tap within 15 min", "transit.tap_burst", pastRides(6, minutes(2), nil), nil, true, risk.Review},
		{"tap burst fires with taps after the ride too", "transit.tap_burst", pastRides(6, func(i int) time.Duration { return time.Duration(i-3) * 2 * time.Minute }, nil), nil, true, risk.Review},
		{"tap burst silent at the 6th", "transit.tap_burst", pastRides(5, minutes(2), nil), nil, false, risk.Approve},
		{"tap burst silent over 40 minutes", "transit.tap_burst", pastRides(6, minutes(6), nil), nil, false, risk.Approve},

		{"two cities: Shenzhen 10 min before a Guangzhou ride", "transit.two_cities", pastRides(1, minutes(10), func(i int, r *risk.TransitRide) {
			r.ID, r.Card, r.City = "shenzhen|tc_c|1", "tc_c", "shenzhen"
		}), rp(ride(func(r *risk.TransitRide) { r.ID, r.City = "guangzhou|tc_a|10", "guangzhou" })), true, risk.Review},
		{"two cities silent 20 min apart", "transit.two_cities", pastRides(1, minutes(20), func(i int, r *risk.TransitRide) {
			r.ID, r.Card, r.City = "shenzhen|tc_c|1", "tc_c", "shenzhen"
		}), rp(ride(func(r *risk.TransitRide) { r.ID, r.City = "guangzhou|tc_a|10", "guangzhou" })), false, risk.Approve},
	}
	covered := map[string][2]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := risk.New(risk.Default(), risk.NewMemory())
			if err != nil {
				t.Fatal(err)
			}
			c.setup(t, e)
			var d risk.Decision
			switch in := c.in.(type) {
			case *risk.Auth:
				d, err = e.Authorize(context.Background(), *in)
			case *risk.Binding:
				d, err = e.Bind(context.Background(), *in)
			case *risk.TransitRide:
				d, err = e.CheckRide(context.Background(), *in)
			default:
				if strings.HasPrefix(c.rule, "transit.") {
					d, err = e.CheckRide(context.Background(), ride())
					break
				}
				d, err = e.Bind(context.Background(), binding())
			}
			if err != nil {
				t.Fatal(err)
			}
			var hit *risk.Hit
			for i := range d.Hits {
				if d.Hits[i].Rule == c.rule {
					hit = &d.Hits[i]
				}
			}
			if (hit != nil) != c.fire {
				t.Fatalf("%s fired: got %v, want %v (decision %s, hits %+v)", c.rule, hit != nil, c.fire, d, d.Hits)
			}
			if d.Outcome != c.want {
				t.Errorf("outcome: got %s, want %s (%s)", d.Outcome, c.want, d)
			}
			if hit != nil && len(hit.Inputs) == 0 {
				t.Errorf("%s fired without inputs", c.rule)
			}
			cv := covered[c.rule]
			cv[map[bool]int{true: 0, false: 1}[c.fire]] = true
			covered[c.rule] = cv
		})
	}
	for _, r := range risk.Default().Rules {
		if cv := covered[r.ID]; !cv[0] || !cv[1] {
			t.Errorf("rule %s: fire case %v, near miss %v: want both", r.ID, cv[0], cv[1])
		}
	}
}
