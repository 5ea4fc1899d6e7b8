package netswitch_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/issuer"
	issuerstore "github.com/tapwallet/tapwallet/issuer/sqlstore"
	"github.com/tapwallet/tapwallet/keystore"
	"github.com/tapwallet/tapwallet/keystore/soft"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	netstore "github.com/tapwallet/tapwallet/netswitch/sqlstore"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/tsp"
	tspstore "github.com/tapwallet/tapwallet/tsp/sqlstore"
	"github.com/tapwallet/tapwallet/wallet"
	walletstore "github.com/tapwallet/tapwallet/wallet/sqlstore"
)

// logBuffer collects log lines from many goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// env is the card network on one database: token service, 20 issuer hosts
// on their own listeners, the switch on its own, and an acquirer
// connection to it.
type env struct {
	db      *sqldb.DB
	banks   *bank.Config
	keys    *keystore.File
	wallet  *wallet.Service
	tokens  *tsp.Service
	ledger  ledger.Store
	hosts   *issuer.Hosts
	store   *netstore.Store
	sw      *netswitch.Switch
	addr    string
	acq     *isolink.Client
	term    *nettest.Terminal
	logs    *logBuffer
	phoneN  atomic.Int64
	issuers map[string]string
	cfg     netswitch.Config // the switch's
}

type envOpt func(*netswitch.Config)

func newEnv(t testing.TB, db *sqldb.DB, opts ...envOpt) *env {
	t.Helper()
	return newEnvAt(t, db, filepath.Join(t.TempDir(), "keys.json"), opts...)
}

// newEnvAt is newEnv with the key file at keysPath (a crash test's
// processes share one).
func newEnvAt(t testing.TB, db *sqldb.DB, keysPath string, opts ...envOpt) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{db: db, logs: &logBuffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	if e.banks, err = bank.Default(); err != nil {
		t.Fatal(err)
	}
	if e.keys, err = keystore.OpenFile(keysPath); err != nil {
		t.Fatal(err)
	}
	ws, err := walletstore.OpenBeside(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	e.wallet = wallet.NewService(ws, log)
	e.wallet.ArgonTime, e.wallet.ArgonMemoryKiB = 1, 64
	fast, err := tspstore.OpenBeside(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fast.Close() })
	e.tokens = tsp.New(fast, soft.New(e.keys), issuer.NewIDV(e.banks, time.Now), tsp.EMVKeys{Alg: emv.TDES}, log)
	e.tokens.LUKBatch = 20
	// One issuer wing for the test's 20 banks (account and hold ids carry
	// the bank), so the tests read one ledger.
	ist, err := issuerstore.OpenBeside(ctx, db, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ist.Close() })
	e.ledger = ist.Ledger
	e.hosts, err = issuer.StartHosts(ctx, ist.HostConfig(issuer.HostConfig{Banks: e.banks, Secret: []byte("test secret"), Log: log}), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.hosts.Close() })
	if e.store, err = netstore.OpenBeside(ctx, db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.Close() })
	cfg := netswitch.Config{Banks: e.banks.Directory(), Tokens: e.tokens, Store: e.store, Keys: e.keys, Issuers: e.hosts.Addrs,
		IssuerTimeout: 2 * time.Second, Log: log}
	for _, o := range opts {
		o(&cfg)
	}
	e.issuers = cfg.Issuers
	e.cfg = cfg
	var stop func()
	e.sw, e.addr, stop = startSwitch(t, cfg)
	t.Cleanup(stop)
	e.acq = e.dial(t)
	e.term = nettest.NewTerminal("T0000001", "898310054110001", "TAPWALLET MART")
	return e
}

// startSwitch starts a switch with cfg on a loopback port; stop stops it
// (once).
func startSwitch(t testing.TB, cfg netswitch.Config) (sw *netswitch.Switch, addr string, stop func()) {
	t.Helper()
	sw, err := netswitch.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sw.Serve(sctx, ln); close(done) }()
	var once sync.Once
	return sw, ln.Addr().String(), func() { once.Do(func() { cancel(); <-done; sw.Close() }) }
}

func (e *env) dial(t testing.TB) *isolink.Client {
	t.Helper()
	c, err := isolink.Dial(context.Background(), e.addr, isolink.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// register is the nettest.Registrar of the env's wallet service.
func (e *env) register(ctx context.Context, email string, pub []byte) (tsp.Device, error) {
	acc, err := e.wallet.SignUp(ctx, email, "test-password-1", "nettest")
	if err != nil {
		return tsp.Device{}, err
	}
	ph, err := e.wallet.RegisterPhone(ctx, acc.ID, "simulated phone", "nettest", pub, "nettest")
	return tsp.Device{ID: ph.ID, AccountID: ph.AccountID, PublicKey: ph.PublicKey}, err
}

// phone makes a simulated phone with the given test cards.
func (e *env) phone(t testing.TB, pans ...string) *nettest.Phone {
	t.Helper()
	ctx := context.Background()
	ph, err := nettest.NewPhone(ctx, e.register, fmt.Sprintf("p%d@example.com", e.phoneN.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, pan := range pans {
		c := e.cardholder(t, pan)
		if _, err := ph.AddCard(ctx, e.tokens, c); err != nil {
			t.Fatalf("add card ending %s: %v", c.PAN.Last4(), err)
		}
	}
	return ph
}

func (e *env) cardholder(t testing.TB, pan string) *bank.Cardholder {
	t.Helper()
	for i := range e.banks.Cards {
		if e.banks.Cards[i].PAN.Digits() == pan {
			return &e.banks.Cards[i]
		}
	}
	t.Fatalf("no test card ending %s", pan[len(pan)-4:])
	return nil
}

// auth builds an 0100 for a tap of card c.
func (e *env) auth(t testing.TB, c *nettest.Card, amount int64, tap nettest.Tap) *iso8583.Message {
	t.Helper()
	now := time.Now()
	tags, err := c.Answer(nettest.TerminalData(amount, now), tap)
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.term.Authorization(c.Token, c.Expiry, amount, tags, now)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *env) send(t testing.TB, m *iso8583.Message) *iso8583.Message {
	t.Helper()
	resp, err := e.acq.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("send %s: %v", m.MTI, err)
	}
	return resp
}

func rcOf(m *iso8583.Message) string {
	rc, _ := m.ResponseCode()
	return string(rc)
}

// holdOf returns the issuer's hold for an authorization.
func (e *env) holdOf(t *testing.T, bankID string, m *iso8583.Message) (ledger.Transfer, error) {
	t.Helper()
	de7, _ := m.String(iso8583.DETransmission)
	stan, _ := m.String(iso8583.DESTAN)
	tid, _ := m.String(iso8583.DETerminal)
	return e.ledger.LookupTransfer(context.Background(), issuer.HoldID(bankID, de7, stan, tid))
}

// Test cards (docs/test-cards.md).
const (
	icbcDebit  = "6222020000000007"    // ¥5,000.00
	icbcCredit = "6253300000000005"    // limit ¥50,000.00
	ccbDebit   = "6217000000000000004" // ¥8,000.00
	ccbLow     = "6217000000011854"    // ¥10.00
	bocDebit   = "6216610000000000008" // ¥20,000.00
)

// serve runs an ISO 8583 server with handler on a loopback port.
func serve(t *testing.T, handler isolink.Handler) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { (&isolink.Server{Handler: handler, ShutdownGrace: time.Second}).Serve(ctx, ln); close(done) }()
	return ln.Addr().String(), func() { cancel(); <-done }
}
