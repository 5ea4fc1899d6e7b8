// Package risktest is the conformance suite of the risk engine's storage:
// every risk.State and risk.Versions (the in-process one, risk/sqlstore on
// SQLite and PostgreSQL) runs it.
package risktest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/risk"
)

// Open returns a new handle on the storage under test: a second call is
// another process on the same database, or the same one after a restart.
type Open func(t *testing.T) Stores

// Stores are the risk engine's storage interfaces on one storage.
type Stores struct {
	State    risk.State
	Versions risk.Versions
	Cases    risk.Cases
	// Flush, when set, writes what this handle queued (a store that
	// records off the hot path, like risk/sqlstore, shows another process
	// its writes once their batch commits); Close, when set, closes the
	// handle cleanly (a restart must lose nothing it recorded).
	Flush func(ctx context.Context) error
	Close func() error
	// Refresh, when set, makes this handle read what other handles
	// committed (a store that keeps the state in memory, like
	// risk/sqlstore, sees another process's writes at its next refresh).
	Refresh func(ctx context.Context) error
}

// refresh runs st's Refresh, if any.
func refresh(t *testing.T, st Stores) {
	t.Helper()
	if st.Refresh != nil {
		if err := st.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// flush runs st's Flush, if any.
func flush(t *testing.T, st Stores) {
	t.Helper()
	if st.Flush != nil {
		if err := st.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

var t0 = time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)

// Run runs every test of the suite, each on fresh storage: fresh makes
// an empty store and returns how to open handles on it.
func Run(t *testing.T, fresh func(t *testing.T) Open) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, Open)
	}{{"Counters", Counters}, {"Concurrent", Concurrent}, {"Processes", Processes}, {"Sightings", Sightings}, {"Snoozes", Snoozes}, {"Prune", Prune}, {"Versions", Versions}, {"Cases", Cases}} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, fresh(t)) })
	}
}

func read(t *testing.T, s risk.State, q risk.Query) []risk.Row {
	t.Helper()
	rows, err := s.Read(context.Background(), []risk.Query{q})
	if err != nil {
		t.Fatal(err)
	}
	return rows[0]
}

// Counters: deltas add up by member over an inclusive bucket range; other
// series and subjects are apart.
func Counters(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t).State
	ds := []risk.Delta{
		{Series: "card.n.m", Key: "par_A", Bucket: 100, Count: 1, Sum: 500},
		{Series: "card.n.m", Key: "par_A", Bucket: 100, Count: 2, Sum: 700},
		{Series: "card.n.m", Key: "par_A", Bucket: 101, Count: 1, Sum: 100},
		{Series: "card.n.m", Key: "par_A", Bucket: 103, Count: 1, Sum: 9},
		{Series: "card.n.m", Key: "par_B", Bucket: 101, Count: 5, Sum: 5},
		{Series: "card.d.m", Key: "par_A", Bucket: 101, Count: 7},
		{Series: "phone.card.h", Key: "ph_A", Member: "par_B", Bucket: 3, Count: 1},
		{Series: "phone.card.h", Key: "ph_A", Member: "par_A", Bucket: 3, Count: 1},
		{Series: "phone.card.h", Key: "ph_A", Member: "par_A", Bucket: 4, Count: 1},
	}
	if err := s.Add(ctx, ds); err != nil {
		t.Fatal(err)
	}
	got := read(t, s, risk.Query{Series: "card.n.m", Key: "par_A", From: 100, To: 102})
	if len(got) != 1 || got[0] != (risk.Row{Count: 4, Sum: 1300}) {
		t.Errorf("card par_A buckets 100–102: got %+v, want 4 events, 1300", got)
	}
	got = read(t, s, risk.Query{Series: "phone.card.h", Key: "ph_A", From: 0, To: 10})
	want := []risk.Row{{Member: "par_A", Count: 2}, {Member: "par_B", Count: 1}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("members: got %+v, want %+v", got, want)
	}
	if got := read(t, s, risk.Query{Series: "card.n.m", Key: "par_C", From: 0, To: 1000}); len(got) != 0 {
		t.Errorf("unknown subject: got %+v, want nothing", got)
	}
	rows, err := s.Read(ctx, []risk.Query{
		{Series: "card.n.m", Key: "par_A", From: 103, To: 103},
		{Series: "card.d.m", Key: "par_A", From: 0, To: 200},
		{Series: "card.n.m", Key: "par_B", From: 0, To: 200},
		{Series: "card.n.m", Key: "par_A", From: 0, To: 200},
	})
	if err != nil || len(rows) != 4 || rows[0][0].Count != 1 || rows[1][0].Count != 7 || rows[2][0].Count != 5 || rows[3][0].Sum != 1309 {
		t.Errorf("several queries at once: got %+v %v", rows, err)
	}
}

