package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	issuerstore "github.com/tapwallet/tapwallet/issuer/sqlstore"
	"github.com/tapwallet/tapwallet/journal"
	"github.com/tapwallet/tapwallet/journal/lossyfs"
	netstore "github.com/tapwallet/tapwallet/netswitch/sqlstore"
	"github.com/tapwallet/tapwallet/platform"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/powerloss"
	tspstore "github.com/tapwallet/tapwallet/tsp/sqlstore"
)

// powerLossEnv carries a powerLossSpec to the child process.
const powerLossEnv = "TAPWALLET_POWERLOSS_CHILD"

// powerLossSpec is what the child runs: the platform on Dir, its SQLite
// files through the power-loss layer with shadows in Shadow; Normal opts
// out of durability (synchronous=NORMAL), to show that the test sees a loss.
type powerLossSpec struct {
	Dir, Shadow string
	Normal      bool
}

// approval is an authorization the terminal was told was approved, as the
// child prints it the moment the 0110 arrives.
type approval struct {
	de7, stan, terminal, token, arqc string
}

// TestPowerLossChild is the body of the process the power-loss tests kill:
// the whole platform on SQLite under the power-loss layer (sqldb/powerloss),
// 16 tokens paying at once over 4 acquirer connections (the bench's load
// generator: every authorization through the switch, the token service and
// the issuer host), printing "A DE7 DE11 DE41 token arqc" for each
// approval as the terminal gets it, until it is killed. Without
// powerLossEnv it returns at once: it is not a test of its own.
func TestPowerLossChild(t *testing.T) {
	raw := os.Getenv(powerLossEnv)
	if raw == "" {
		return
	}
	var spec powerLossSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	if err := powerloss.Install(spec.Shadow); err != nil {
		t.Fatal(err)
	}
	// The network's journal (the switch's records before SQL) through the
	// same kind of layer, its shadows beside SQLite's.
	jfs, err := lossyfs.New(spec.Shadow)
	if err != nil {
		t.Fatal(err)
	}
	journal.SetDefaultFS(jfs)
	if spec.Normal {
		sqldb.SetSQLiteSyncNormal(true)
	}
	ctx := context.Background()
	cfg := platform.Config{DataDir: spec.Dir, HTTPAddr: "127.0.0.1:0", ArgonTime: 1,
		Log: slog.New(slog.DiscardHandler), RiskOff: true}
	if spec.Normal {
		// The control: every role named (as --roles does) keeps the
		// issuers' holds and the switch's records on SQL, where
		// synchronous=NORMAL can lose them; the sole platform journals them.
		cfg.Roles = platform.Roles{}
		for _, r := range platform.AllRoles {
			cfg.Roles[r] = true
		}
	}
	p, err := platform.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.Wallet.ArgonMemoryKiB = 64
	const tokens, perToken = 16, 400
	p.Tokens.LUKBatch = perToken
	p.Tokens.LUKTTL = 24 * time.Hour
	streams, err := provision(ctx, p, tokens, perToken, tokens*perToken, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
	var clients []*isolink.Client
	for range 4 {
		c, err := isolink.Dial(ctx, p.ISOAddr, isolink.Options{Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	var out sync.Mutex
	fmt.Println("READY")
	for i, s := range streams {
		go func() {
			c := clients[i%len(clients)]
			for _, m := range s.msgs {
				resp, err := c.Send(ctx, m)
				if err != nil || !resp.MTI.IsResponse() || !rcApproved(resp) {
					continue
				}
				line := approvalLine(m)
				out.Lock()
				os.Stdout.WriteString(line) // unbuffered: in the pipe before the next answer is read
				out.Unlock()
			}
		}()
	}
	select {}
}

// approvalLine is the child's line for an approved 0100.
func approvalLine(m *iso8583.Message) string {
	de7, _ := m.String(7)
	stan, _ := m.String(11)
	term, _ := m.String(41)
	token, _ := m.String(2)
	arqc := ""
	if b, ok := m.Bytes(55); ok {
		if tlvs, err := emv.Decode(b); err == nil {
			if c, ok := emv.Find(tlvs, emv.TagCryptogram); ok {
				arqc = hex.EncodeToString(c.Value)
			}
		}
	}
	return fmt.Sprintf("A %s %s %s %s %s\n", de7, stan, term, token, arqc)
}

// powerCut runs TestPowerLossChild in a process of its own, lets it approve
// authorizations for about after, kills it with SIGKILL (the power cut:
// the shadows hold what its syncs made durable, nothing else) and returns
// the approvals its terminals heard, a folder holding the shadow files
// (every unsynced write dropped) and the shadow folder itself (for
// CopyTorn).
func powerCut(t *testing.T, normal bool, after time.Duration) ([]approval, string, string) {
	t.Helper()
	spec := powerLossSpec{Dir: t.TempDir(), Shadow: t.TempDir(), Normal: normal}
	b, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^TestPowerLossChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), powerLossEnv+"="+string(b))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var got []approval
	var killAt <-chan time.Time
	timeout := time.After(120 * time.Second)
	for killed := false; ; {
		select {
		case l, ok := <-lines:
			if !ok {
				if err := cmd.Wait(); !killed {
					t.Fatalf("the child ended before the power cut: %v\n%s", err, stderr.String())
				}
				cut := t.TempDir()
				if err := powerloss.Copy(spec.Shadow, cut); err != nil {
					t.Fatal(err)
				}
				return got, cut, spec.Shadow
			}
			f := strings.Fields(l)
			if len(f) == 6 && f[0] == "A" {
				got = append(got, approval{de7: f[1], stan: f[2], terminal: f[3], token: f[4], arqc: f[5]})
				if killAt == nil {
					killAt = time.After(after)
				}
			}
		case <-killAt:
			killAt, killed = nil, true
			cmd.Process.Signal(syscall.SIGKILL) // its last lines still drain from the pipe
		case <-timeout:
			cmd.Process.Kill()
			t.Fatalf("the child approved nothing in 120 s\n%s", stderr.String())
		}
	}
}

// survivors is what the shadow files in cut hold: the issuers' holds (by
// DE7|DE11|DE41, the bank left out), the switch's approved records (the
// same) and the token service's used keys (token|cryptogram).
func survivors(t *testing.T, cut string) (holds, records, keyUses map[string]bool) {
	t.Helper()
	// The switch's records journaled and not yet written behind to SQL
	// are applied as the platform's next start would: the network's store
	// opened with its journal replays it into network.db.
	inSQL := func() int {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(cut, "network.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		db.QueryRow("SELECT COUNT(*) FROM switch_auths WHERE response_code = '00'").Scan(&n)
		return n
	}
	before := inSQL()
	// The platform with every role journals on one shared file
	// (tapwallet.journal): each store below opens its stream of it.
	sh, err := journal.OpenShared(filepath.Join(cut, journal.SharedName+".journal"), journal.Options{})
	if err != nil {
		t.Fatalf("the shared journal after the power cut: %v", err)
	}
	defer sh.Close()
	t.Logf("%s: the shared journal holds %d records (%d torn bytes cut off); approved records in network.db before its replay %d", filepath.Base(cut), sh.Stats().Records, sh.Stats().DroppedBytes, before)
	defer func() { t.Logf("%s: approved records in network.db after the replay %d", filepath.Base(cut), inSQL()) }()
	st, err := netstore.Open(context.Background(), "", cut, netstore.Journaled(), netstore.OnJournal(sh))
	if err != nil {
		t.Fatalf("replaying the network's journal after the power cut: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// The token service's key uses likewise: its store opened with Sole
	// replays tsp.journal into tsp.db.
	tokens, err := tspstore.Open(context.Background(), "", cut, tspstore.Sole(), tspstore.OnJournal(sh))
	if err != nil {
		t.Fatalf("replaying the token service's journal after the power cut: %v", err)
	}
	if err := tokens.Close(); err != nil {
		t.Fatal(err)
	}
	// The issuers' holds likewise: each bank's wing opened with its
	// journal replays issuer_<bank>.journal into issuer_<bank>.db.
	banks, _ := filepath.Glob(filepath.Join(cut, "issuer_*.db"))
	for _, f := range banks {
		bank := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "issuer_"), ".db")
		st, err := issuerstore.Open(context.Background(), "", cut, bank, issuerstore.Journaled(), issuerstore.OnJournal(sh))
		if err != nil {
			t.Fatalf("replaying the journal of %s after the power cut: %v", filepath.Base(f), err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	holds, records, keyUses = map[string]bool{}, map[string]bool{}, map[string]bool{}
	read := func(file, q string, into map[string]bool, key func(cols []string) string) {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(cut, file))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var check string
		if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
			t.Errorf("%s after the power cut: integrity_check %q %v", file, check, err)
		}
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s after the power cut: %v", file, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			v := make([]string, len(cols))
			ptrs := make([]any, len(cols))
			for i := range v {
				ptrs[i] = &v[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			into[key(v)] = true
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s after the power cut: %v", file, err)
		}
	}
	issuers, _ := filepath.Glob(filepath.Join(cut, "issuer_*.db"))
	if len(issuers) == 0 {
		t.Fatal("no issuer ledger in the shadow folder")
	}
	for _, f := range issuers {
		read(filepath.Base(f), "SELECT id FROM ledger_transfers WHERE flags & 2 = 2", holds, func(v []string) string {
			_, rest, _ := strings.Cut(v[0], "|") // bank|DE7|DE11|DE41
			return rest
		})
	}
	read("network.db", "SELECT id FROM switch_auths WHERE response_code = '00'", records, func(v []string) string {
		// The identity DE41|DE11|DE7 (netmsg.ID), as DE7|DE11|DE41.
		p := strings.SplitN(v[0], "|", 3)
		if len(p) != 3 {
			return v[0]
		}
		return p[2] + "|" + p[1] + "|" + p[0]
	})
	read("tsp.db", "SELECT token, used_arqc FROM luks WHERE used_at > 0", keyUses, func(v []string) string {
		return v[0] + "|" + v[1]
	})
	return holds, records, keyUses
}

// lost counts the approvals whose hold, switch record or key use is not in
// the files a power cut left.
func lost(t *testing.T, got []approval, cut string) (holds, records, keyUses int) {
	h, r, k := survivors(t, cut)
	for _, a := range got {
		id := a.de7 + "|" + a.stan + "|" + a.terminal
		if !h[id] {
			holds++
		}
		if !r[id] {
			records++
		}
		if !k[a.token+"|"+a.arqc] {
			keyUses++
		}
	}
	return
}

// TestPowerLossKeepsApprovedHolds is issue 16's power-loss test: the whole
// platform under load is killed with SIGKILL at a random moment, with its
// SQLite files under a layer that drops every write no fdatasync covered
// (sqldb/powerloss); on the files a power cut would have left, every
// authorization a terminal heard approved has its issuer's hold, the
// switch's record and the token service's key use, and every database
// passes integrity_check. Each cut is also made the other way a disk
// allows (powerloss.CopyTorn: each unsynced write applied whole, torn or
// not at all). Three cuts.
func TestPowerLossKeepsApprovedHolds(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the platform in child processes")
	}
	for run := 1; run <= 3; run++ {
		got, cut, shadow := powerCut(t, false, time.Duration(300+rand.IntN(900))*time.Millisecond)
		if len(got) == 0 {
			t.Fatal("no approval before the cut: no load")
		}
		h, r, k := lost(t, got, cut)
		t.Logf("cut %d: %d approvals heard; lost: %d holds, %d switch records, %d key uses", run, len(got), h, r, k)
		if h+r+k > 0 {
			t.Errorf("cut %d: of %d approvals a power cut lost %d holds, %d switch records, %d key uses", run, len(got), h, r, k)
		}
		torn := t.TempDir()
		whole, part, dropped, err := powerloss.CopyTorn(shadow, torn, rand.New(rand.NewPCG(uint64(run), uint64(time.Now().UnixNano()))))
		if err != nil {
			t.Fatal(err)
		}
		h, r, k = lost(t, got, torn)
		t.Logf("cut %d torn (%d unsynced writes whole, %d torn, %d dropped): lost %d holds, %d switch records, %d key uses", run, whole, part, dropped, h, r, k)
		if h+r+k > 0 {
			t.Errorf("cut %d torn: of %d approvals a power cut lost %d holds, %d switch records, %d key uses", run, len(got), h, r, k)
		}
	}
}

// TestPowerLossSeesNormalLose is the control: the same cut with
// synchronous=NORMAL (the log synced only at checkpoints) loses approved
// holds — so the test above can see a loss. Up to three cuts, until one
// loses something.
func TestPowerLossSeesNormalLose(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the platform in child processes")
	}
	for run := 1; run <= 3; run++ {
		got, cut, _ := powerCut(t, true, time.Duration(300+rand.IntN(900))*time.Millisecond)
		h, r, k := lost(t, got, cut)
		t.Logf("NORMAL cut %d: %d approvals heard; lost: %d holds, %d switch records, %d key uses", run, len(got), h, r, k)
		if h > 0 {
			return
		}
	}
	t.Error("three power cuts under synchronous=NORMAL lost no approved hold: the power-loss layer drops nothing")
}
