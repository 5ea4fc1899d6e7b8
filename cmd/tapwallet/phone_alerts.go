package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/tapwallet/tapwallet/walletapi/client"
)

func init() {
	registerPhone("alerts", `"was this you?" alerts of the risk engine: list them ([--open] [--json]), or answer one: alerts answer ID yes|no ("no": that was not me, the card is suspended)`, phoneAlerts)
	phoneArgs["alerts"] = "[answer ID yes|no]"
}

// phoneAlerts lists the account's "was this you?" alerts, or answers one
// (answer ID yes|no).
func phoneAlerts(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "alerts")
	open := fs.Bool("open", false, "only the alerts not answered yet")
	asJSON := fs.Bool("json", false, `print {"alerts": [{"id", "state" (open, confirmed_fraud, not_fraud), "summary", "outcome" (review, decline), "reasons": [..], "rules": [..], "score", "version", "phone", "opened_at", "closed_at"}]}; with answer: {"alert": {..}, "suspended", "advice"}`)
	if err := parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) > 0 && rest[0] != "answer" {
		return usage("phone alerts: unexpected %q (to answer: alerts answer ID yes|no)", rest[0])
	}
	var yes bool
	if len(rest) > 0 {
		if len(rest) != 3 || (rest[2] != "yes" && rest[2] != "no") {
			return usage("phone alerts answer: want ID yes|no, got %q", strings.Join(rest[1:], " "))
		}
		yes = rest[2] == "yes"
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		ans, err := p.AnswerAlert(ctx, rest[1], yes)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, ans)
		}
		fmt.Fprintf(e.stdout, "alert %s: %s\n", ans.Alert.ID, alertState(ans.Alert.State))
		if ans.Suspended != "" {
			fmt.Fprintf(e.stdout, "the card's token ending %s is suspended\n", ans.Suspended)
		}
		if ans.Advice != "" {
			fmt.Fprintln(e.stdout, ans.Advice)
		}
		return nil
	}
	alerts, err := p.Alerts(ctx, *open)
	if err != nil {
		return err
	}
	if *asJSON {
		if alerts == nil {
			alerts = []client.Alert{}
		}
		return writeJSON(e.stdout, struct {
			Alerts []client.Alert `json:"alerts"`
		}{alerts})
	}
	if len(alerts) == 0 {
		fmt.Fprintln(e.stdout, "no alerts")
		return nil
	}
	for _, a := range alerts {
		fmt.Fprintf(e.stdout, "%s  %s  %s\n", a.ID, alertState(a.State), a.Summary)
		fmt.Fprintf(e.stdout, "    %s (score %d, rules v%d): %s\n", a.Outcome, a.Score, a.Version, strings.Join(a.Reasons, "; "))
		if a.State == "open" {
			fmt.Fprintf(e.stdout, "    was this you? tapwallet phone alerts answer %s yes|no\n", a.ID)
		}
	}
	return nil
}

// alertState says an alert's state in words.
func alertState(s string) string {
	switch s {
	case "open":
		return "open — was this you?"
	case "confirmed_fraud":
		return "closed: that was not me (fraud)"
	case "not_fraud":
		return "closed: that was me"
	}
	return s
}
