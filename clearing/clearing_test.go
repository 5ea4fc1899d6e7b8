package clearing_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/clearing"
	"github.com/tapwallet/tapwallet/clearing/clearfile"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// authorize sends an 0100 to the card's bank and returns it with the answer.
func (w *world) authorize(t *testing.T, pan string, amount int64, store bool) *auth {
	t.Helper()
	c := w.cardholder(pan)
	m := w.message(pan, amount)
	resp := w.hosts[c.Bank].Handle(context.Background(), m)
	rc, _ := resp.ResponseCode()
	code, _ := resp.String(iso8583.DEAuthID)
	acct, _ := w.hosts[c.Bank].AccountFor(c.PAN)
	a := &auth{msg: m, bank: c.Bank, acct: acct, amount: amount, rc: string(rc), code: code,
		holdID: issuer.HoldID(c.Bank, str(m, iso8583.DETransmission), str(m, iso8583.DESTAN), str(m, iso8583.DETerminal))}
	if store {
		w.record(t, a)
	}
	return a
}

func (a *auth) rec(w *world) netswitch.Auth {
	r, _ := w.store.Auth(context.Background(), netswitch.AuthID(str(a.msg, iso8583.DETerminal), str(a.msg, iso8583.DESTAN), str(a.msg, iso8583.DETransmission)))
	return r
}

func TestRun(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		ctx := context.Background()
		cfg := w.config()
		a1 := w.authorize(t, "6222020000000007", 12345, true)
		a2 := w.authorize(t, "6253300000000005", 800, true)
		a3 := w.authorize(t, "6217000000011854", 999, true)
		reversed := w.authorize(t, "6222020000000007", 5000, true)
		declined := w.authorize(t, "6217000000011854", 5000, true)
		for _, a := range []*auth{a1, a2, a3, reversed} {
			if a.rc != "00" {
				t.Fatalf("got %s for an authorization of %d, want 00", a.rc, a.amount)
			}
		}
		if declined.rc != "51" {
			t.Fatalf("got %s for a payment over the balance, want 51", declined.rc)
		}
		if resp := w.hosts["icbc"].Handle(ctx, w.reversal(reversed.msg)); str(resp, iso8583.DEResponseCode) != "00" {
			t.Fatalf("reversal answered %s", str(resp, iso8583.DEResponseCode))
		}
		if err := w.store.MarkReversed(ctx, reversed.rec(w).ID, w.clock.Now(), "00", 0); err != nil {
			t.Fatal(err)
		}
		// Two presentments that must not post: one for more than its hold,
		// one that no issuer authorized.
		over := w.authorize(t, "6222020000000007", 700, false)
		overRec := netswitch.Auth{ID: "over", Acquirer: "48021000", Terminal: str(over.msg, iso8583.DETerminal), STAN: str(over.msg, iso8583.DESTAN),
			Transmission: str(over.msg, iso8583.DETransmission), RRN: "000000000901", BankID: "icbc", Amount: money.Fen(900), ClearAmount: 900,
			ResponseCode: "00", PANLast4: "0007", LocalDate: "0314", LocalTime: "090000", Merchant: "898310054110001", AuthCode: "A1B2C3"}
		unknown := overRec
		unknown.ID, unknown.STAN, unknown.RRN = "unknown", "999998", "000000000902"

		date := w.clock.Now().Format("20060102")
		rep, err := clearing.Run(ctx, cfg, date, overRec, unknown)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(rep.Items), 5; got != want {
			t.Fatalf("got %d presentments, want %d", got, want)
		}
		flags := rep.Flags()
		if len(flags) != 2 || flags[0].Flag != clearfile.FlagExceedsHold || flags[1].Flag != clearfile.FlagNoHold {
			t.Fatalf("got flags %+v, want more-than-the-hold and unknown", flags)
		}
		var net int64
		for _, l := range rep.Banks {
			net += l.Net
		}
		for _, l := range rep.Acquirers {
			net += l.Net
		}
		if net != 0 || rep.Network != 0 {
			t.Errorf("got positions summing to %d and a network position of %d, want 0 and 0", net, rep.Network)
		}
		if got := bankLine(rep, "icbc"); got.Posted != 2 || got.PostedAmount != 12345+800 || got.Net != -(12345+800) {
			t.Errorf("got icbc line %+v, want 2 posted for 13145", got)
		}
		for _, a := range []*auth{a1, a2, a3} {
			tr, err := w.led.LookupTransfer(ctx, a.holdID)
			if err != nil || tr.Status != ledger.StatusPosted {
				t.Errorf("got hold %s %v, want posted", tr.Status, err)
			}
			if r := a.rec(w); r.ClearedAt.IsZero() || r.ClearingDate != date {
				t.Errorf("the record of %d is not marked cleared", a.amount)
			}
		}
		if tr, _ := w.led.LookupTransfer(ctx, over.holdID); tr.Status != ledger.StatusPending {
			t.Errorf("got the over-presented hold %s, want still pending", tr.Status)
		}

		t.Run("again posts nothing twice", func(t *testing.T) {
			before := w.balances(t)
			again, err := clearing.Run(ctx, cfg, date)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range again.Items {
				if it.Outcome != clearing.AlreadyPosted {
					t.Errorf("got %s for a presentment cleared before, want already_posted", it.Outcome)
				}
			}
			after := w.balances(t)
			for id, b := range before {
				if after[id] != b {
					t.Errorf("account %s changed on the second run", id)
				}
			}
			if got := bankLine(again, "icbc"); got.Net != -(12345 + 800) {
				t.Errorf("got icbc net %d on the second run, want %d", got.Net, -(12345 + 800))
			}
		})

		t.Run("files", func(t *testing.T) {
			dir := t.TempDir()
			rep, err := clearing.Write(dir, rep)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Files) != 4 { // icbc, ccb, report.txt, report.json
				t.Fatalf("got files %v, want 2 clearing files and the report", rep.Files)
			}
			for _, p := range rep.Files[:2] {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				f, err := clearing.ParseFile(bytes.NewReader(b))
				if err != nil {
					t.Fatalf("%s does not read back: %v", filepath.Base(p), err)
				}
				if strings.Contains(string(b), "6222020000000007") || strings.Contains(string(b), "6217000000011854") {
					t.Errorf("%s holds a card number", filepath.Base(p))
				}
				if len(f.Details) == 0 {
					t.Errorf("%s has no details", filepath.Base(p))
				}
			}
			text, _ := os.ReadFile(filepath.Join(dir, "report-"+date+".txt"))
			if !strings.Contains(string(text), "more than the hold") {
				t.Errorf("the text report does not show the flags:\n%s", text)
			}
		})
	})
}

func bankLine(r clearing.Report, bank string) clearing.BankLine {
	for _, l := range r.Banks {
		if l.Bank == bank {
			return l
		}
	}
	return clearing.BankLine{}
}
