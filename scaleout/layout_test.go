package scaleout_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/phone/phonetest"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// proc is one OS process of the binary.
type proc struct {
	name string
	bin  string
	args []string
	log  string // its stderr, for a failure's report
	http string // its HTTP address
	cmd  *exec.Cmd
	// exited is closed when the process has ended.
	exited chan struct{}
}

func (p *proc) start(t testing.TB) {
	t.Helper()
	if err := p.run(); err != nil {
		t.Fatal(err)
	}
}

// run starts the process and waits until its /healthz answers.
func (p *proc) run() error {
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	p.cmd = exec.Command(p.bin, append([]string{"serve", "--http", p.http}, p.args...)...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	// The load pays ¥1–10 in bursts from six phones: card testing and
	// small-payment bursts to the risk engine, which would decline most of
	// it before the issuers. This test is about processes and money, so the
	// engine is off (serve --risk off) and the load reaches the banks.
	p.cmd.Env = append(os.Environ(), "TAPWALLET_LOG_LEVEL=warn", "TAPWALLET_RISK=off")
	err = p.cmd.Start()
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %v", p.name, err)
	}
	exited := make(chan struct{})
	go func() { p.cmd.Wait(); close(exited) }()
	p.exited = exited
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + p.http + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(p.log)
			return fmt.Errorf("%s exited at start:\n%s", p.name, tail(b, 3000))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not come up: %v", p.name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL: no shutdown of any kind.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop ends the process with SIGTERM (SIGKILL after 15 s).
func (p *proc) stop() {
	if p.cmd == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.kill()
	}
}

// freePorts returns n consecutive free TCP ports on 127.0.0.1.
func freePorts(t testing.TB, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		base := 20000 + rand.IntN(30000)
		var lns []net.Listener
		ok := true
		for i := 0; i < n && ok; i++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if ok = err == nil; ok {
				lns = append(lns, ln)
			}
		}
		for _, ln := range lns {
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

func addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// testCard is a card of `tapwallet banks test-cards --json`.
type testCard struct {
	PAN, Expiry, CVN2, Bank, IDV string
}

func cli(t testing.TB, bin string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("tapwallet %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// layout is the platform spread over OS processes of the built binary on
// one PostgreSQL database (a fresh schema): the token service, the wallet
// with the portal, two card network processes and the banks split over
// two issuer processes, all up.
type layout struct {
	root, bin, dsn string
	banks          []string    // the banks' IDs in directory order
	half           [2][]string // the banks of each issuer process
	tokens, wallet *proc
	net1, net2     *proc
	iss            [2]*proc
	isoAddrs       []string // the ISO 8583 addresses of net1 and net2
}

// startLayout builds the binary into a temporary folder and starts the
// processes; they are stopped (SIGTERM) at the end of the test, and the
// last of each one's log is shown when it failed.
func startLayout(t testing.TB) *layout {
	t.Helper()
	l := &layout{dsn: sqldbtest.PostgresDSN(t), root: t.TempDir()}
	root := l.root
	l.bin = filepath.Join(root, "tapwallet")
	if out, err := exec.Command("go", "build", "-o", l.bin, "../cmd/tapwallet").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// The banks in directory order, split in two halves.
	var banks struct{ Banks []struct{ ID string } }
	if err := json.Unmarshal(cli(t, l.bin, "banks", "list", "--json"), &banks); err != nil {
		t.Fatal(err)
	}
	for i, b := range banks.Banks {
		l.banks = append(l.banks, b.ID)
		l.half[i*2/len(banks.Banks)] = append(l.half[i*2/len(banks.Banks)], b.ID)
	}
	issuersBase := freePorts(t, len(banks.Banks))
	pb := freePorts(t, 9) // HTTP and ISO 8583 ports of the processes

	mk := func(name string, args ...string) *proc {
		dir := filepath.Join(root, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		p := &proc{name: name, bin: l.bin, log: filepath.Join(root, name+".log"), args: append([]string{"--data", dir, "--db", l.dsn}, args...)}
		t.Cleanup(func() {
			p.stop()
			if t.Failed() {
				b, _ := os.ReadFile(p.log)
				t.Logf("--- %s log (last 3000 bytes):\n%s", name, tail(b, 3000))
			}
		})
		return p
	}
	// The token service is its own process; the wallet and the networks
	// reach it over HTTP/JSON at its address (tsphttp).
	l.tokens = mk("tsp", "--roles", "tsp")
	tspURL := "http://" + addr(pb+3)
	l.wallet = mk("wallet", "--roles", "wallet,portal", "--tsp-url", tspURL)
	netArgs := func(iso int) []string {
		return []string{"--roles", "network", "--tsp-url", tspURL, "--iso", addr(iso), "--issuers-at", addr(issuersBase)}
	}
	l.net1, l.net2 = mk("network1", netArgs(pb+1)...), mk("network2", netArgs(pb+2)...)
	for i := range l.iss {
		l.iss[i] = mk(fmt.Sprintf("issuers%d", i+1), "--roles", "issuers", "--issuer-banks", strings.Join(l.half[i], ","), "--issuers-listen", addr(issuersBase))
	}
	for i, p := range l.procs() {
		p.http = addr(pb + 3 + i)
	}
	// One key store for the whole platform: the first process makes it,
	// the others get a copy (an operator distributes keys.json, or an
	// HSM); the token service's link secret (tsp-secret) likewise.
	l.tokens.start(t)
	for _, f := range []string{"keys.json", "tsp-secret"} {
		b, err := os.ReadFile(filepath.Join(root, "tsp", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range l.procs()[1:] {
			if err := os.WriteFile(filepath.Join(root, p.name, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range []*proc{l.wallet, l.iss[0], l.iss[1], l.net1, l.net2} {
		p.start(t)
	}
	l.isoAddrs = []string{addr(pb + 1), addr(pb + 2)}
	return l
}

// procs returns the layout's processes: the token service, the wallet, the
// two networks and the two issuer processes, in that order.
func (l *layout) procs() []*proc {
	return []*proc{l.tokens, l.wallet, l.net1, l.net2, l.iss[0], l.iss[1]}
}

// greenCards returns the test cards whose ID&V is green and that are
// valid until 2027 or later, from `tapwallet banks test-cards --json`.
func (l *layout) greenCards(t testing.TB) []testCard {
	t.Helper()
	var tc struct{ Cards []testCard }
	if err := json.Unmarshal(cli(t, l.bin, "banks", "test-cards", "--json"), &tc); err != nil {
		t.Fatal(err)
	}
	var cards []testCard
	for _, c := range tc.Cards {
		if c.IDV == "green" && c.Expiry[2:] >= "27" {
			cards = append(cards, c)
		}
	}
	return cards
}

// wcard is a card on a phone, with its bank.
type wcard struct {
	phone.Card
	bank string
}

// openPhone makes a phone in the folder name under the layout's root,
// signs up and logs in with email, registers the phone and adds cards to
// it, all through the wallet process.
func (l *layout) openPhone(t testing.TB, name, email string, cards []testCard) (*phone.Phone, []wcard) {
	t.Helper()
	ctx := context.Background()
	ph := phonetest.Registered(t, filepath.Join(l.root, name), "http://"+l.wallet.http, email, "password-123", "phone")
	var out []wcard
	for _, c := range cards {
		res, err := ph.AddCard(ctx, c.PAN, c.Expiry, c.CVN2)
		if err != nil {
			t.Fatalf("add card of %s: %v", c.Bank, err)
		}
		out = append(out, wcard{*res.Card, c.Bank})
	}
	return ph, out
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return strings.Join(lines, "\n")
}