// Concurrent: two handles (two processes) recording authorizations at
// once count each exactly once, and the counts survive a restart.
func Concurrent(t *testing.T, open Open) {
	ctx := context.Background()
	const workers, each = 4, 25
	h1, h2 := open(t), open(t)
	s1, s2 := h1.State, h2.State
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers)
	for h, s := range []risk.State{s1, s2} {
		e, err := risk.New(risk.Default(), s)
		if err != nil {
			t.Fatal(err)
		}
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					a := risk.Auth{ID: fmt.Sprintf("%d|%d|%d", h, w, i), At: t0.Add(time.Duration(i) * time.Second), Token: fmt.Sprintf("tok_%d", w),
						Card: "par_A", Phone: "ph_A", Merchant: "M1", Amount: 100 + int64(i), City: "BEIJING"}
					if err := e.RecordAuth(ctx, a, i%5 != 0); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n := int64(2 * workers * each)
	var sum int64
	for i := 0; i < each; i++ {
		sum += 100 + int64(i)
	}
	sum *= 2 * workers
	// Each process reads its own events at once, before any batch commits.
	rows := read(t, s1, risk.Query{Series: "card.n.m", Key: "par_A", From: 0, To: 1 << 40})
	if len(rows) != 1 || rows[0].Count < n/2 {
		t.Errorf("the first process's own count: got %+v, want at least %d events", rows, n/2)
	}
	check := []risk.State{s1}
	for _, h := range []Stores{h1, h2} {
		if h.Close != nil { // a clean restart of both
			if err := h.Close(); err != nil {
				t.Fatal(err)
			}
			check = nil
		}
	}
	s3 := open(t).State // after a restart
	e, _ := risk.New(risk.Default(), s3)
	d, err := e.Authorize(ctx, risk.Auth{ID: "x", At: t0.Add(time.Minute), Token: "tok_0", Card: "par_A", Phone: "ph_A", Merchant: "M1", Amount: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range append(check, s3) {
		rows := read(t, st, risk.Query{Series: "card.n.m", Key: "par_A", From: 0, To: 1 << 40})
		if len(rows) != 1 || rows[0].Count != n || rows[0].Sum != sum {
			t.Errorf("card count: got %+v, want %d events, sum %d", rows, n, sum)
		}
		rows = read(t, st, risk.Query{Series: "card.d.m", Key: "par_A", From: 0, To: 1 << 40})
		if len(rows) != 1 || rows[0].Count != n/5 {
			t.Errorf("card declines: got %+v, want %d", rows, n/5)
		}
		rows = read(t, st, risk.Query{Series: "token.uses", Key: "tok_1", From: 0, To: 0})
		if len(rows) != 1 || rows[0].Count != 2*each*4/5 {
			t.Errorf("token uses: got %+v, want %d", rows, 2*each*4/5)
		}
	}
	_ = d
}

// Processes: what each of two processes on one storage reads — its own
// events at once, the other's once they are written (Flush) and it
// refreshed (Refresh), each exactly once however often it refreshes;
// sightings and snoozes alike.
func Processes(t *testing.T, open Open) {
	ctx := context.Background()
	h1, h2 := open(t), open(t)
	e1, _ := risk.New(risk.Default(), h1.State)
	e2, _ := risk.New(risk.Default(), h2.State)
	q := risk.Query{Series: "card.n.m", Key: "par_P", From: 0, To: 1 << 40}
	count := func(h Stores) (n, sum int64) {
		for _, r := range read(t, h.State, q) {
			n, sum = n+r.Count, sum+r.Sum
		}
		return
	}
	pay := func(e *risk.Engine, id string, i int) {
		a := risk.Auth{ID: fmt.Sprintf("%s|%d", id, i), At: t0.Add(time.Duration(i) * time.Second), Token: "tok_P" + id, Card: "par_P", Phone: "ph_P", Amount: 100, City: "BEIJING"}
		if err := e.RecordAuth(ctx, a, true); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		pay(e1, "one", i)
	}
	pay(e2, "two", 0)
	// A shared in-process state (Memory: no Refresh) shows all 4 at once.
	if n, _ := count(h1); n < 3 || h1.Refresh != nil && n != 3 {
		t.Errorf("the first process's own events at once: got %d, want 3 (its own, not yet the other's)", n)
	}
	for round := 0; round < 3; round++ { // refreshing again counts nothing twice
		flush(t, h1)
		flush(t, h2)
		refresh(t, h1)
		refresh(t, h2)
		for i, h := range []Stores{h1, h2} {
			if n, sum := count(h); n != 4 || sum != 400 {
				t.Errorf("round %d, process %d after both wrote and refreshed: got %d, %d; want 4, 400", round, i+1, n, sum)
			}
		}
	}
	pay(e2, "two", 10)
	flush(t, h2)
	refresh(t, h1)
	if n, _ := count(h1); n != 5 {
		t.Errorf("another event of the second process: the first reads %d, want 5", n)
	}
	seen, _ := h1.State.Last(ctx, []string{"card:par_P"})
	if !seen[0].At.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("the last tap, by the second process: the first reads %+v, want at t0+10s", seen[0])
	}
	if err := h2.State.Snooze(ctx, "auth.x", "p", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	refresh(t, h1)
	if ok, err := h1.State.Snoozed(ctx, "auth.x", "p", t0); !ok || err != nil {
		t.Errorf("the second process's snooze: the first reads %v %v, want snoozed", ok, err)
	}
}

// Sightings: the latest sighting wins, whoever writes last.
func Sightings(t *testing.T, open Open) {
	ctx := context.Background()
	h := open(t)
	s := h.State
	bj, sh := risk.Place{Lat: 39.9, Lon: 116.4}, risk.Place{Lat: 31.2, Lon: 121.5}
	if err := s.SetLast(ctx, "card:par_A", risk.Sighting{Place: sh, At: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLast(ctx, "card:par_A", risk.Sighting{Place: bj, At: t0.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Last(ctx, []string{"card:par_A"}); got[0].Place != sh {
		t.Errorf("the writer's own read: got %+v, want Shanghai", got[0])
	}
	flush(t, h)
	h2 := open(t)
	s2 := h2.State
	got, err := s2.Last(ctx, []string{"card:par_A", "card:par_B"})
	if err != nil || len(got) != 2 || got[0].Place != sh || !got[0].At.Equal(t0) || got[1].Known() {
		t.Fatalf("got %+v %v, want Shanghai at t0 and nothing", got, err)
	}
	if err := s2.SetLast(ctx, "card:par_A", risk.Sighting{Place: bj, At: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	flush(t, h2)
	refresh(t, h)
	got, _ = s.Last(ctx, []string{"card:par_A"})
	if got[0].Place != bj {
		t.Errorf("a later sighting: got %+v, want Beijing", got[0])
	}
}

// Snoozes: a snooze holds until its end; a shorter one does not cut it.
func Snoozes(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t).State
	if err := s.Snooze(ctx, "auth.x", "auth.merchant=M1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Snooze(ctx, "auth.x", "auth.merchant=M1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	s2 := open(t).State
	for _, c := range []struct {
		rule, pattern string
		at            time.Time
		want          bool
	}{
		{"auth.x", "auth.merchant=M1", t0.Add(30 * time.Minute), true},
		{"auth.x", "auth.merchant=M1", t0.Add(61 * time.Minute), false},
		{"auth.x", "auth.merchant=M2", t0, false},
		{"auth.y", "auth.merchant=M1", t0, false},
	} {
		if got, err := s2.Snoozed(ctx, c.rule, c.pattern, c.at); err != nil || got != c.want {
			t.Errorf("%s %s at %v: got %v %v, want %v", c.rule, c.pattern, c.at, got, err, c.want)
		}
	}
}

// Prune: expired buckets go, the others and the ones that never expire
// stay.
func Prune(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t).State
	now := t0.Unix()
	if err := s.Add(ctx, []risk.Delta{
		{Series: "a", Key: "k", Bucket: 1, Count: 1, Expires: now - 1},
		{Series: "a", Key: "k", Bucket: 2, Count: 2, Expires: now + 1},
		{Series: "b", Key: "k", Bucket: 0, Count: 4},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Prune(ctx, t0); err != nil {
		t.Fatal(err)
	}
	rows, _ := s.Read(ctx, []risk.Query{{Series: "a", Key: "k", From: 0, To: 9}, {Series: "b", Key: "k"}})
	if rows[0][0].Count != 2 || rows[1][0].Count != 4 {
		t.Errorf("after prune: got %+v, want 2 and 4", rows)
	}
}

// Versions: a stored version stays as it was; a new set needs a higher
// number; decisions are kept once.
func Versions(t *testing.T, open Open) {
	ctx := context.Background()
	v := open(t).Versions
	def := risk.Default()
	if err := risk.Activate(ctx, v, def, t0); err != nil {
		t.Fatal(err)
	}
	changed := risk.Default()
	changed.Rules = changed.Rules[:3]
	if err := v.PutRules(ctx, changed, t0); !errors.Is(err, fault.E(fault.Conflict, risk.CodeVersion, "")) {
		t.Fatalf("same version again: got %v, want conflict", err)
	}
	if err := risk.Activate(ctx, v, changed, t0); !errors.Is(err, fault.E(fault.Conflict, risk.CodeVersion, "")) {
		t.Fatalf("activate same version: got %v, want conflict", err)
	}
	changed.Version = def.Version + 1
	if err := risk.Activate(ctx, v, changed, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	v = open(t).Versions
	old, err := v.RulesAt(ctx, def.Version)
	if err != nil || old.Digest() != def.Digest() || len(old.Rules) != len(def.Rules) {
		t.Fatalf("the default's version after a newer one: got %v, %v", old, err)
	}
	latest, err := risk.Latest(ctx, v)
	if err != nil || latest.Version != def.Version+1 || len(latest.Rules) != 3 {
		t.Fatalf("latest: got %+v %v", latest, err)
	}
	vs, _ := v.RuleVersions(ctx)
	if len(vs) != 2 || vs[0].Version != def.Version || vs[1].Rules != 3 || vs[1].Digest != changed.Digest() || !vs[1].At.Equal(t0.Add(time.Hour)) {
		t.Errorf("versions: %+v", vs)
	}
	if _, err := v.RulesAt(ctx, 7); !errors.Is(err, fault.E(fault.NotFound, risk.CodeNoVersion, "")) {
		t.Errorf("version 7: got %v, want not found", err)
	}
	e, _ := risk.New(old, risk.NewMemory())
	d, _ := e.Authorize(ctx, risk.Auth{ID: "T1|000001|0314100000", At: t0, Token: "tok_A", Country: "KP", Amount: 100})
	if err := v.SaveDecision(ctx, d); err != nil {
		t.Fatal(err)
	}
	d2 := d
	d2.Outcome = risk.Approve
	if err := v.SaveDecision(ctx, d2); err != nil {
		t.Fatal(err)
	}
	got, err := v.DecisionOf(ctx, risk.PointAuthorization, d.ID)
	if err != nil || got.Outcome != d.Outcome || len(d.Hits) == 0 || got.Version != def.Version || len(got.Hits) != len(d.Hits) || got.Hits[0].Inputs[0].Value != "KP" {
		t.Errorf("kept decision: got %+v %v, want the first, the default's version, with its inputs", got, err)
	}
	if _, err := v.DecisionOf(ctx, risk.PointBinding, d.ID); !errors.Is(err, fault.E(fault.NotFound, risk.CodeNoDecision, "")) {
		t.Errorf("other point: got %v, want not found", err)
	}
}

// Cases: a review opens a case for its account only; nobody else sees or
// answers it; of two answers at once one wins; "yes" snoozes the hit's
// pattern so the rule no longer counts for it; "no" is confirmed fraud;
// every change is kept with who and when, also after a restart.
func Cases(t *testing.T, open Open) {
	ctx := context.Background()
	st := open(t)
	e, _ := risk.New(VelocityEnforced(), st.State)
	base := risk.Auth{At: t0, Token: "tok_A", Card: "par_A", Phone: "ph_A", Account: "acc_A", Merchant: "M1", Amount: 5000, City: "BEIJING"}
	for i := 0; i < 5; i++ {
		a := base
		a.ID, a.At = fmt.Sprintf("T1|%06d|x", i), t0.Add(-time.Duration(5-i)*time.Minute)
		if err := e.RecordAuth(ctx, a, true); err != nil {
			t.Fatal(err)
		}
	}
	a := base
	a.ID = "T1|000009|x"
	d, err := e.Authorize(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := risk.CaseFor(d, a)
	if !ok || d.Outcome != risk.Review {
		t.Fatalf("the 6th payment in 15 minutes: got %s, want a review that opens a case", d)
	}
	if _, ok := risk.CaseFor(risk.Decision{Outcome: risk.Approve}, a); ok {
		t.Errorf("an approval opened a case")
	}
	if err := st.Cases.OpenCase(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := st.Cases.OpenCase(ctx, c); err != nil {
		t.Fatal(err)
	}
	other := open(t).Cases
	if _, err := other.CaseOf(ctx, "acc_B", c.ID); !errors.Is(err, fault.E(fault.NotFound, risk.CodeNoCase, "")) {
		t.Errorf("another account reads the case: got %v, want not found", err)
	}
	if list, _ := other.CasesOf(ctx, "acc_B", ""); len(list) != 0 {
		t.Errorf("another account lists %d cases", len(list))
	}
	if _, err := risk.Answer(ctx, other, st.State, "acc_B", c.ID, true, t0, time.Hour); !errors.Is(err, fault.E(fault.NotFound, risk.CodeNoCase, "")) {
		t.Errorf("another account answers the case: got %v, want not found", err)
	}
	if _, err := other.CloseCase(ctx, "acc_A", c.ID, risk.Change{At: t0, By: "x", To: risk.CaseOpen}); fault.KindOf(err) != fault.Invalid {
		t.Errorf("closing as open: got %v, want invalid", err)
	}
	list, err := other.CasesOf(ctx, "acc_A", risk.CaseOpen)
	if err != nil || len(list) != 1 || list[0].ID != c.ID || list[0].Decision.Reasons[0] != "auth.token_velocity_15m" || len(list[0].History) != 1 {
		t.Fatalf("open cases of acc_A: got %+v %v", list, err)
	}

	// Two answers at once (the phone and the portal): one wins.
	var wg sync.WaitGroup
	results := make([]error, 2)
	for i, cs := range []risk.Cases{st.Cases, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = risk.Answer(ctx, cs, st.State, "acc_A", c.ID, i == 0, t0.Add(time.Minute), time.Hour)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, fault.E(fault.Conflict, risk.CodeCaseClosed, "")):
			t.Fatalf("an answer failed: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("two answers at once: %d won, want 1 (%v)", won, results)
	}
	got, err := open(t).Cases.CaseOf(ctx, "acc_A", c.ID)
	if err != nil || got.State == risk.CaseOpen || len(got.History) != 2 || got.History[1].By != "account:acc_A" ||
		got.History[1].From != risk.CaseOpen || got.History[1].To != got.State || !got.History[1].At.Equal(t0.Add(time.Minute)) || !got.ClosedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after the answer: got %+v %v", got, err)
	}
	d2, _ := e.Authorize(ctx, a)
	snoozed := len(d2.Hits) > 0 && d2.Hits[0].Snoozed
	if yes := got.State == risk.CaseNotFraud; snoozed != yes || (yes && d2.Outcome != risk.Approve) {
		t.Errorf("answered %s: the next such payment is %s with hits %+v; want snoozed exactly when the answer was yes", got.State, d2, d2.Hits)
	}
}

// VelocityEnforced is the default rule set with its 15-minute token
// velocity rule enforced (a review) instead of shadow: the rule the case
// and snooze tests lean on, whatever the default's choice for live traffic.
func VelocityEnforced() *risk.RuleSet {
	set := risk.Default()
	for i := range set.Rules {
		if set.Rules[i].ID == "auth.token_velocity_15m" {
			set.Rules[i].Shadow = false
		}
	}
	return set
}
