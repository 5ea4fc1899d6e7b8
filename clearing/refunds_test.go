package clearing_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/clearing"
	"github.com/tapwallet/tapwallet/clearing/clearfile"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// TestRunRefunds: the day's refunds are reported, netted into the
// positions (the issuer is paid back, the acquirer pays), written to the
// issuer's clearing file as credit records, and marked cleared; a refund
// the issuer never credited is flagged and not netted.
func TestRunRefunds(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		ctx := context.Background()
		cfg := w.config()
		a := w.authorize(t, "6222020000000007", 10000, true)
		if a.rc != "00" {
			t.Fatalf("purchase: got %s, want 00", a.rc)
		}
		r := &refund{msg: w.refundMessage(a.msg, 2500), amount: 2500}
		resp := w.hosts["icbc"].Handle(ctx, r.msg)
		r.rc = str(resp, iso8583.DEResponseCode)
		r.code = str(resp, iso8583.DEAuthID)
		if r.rc != "00" {
			t.Fatalf("refund: got %s, want 00", r.rc)
		}
		w.recordRefund(t, a, r)
		ghost := &refund{msg: w.refundMessage(a.msg, 100), amount: 100, rc: "00", code: "GHOST1"} // never sent to the issuer
		w.recordRefund(t, a, ghost)

		date := w.clock.Now().Format("20060102")
		rep, err := clearing.Run(ctx, cfg, date)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Refunds) != 2 || rep.Refunds[0].Outcome != clearing.Credited || rep.Refunds[1].Outcome != clearing.Flagged || rep.Refunds[1].Flag != clearfile.FlagNoCredit {
			t.Fatalf("got refunds %+v, want one credited and one flagged", rep.Refunds)
		}
		if got := bankLine(rep, "icbc"); got.Posted != 1 || got.PostedAmount != 10000 || got.Refunds != 1 || got.RefundAmount != 2500 || got.Net != -7500 {
			t.Errorf("got icbc line %+v, want 10000 posted, 2500 refunded, net -7500", got)
		}
		if len(rep.Acquirers) != 1 || rep.Acquirers[0].Net != 7500 || rep.Acquirers[0].Refunds != 1 {
			t.Errorf("got acquirers %+v, want one with net 7500 and 1 refund", rep.Acquirers)
		}
		if rep.Network != 0 {
			t.Errorf("got a network position of %d, want 0", rep.Network)
		}
		id := netswitch.AuthID(str(r.msg, iso8583.DETerminal), str(r.msg, iso8583.DESTAN), str(r.msg, iso8583.DETransmission))
		if rec, err := w.store.Refund(ctx, id); err != nil || rec.ClearingDate != date || rec.ClearedAt.IsZero() {
			t.Errorf("got refund record cleared %q %v, want cleared on %s", rec.ClearingDate, err, date)
		}

		dir := t.TempDir()
		rep, err = clearing.Write(dir, rep)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "TWCLR-"+date+"-icbc.txt"))
		if err != nil {
			t.Fatal(err)
		}
		f, err := clearing.ParseFile(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("the clearing file does not read back: %v", err)
		}
		// The file is what the network presented: the purchase and both
		// credits, the one the bank does not hold (flagged by the bank,
		// out of the positions) too.
		if len(f.Details) != 3 || f.Details[0].Credit || !f.Details[1].Credit || f.Details[1].Amount != 2500 || f.Details[1].AuthCode != r.code || !f.Details[2].Credit {
			t.Errorf("got details %+v, want the purchase and the refunds' credits", f.Details)
		}
		if got := f.Credits()[156]; got != 2600 {
			t.Errorf("got credit total %d, want 2600", got)
		}
		text, _ := os.ReadFile(filepath.Join(dir, "report-"+date+".txt"))
		if !strings.Contains(string(text), "Refunds flagged") || !strings.Contains(string(text), "refund amount") {
			t.Errorf("the text report does not show the refunds:\n%s", text)
		}
	})
}
