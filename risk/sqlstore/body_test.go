package sqlstore

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/risk"
)

// TestDecisionsKeptShort: a decision whose rule set version is stored is
// kept without what the columns and the set say (risk.KeptRules), one
// whose version is not stored whole; each reads back, queued, written and
// after a restart, as the same Decision as its JSON decodes to.
func TestDecisionsKeptShort(t *testing.T) {
	onBoth(t, decisionsKeptShort)
}

func decisionsKeptShort(t *testing.T, dsn, dir string) {
	ctx := context.Background()
	s, err := Open(ctx, dsn, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stored := risk.Default()
	for i := range stored.Rules { // every rule fires into the decision, enforced or not
		stored.Rules[i].Shadow = i%2 == 0
	}
	if err := s.PutRules(ctx, stored, t0); err != nil {
		t.Fatal(err)
	}
	unstored := risk.Default()
	unstored.Version = stored.Version + 1
	var want []risk.Decision
	for i, set := range []*risk.RuleSet{stored, unstored} {
		e, err := risk.New(set, risk.NewMemory())
		if err != nil {
			t.Fatal(err)
		}
		a := risk.Auth{ID: "T1|00000" + string(rune('1'+i)) + "|0314100000", At: t0.Add(1234567 * time.Nanosecond), Token: "tok_A", Card: "par_A",
			Phone: "ph_A", Merchant: "M1", Amount: 100, City: "BEIJING", Country: "KP"}
		for j := 0; j < 12; j++ {
			if err := e.RecordAuth(ctx, a, j%3 != 0); err != nil {
				t.Fatal(err)
			}
		}
		d, err := e.Authorize(ctx, a)
		if err != nil || len(d.Hits) < 3 || len(d.Reasons) == 0 {
			t.Fatalf("want a decision with hits and reasons, got %s %v", d.JSON(), err)
		}
		if err := s.SaveDecision(ctx, d); err != nil {
			t.Fatal(err)
		}
		var w risk.Decision
		if err := json.Unmarshal(d.JSON(), &w); err != nil {
			t.Fatal(err)
		}
		want = append(want, w)
	}
	check := func(when string, s *Store) {
		t.Helper()
		for _, w := range want {
			got, err := s.DecisionOf(ctx, risk.PointAuthorization, w.ID)
			if err != nil || !reflect.DeepEqual(got, w) {
				t.Errorf("%s: decision %s:\n got %+v %v\nwant %+v", when, w.ID, got, err, w)
			}
		}
	}
	check("queued", s)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check("written", s)
	for i, w := range want {
		var body string
		if err := s.DB.QueryRow(ctx, `SELECT body FROM risk_decisions WHERE id = ?`, w.ID).Scan(&body); err != nil {
			t.Fatal(err)
		}
		if short := risk.IsShortBody([]byte(body)); short != (i == 0) {
			t.Errorf("version %d: kept short %v, want %v: %s", w.Version, short, i == 0, body)
		}
		if whole := len(w.JSON()); i == 0 && len(body) > whole/2 {
			t.Errorf("short body %d bytes, the whole JSON %d: %s", len(body), whole, body)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, dsn, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	check("after a restart", s2)
}

// TestDecisionsInChunks: a batch of 300 decisions goes in statements of
// 256, 32, 8 and 4 rows, their bodies written together a statement; each
// decision reads back as it was decided (its own body, outcome and score).
func TestDecisionsInChunks(t *testing.T) {
	onBoth(t, decisionsInChunks)
}

func decisionsInChunks(t *testing.T, dsn, dir string) {
	ctx := context.Background()
	s := openClosed(t, dsn, dir)
	st := newShadowStream(t, s)
	var want []risk.Decision
	for i, d := range st.next(t, 300).decs {
		if len(want)%7 == 3 { // not the set's outcome: kept whole, and not the most common outcome
			d.Outcome, d.Score = risk.Decline, 90
		}
		if err := s.SaveDecision(ctx, d); err != nil {
			t.Fatal(err)
		}
		var w risk.Decision
		if err := json.Unmarshal(d.JSON(), &w); err != nil {
			t.Fatal(err, i)
		}
		want = append(want, w)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		got, err := s.DecisionOf(ctx, risk.PointAuthorization, w.ID)
		if err != nil || !reflect.DeepEqual(got, w) {
			t.Fatalf("decision %s:\n got %+v %v\nwant %+v", w.ID, got, err, w)
		}
	}
}

// openClosed opens the wing's store, closed when the test ends.
func openClosed(t *testing.T, dsn, dir string) *Store {
	s, err := Open(context.Background(), dsn, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
