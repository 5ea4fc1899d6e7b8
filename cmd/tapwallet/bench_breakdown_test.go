package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// Stacks as a CPU profile of bench auth names them, the innermost first.
var breakdownStacks = []struct {
	stack []string
	part  string
}{
	{[]string{"modernc.org/sqlite/lib._sqlite3BtreeInsert", "database/sql.(*Stmt).ExecContext", module + "netswitch/sqlstore.(*recordWriter).insert",
		module + "netswitch/sqlstore.(*Store).applyRecords", module + "sqldb.serialized[...].func1",
		module + "journal.(*Behind[go.shape.struct { ... }]).run", "runtime.goexit"}, "into SQL: the switch's records"},
	{[]string{"runtime.mallocgc", module + "ledger/sqlstore.ledgerTx.insertTransfers", module + "ledger/sqlstore.(*Store).applyHoldsAs",
		module + "journal.(*Behind[go.shape.struct { ... }]).run"}, "into SQL: the issuers' holds"},
	{[]string{"modernc.org/sqlite/lib._sqlite3Step", module + "tsp/sqlstore.applyChunks", module + "journal.(*Behind[...]).applyRetrying",
		module + "journal.(*Behind[...]).run"}, "into SQL: the token service's key uses"},
	{[]string{"modernc.org/sqlite/lib._sqlite3Step", module + "risk/sqlstore.writeBatch", module + "risk/sqlstore.(*Store).batch",
		module + "risk/sqlstore.(*Store).flusher"}, "into SQL: the risk engine's counters and decisions"},
	// The risk store's enqueue on the path is the engine's, not its flusher's.
	{[]string{"runtime.mallocgc", module + "risk/sqlstore.(*Store).enqueue", module + "risk.(*Engine).RecordAuth",
		module + "netswitch.(*Switch).recordRisk", module + "netswitch.(*Switch).authorize", module + "isolink.(*Workers).work"}, partRisk},
	// The token service's check under the switch, its cryptography with it.
	{[]string{"crypto/des.feistel", module + "emv.(*Keyed).encryptECB", module + "keystore/soft.(*session).VerifyARQC",
		module + "tsp.(*Service).authorize", module + "tsp.(*Service).Authorize", module + "netswitch.(*Switch).authorize",
		module + "netswitch.(*Switch).Handle", module + "isolink.(*srvConn).handle", module + "isolink.(*Workers).work"}, partTokens},
	{[]string{module + "iso8583.(*Message).put", module + "netswitch.(*Switch).decide", module + "netswitch.(*Switch).Handle",
		module + "isolink.(*Workers).work"}, partSwitch},
	{[]string{module + "ledger.CreateTransfersIn", module + "issuer.(*Host).authorize", module + "issuer.(*Host).Handle",
		module + "netswitch.(*localCall).Run", module + "isolink.(*Workers).work"}, partIssuer},
	{[]string{"internal/runtime/syscall/linux.Syscall6", "syscall.Syscall", "internal/poll.(*FD).Write", module + "isolink.withFrame",
		module + "isolink.(*srvConn).send"}, partLinks},
	{[]string{"syscall.Fdatasync", module + "journal.(*Journal).sync", module + "journal.(*Journal).run"}, partJournal},
	// The journal's append on the switch's goroutine is the journal's.
	{[]string{"internal/poll.(*FD).Pwrite", module + "journal.(*Journal).Append", module + "netswitch/sqlstore.(*journaled).append",
		module + "netswitch.(*Switch).authorize", module + "isolink.(*Workers).work"}, partJournal},
	{[]string{"modernc.org/sqlite/lib._walCheckpoint", "modernc.org/sqlite/lib._sqlite3WalCheckpoint", module + "sqldb.(*DB).checkpoint"}, partCheckpoints},
	{[]string{"runtime.scanObject", "runtime.gcDrain", "runtime.gcBgMarkWorker"}, partCollector},
	{[]string{"runtime.sweepone", "runtime.bgsweep"}, partCollector},
	{[]string{module + "iso8583.(*Message).Pack", "main.drive.func1", "runtime.goexit"}, partClient},
	{[]string{"runtime.findRunnable", "runtime.schedule", "runtime.park_m", "runtime.mcall"}, partScheduler},
	{[]string{"runtime.futex", module + "sqldb.(*DB).cached.func1"}, partOther},
}

func TestPartOf(t *testing.T) {
	for _, c := range breakdownStacks {
		if got := partOf(c.stack); got != c.part {
			t.Errorf("partOf(%s …) = %q, want %q", c.stack[0], got, c.part)
		}
	}
}

// TestBreakdown writes a CPU profile of known samples — the i-th stack
// (i+1) ms of CPU — and reads it back per authorization.
func TestBreakdown(t *testing.T) {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10_000_000,
	}
	funcs := map[string]*profile.Function{}
	want := map[string]float64{}
	var total float64
	for i, c := range breakdownStacks {
		s := &profile.Sample{Value: []int64{1, int64(i+1) * 1_000_000}}
		for _, name := range c.stack {
			f := funcs[name]
			if f == nil {
				f = &profile.Function{ID: uint64(len(funcs) + 1), Name: name}
				funcs[name] = f
				p.Function = append(p.Function, f)
			}
			loc := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: f}}}
			p.Location = append(p.Location, loc)
			s.Location = append(s.Location, loc)
		}
		p.Sample = append(p.Sample, s)
		want[c.part] += float64(i+1) * 1000 / 100 // µs an authorization over 100
		total += float64(i+1) * 1000 / 100
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	parts, got, err := breakdown(&buf, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got != total {
		t.Errorf("total %.2f µs an authorization, want %.2f", got, total)
	}
	if len(parts) != len(want) {
		t.Errorf("%d parts, want %d: %+v", len(parts), len(want), parts)
	}
	for i, part := range parts {
		if part.US != want[part.Name] {
			t.Errorf("%s: %.2f µs, want %.2f", part.Name, part.US, want[part.Name])
		}
		if i > 0 && part.US > parts[i-1].US {
			t.Errorf("%s (%.2f) after %s (%.2f): not the largest first", part.Name, part.US, parts[i-1].Name, parts[i-1].US)
		}
	}
	if _, _, err := breakdown(strings.NewReader("not a profile"), 1); err == nil || !strings.Contains(err.Error(), "reading the CPU profile") {
		t.Errorf("a broken profile: got %v", err)
	}
}
