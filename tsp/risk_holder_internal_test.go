package tsp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/keystore/soft"
	"github.com/tapwallet/tapwallet/risk"
)

type keptDecisions struct{ ds []risk.Decision }

func (k *keptDecisions) SaveDecision(_ context.Context, d risk.Decision) error {
	k.ds = append(k.ds, d)
	return nil
}

// TestScreenHolder: the name the bank's ID&V returns joins the phone's
// names by a keyed reference; the third distinct name on a phone steps the
// binding up even for a green verdict (bind.names_per_phone), the same
// name written otherwise does not, a rule set that declines it refuses the
// card (risk_declined); no decision holds the name.
func TestScreenHolder(t *testing.T) {
	ctx := context.Background()
	keys, err := soft.Open(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	run := func(t *testing.T, set *risk.RuleSet, names ...string) (*bindCheck, *keptDecisions, error) {
		e, err := risk.New(set, risk.NewMemory())
		if err != nil {
			t.Fatal(err)
		}
		kept := &keptDecisions{}
		s := &Service{Keys: keys, Log: slog.New(slog.DiscardHandler), Risk: &Risk{Engine: risk.Metered{Engine: e}, Keep: kept}}
		var rc *bindCheck
		for i, name := range names {
			b := risk.Binding{ID: fmt.Sprintf("bind_%d", i), At: t0.Add(time.Duration(i) * time.Hour), Card: fmt.Sprintf("ci_card%d", i), Phone: "ph_H", Account: "acc_H"}
			d, err := e.Bind(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.RecordBinding(ctx, b); err != nil {
				t.Fatal(err)
			}
			rc = &bindCheck{facts: b, d: d, decided: true}
			if err = s.screenHolder(ctx, rc, bank.IDVVerdict{Decision: bank.Green, Holder: name}); err != nil || i == len(names)-1 {
				return rc, kept, err
			}
			if rc.stepUp() {
				t.Fatalf("name %d (%s) stepped up", i+1, name)
			}
		}
		return rc, kept, nil
	}
	t.Run("a third name steps up", func(t *testing.T) {
		rc, kept, err := run(t, risk.Default(), "Zhang Wei", "LI NA", "Wang Fang")
		if err != nil || !rc.stepUp() || rc.d.Reasons[0] != "bind.names_per_phone" {
			t.Fatalf("got %s %v, want a step-up for bind.names_per_phone", rc.d, err)
		}
		if len(kept.ds) == 0 || kept.ds[len(kept.ds)-1].ID != "bind_2.idv" {
			t.Errorf("the decision with the holder is kept under bind_2.idv: %+v", kept.ds)
		}
		for _, d := range kept.ds {
			if strings.Contains(strings.ToUpper(string(d.JSON())), "WANG") {
				t.Errorf("a kept decision holds the name: %s", d.JSON())
			}
		}
	})
	t.Run("the same name written otherwise", func(t *testing.T) {
		rc, _, err := run(t, risk.Default(), "Zhang Wei", "LI NA", " zhang   WEI ")
		if err != nil || rc.stepUp() {
			t.Fatalf("got %s %v, want green (two names)", rc.d, err)
		}
	})
	t.Run("a rule set that declines", func(t *testing.T) {
		set := risk.Default()
		set.Version++
		for i := range set.Rules {
			if set.Rules[i].ID == "bind.names_per_phone" {
				set.Rules[i].Outcome, set.Rules[i].Score = risk.Decline, 90
			}
		}
		_, _, err := run(t, set, "Zhang Wei", "LI NA", "Wang Fang")
		if !errors.Is(err, fault.E(fault.Declined, CodeRiskDeclined, "")) {
			t.Fatalf("got %v, want %s", err, CodeRiskDeclined)
		}
	})
}
