package risk_test

import (
	"context"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/risk"
)

// live runs auths through the engine as the network would: decide, answer
// 59 on a risk decline or ask the issuer (issuer(i) is its answer), record
// the answer, keep the authorization with its answer and decision.
func live(t interface{ Fatal(...any) }, set *risk.RuleSet, auths []risk.Auth, issuer func(i int) string) []risk.Stored {
	ctx := context.Background()
	e, err := risk.New(set, risk.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	var out []risk.Stored
	for i, a := range auths {
		d, err := e.Authorize(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		answer := string(d.ResponseCode())
		if answer == "" {
			answer = issuer(i)
		}
		if err := e.RecordAuth(ctx, a, answer == string(iso8583.Approved)); err != nil {
			t.Fatal(err)
		}
		out = append(out, risk.Stored{Auth: a, Answer: answer, Decision: &risk.Recorded{Outcome: d.Outcome, Version: d.Version, Reasons: d.Reasons}})
	}
	return out
}

// history draws a random history: a few cards, tokens, phones, merchants
// and cities, amounts from small to large, at random gaps, in time order.
func history(t *rapid.T) []risk.Auth {
	n := rapid.IntRange(1, 120).Draw(t, "n")
	at := t0
	cities := []string{"BEIJING", "SHANGHAI", "GUANGZHOU", "BEIJING", "NOWHERE"}
	var out []risk.Auth
	for i := 0; i < n; i++ {
		at = at.Add(time.Duration(rapid.IntRange(0, 4*3600).Draw(t, "gap")) * time.Second)
		c := rapid.IntRange(0, 3).Draw(t, "card")
		tok := rapid.IntRange(0, 1).Draw(t, "token")
		out = append(out, risk.Auth{
			ID: fmt.Sprintf("T1|%06d|x", i), At: at,
			Token: fmt.Sprintf("tok_%d_%d", c, tok), Card: fmt.Sprintf("par_%d", c), Phone: fmt.Sprintf("ph_%d", (c+tok)%3),
			Amount:   int64(rapid.SampledFrom([]int{100, 500, 900, 5000, 12000, 80000, 250000, 600000}).Draw(t, "amount")),
			MCC:      rapid.SampledFrom([]string{"5411", "5812", "7995"}).Draw(t, "mcc"),
			Merchant: fmt.Sprintf("M%d", rapid.IntRange(0, 2).Draw(t, "merchant")),
			City:     rapid.SampledFrom(cities).Draw(t, "city"), Country: rapid.SampledFrom([]string{"CN", "CN", "KP"}).Draw(t, "country"),
			TokenCreated: t0.Add(-time.Duration(rapid.IntRange(0, 40*24).Draw(t, "age")) * time.Hour),
		})
	}
	return out
}

// TestBacktestMatchesLive: for any history, a backtest of the stored
// authorizations with the rule set the live engine used gives the live
// decisions (no flip, same outcomes, same rules), and a backtest with
// another rule set flips exactly the authorizations whose outcome that set
// decides otherwise when run live on the same issuer answers.
func TestBacktestMatchesLive(t *testing.T) {
	strict := risk.Default()
	strict.Version = 2
	for i := range strict.Rules {
		if strict.Rules[i].ID == "auth.mcc_high_risk" {
			strict.Rules[i].Outcome = risk.Decline
		}
	}
	rapid.Check(t, func(rt *rapid.T) {
		auths := history(rt)
		seed := rapid.Int64().Draw(rt, "issuer")
		issuer := func(i int) string {
			if rand.New(rand.NewSource(seed+int64(i))).Intn(5) == 0 {
				return "51"
			}
			return "00"
		}
		stored := live(rt, risk.Default(), auths, issuer)
		rep, err := risk.Backtest(context.Background(), risk.Default(), stored, time.Time{}, time.Time{})
		if err != nil {
			rt.Fatal(err)
		}
		if len(rep.Flips) != 0 || rep.Compared != len(stored) || rep.AnswerUnknown != 0 {
			rt.Fatalf("same rules: %d flips (%+v), compared %d of %d", len(rep.Flips), rep.Flips, rep.Compared, len(stored))
		}
		for i, d := range rep.Decisions {
			s := stored[i].Decision
			if d.Outcome != s.Outcome || !reflect.DeepEqual(d.Reasons, s.Reasons) {
				rt.Fatalf("authorization %d: backtest %s %v, live %s %v", i, d.Outcome, d.Reasons, s.Outcome, s.Reasons)
			}
		}
		// The strict set, live on the same answers, against its backtest
		// over what the default set stored. A live decline under the
		// default set hides the issuer's answer; the backtest takes it as
		// approved, so the live run of the strict set does too.
		strictLive := live(rt, strict, auths, func(i int) string {
			if stored[i].Decision.Outcome == risk.Decline {
				return "00"
			}
			return stored[i].Answer
		})
		rep2, err := risk.Backtest(context.Background(), strict, stored, time.Time{}, time.Time{})
		if err != nil {
			rt.Fatal(err)
		}
		flips := 0
		for i := range stored {
			if stored[i].Decision.Outcome != strictLive[i].Decision.Outcome {
				flips++
			}
			if rep2.Decisions[i].Outcome != strictLive[i].Decision.Outcome {
				rt.Fatalf("authorization %d: strict backtest %s, strict live %s", i, rep2.Decisions[i].Outcome, strictLive[i].Decision.Outcome)
			}
		}
		if len(rep2.Flips) != flips {
			rt.Fatalf("strict: %d flips reported, %d outcomes differ", len(rep2.Flips), flips)
		}
	})
}

// TestBacktestReport: a proposed set that declines gambling flips the
// gambling payment, counts its hits, and leaves the warm-up out of the
// comparison.
func TestBacktestReport(t *testing.T) {
	auths := []risk.Auth{
		auth(func(a *risk.Auth) { a.ID = "a1"; a.At = t0.Add(-48 * time.Hour) }),
		auth(func(a *risk.Auth) { a.ID = "a2"; a.MCC = "7995"; a.At = t0.Add(-47 * time.Hour) }),
		auth(func(a *risk.Auth) { a.ID = "a3"; a.MCC = "7995" }),
		auth(func(a *risk.Auth) { a.ID = "a4"; a.At = t0.Add(time.Minute) }),
	}
	stored := live(t, risk.Default(), auths, func(int) string { return "00" })
	proposed := risk.Default()
	proposed.Version = 2
	for i := range proposed.Rules {
		if proposed.Rules[i].ID == "auth.mcc_high_risk" {
			proposed.Rules[i].Outcome = risk.Decline
		}
	}
	rep, err := risk.Backtest(context.Background(), proposed, stored, t0.Add(-time.Hour), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Replayed != 4 || rep.Compared != 2 || len(rep.Flips) != 1 || rep.Flips[0].ID != "a3" ||
		rep.Flips[0].Before != risk.Review || rep.Flips[0].After != risk.Decline {
		t.Fatalf("report: %+v", rep)
	}
	for _, r := range rep.Rules {
		want := 0
		if r.Rule == "auth.mcc_high_risk" {
			want = 1
		}
		if r.Hits != want {
			t.Errorf("%s: %d hits, want %d", r.Rule, r.Hits, want)
		}
	}
	if rep.Before["review"] != 1 || rep.After["decline"] != 1 || rep.After["approve"] != 1 {
		t.Errorf("before %v after %v", rep.Before, rep.After)
	}
}

// TestReadFacts: JSON Lines read strictly, with the line of a mistake.
func TestReadFacts(t *testing.T) {
	good := `{"auth": {"id": "a1", "at": "2026-03-14T10:00:00Z", "token": "tok_A", "card": "par_A", "amount": 5000, "city": "BEIJING"}, "answer": "00"}`
	ss, err := risk.ReadFacts(strings.NewReader("# facts\n" + good + "\n\n" + good + "\n"))
	if err != nil || len(ss) != 2 || ss[1].Auth.Amount != 5000 {
		t.Fatalf("got %v %v", ss, err)
	}
	for name, doc := range map[string]string{
		"unknown field": `{"auth": {"id": "a1", "at": "2026-03-14T10:00:00Z", "token": "tok_A", "pan": "x"}, "answer": "00"}`,
		"card number":   `{"auth": {"id": "a1", "at": "2026-03-14T10:00:00Z", "token": "6288010000000004"}, "answer": "00"}`,
		"no time":       `{"auth": {"id": "a1", "token": "tok_A"}, "answer": "00"}`,
		"not JSON":      `auth=1`,
	} {
		_, err := risk.ReadFacts(strings.NewReader(good + "\n" + doc + "\n"))
		if err == nil || !strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), "6288") {
			t.Errorf("%s: got %v, want an error naming line 2 (and no card number)", name, err)
		}
	}
}

// BenchmarkAuthorize is one authorization decision with the default rules
// over an in-memory state holding a day of history for the card.
func BenchmarkAuthorize(b *testing.B) {
	ctx := context.Background()
	e, _ := risk.New(risk.Default(), risk.NewMemory())
	for i := 0; i < 200; i++ {
		a := auth(func(a *risk.Auth) {
			a.At = t0.Add(-time.Duration(200-i) * 7 * time.Minute)
			a.Amount = int64(1000 + i*37)
		})
		e.RecordAuth(ctx, a, i%10 != 0)
	}
	a := auth(func(a *risk.Auth) { a.City = "SHANGHAI" })
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Authorize(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthorizeAndRecord is a decision and its recording.
func BenchmarkAuthorizeAndRecord(b *testing.B) {
	ctx := context.Background()
	e, _ := risk.New(risk.Default(), risk.NewMemory())
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		a := auth(func(a *risk.Auth) {
			a.At = t0.Add(time.Duration(i) * time.Second)
			a.Card = fmt.Sprintf("par_%d", i%1000)
		})
		d, err := e.Authorize(ctx, a)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.RecordAuth(ctx, a, d.Outcome != risk.Decline); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBind is one binding decision with the default rules.
func BenchmarkBind(b *testing.B) {
	ctx := context.Background()
	e, _ := risk.New(risk.Default(), risk.NewMemory())
	for i := 0; i < 4; i++ {
		e.RecordBinding(ctx, binding(func(bd *risk.Binding) { bd.Card = fmt.Sprintf("par_%d", i); bd.At = t0.Add(-time.Hour) }))
	}
	bd := binding()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := e.Bind(ctx, bd); err != nil {
			b.Fatal(err)
		}
	}
}
