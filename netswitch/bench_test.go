package netswitch_test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/metrics"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	"github.com/tapwallet/tapwallet/netswitch/switchtest"
	"github.com/tapwallet/tapwallet/qpboc"
	"github.com/tapwallet/tapwallet/tsp"
)

// memTokens is a token check that knows one token and approves every
// cryptogram: the token service's part of an authorization at no cost.
type memTokens struct {
	token tsp.Token
	pan   card.PAN
}

func (m memTokens) Authorize(_ context.Context, r tsp.AuthRequest) (tsp.AuthResult, error) {
	if r.Token != m.token.Number.Digits() {
		return tsp.AuthResult{}, fmt.Errorf("unknown token")
	}
	return tsp.RemoteResult(tsp.AuthResult{Token: m.token, PAN: m.pan}, func(arqc, arc []byte) ([]byte, error) {
		return append(make([]byte, 0, 10), 1, 2, 3, 4, 5, 6, 7, 8, arc[0], arc[1]), nil
	}), nil
}

func (memTokens) Credit(context.Context, string) (tsp.CreditResult, error) {
	return tsp.CreditResult{}, fmt.Errorf("no credits here")
}

// xorSealer seals by flipping every bit (a benchmark's stand-in for the
// key store).
type xorSealer struct{}

func (xorSealer) Seal(p, _ []byte) ([]byte, error) {
	out := make([]byte, len(p))
	for i, c := range p {
		out[i] = ^c
	}
	return out, nil
}

func (s xorSealer) Open(c, aad []byte) ([]byte, error) { return s.Seal(c, aad) }

// benchConfig is the config of a switch whose issuer host (ICBC) is in its process, on a
// ledger in memory, with a store and a token check in memory, both
// metered as the platform meters them: what the switch, the issuer host,
// the codec and the metrics cost an authorization, without the databases
// and the token service's keys. auth returns the i-th 0100 of the one
// token (¥0.01, a fresh STAN each).
func benchConfig(b testing.TB) (cfg netswitch.Config, auth func(i int) *iso8583.Message) {
	b.Helper()
	ctx := context.Background()
	banks, err := bank.Default()
	if err != nil {
		b.Fatal(err)
	}
	reg := metrics.New()
	host, err := issuer.NewHost(ctx, issuer.HostConfig{Banks: banks, BankID: "icbc", Ledger: ledger.NewMemStore(time.Now),
		Secret: []byte("bench secret"), Meter: reg.Party("issuer")})
	if err != nil {
		b.Fatal(err)
	}
	pan, _ := card.ParsePAN(icbcCredit)
	icbc, _ := banks.BankByID("icbc")
	digits := fmt.Sprintf("%s%02d000000123", bank.TokenBINPrefix, icbc.TokenRange)
	tok, err := card.ParseToken(digits + string(card.LuhnDigit(digits)))
	if err != nil {
		b.Fatal(err)
	}
	tokens := memTokens{token: tsp.Token{Number: tok, PAR: "Q1J4AYSJ5V8IHNPMRUVWHF2TO2Q9F", PhoneID: "phone-1", AccountID: "account-1",
		BankID: "icbc", Product: "credit", State: tsp.Active}, pan: pan}
	cfg = netswitch.Config{Banks: banks.Directory(), Tokens: tokens, Store: switchtest.NewMemory(), Keys: xorSealer{},
		Local: map[string]netswitch.IssuerHost{"icbc": host}, Meter: reg.Party("network")}
	now := time.Now()
	tags := nettest.TerminalData(1, now)
	tags[qpboc.TagCryptogram] = []byte{1, 2, 3, 4, 5, 6, 7, 8}
	tags[qpboc.TagATC] = []byte{0, 1}
	tags[qpboc.TagIAD] = qpboc.IAD{DKI: 1, CVN: qpboc.CVNTDES, CVR: qpboc.NewCVR(true), KeyIndex: 1}.Bytes()
	auth = func(i int) *iso8583.Message {
		term := nettest.NewTerminal(fmt.Sprintf("B%07d", i/900_000), "898310054110001", "TAPWALLET BENCH")
		term.STAN = iso8583.NewSTANCounter(iso8583.STAN(i%900_000 + 1))
		m, err := term.Authorization(tok.Digits(), "", 1, tags, now)
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	return cfg, auth
}

// BenchmarkAuthorize is one 0100 through the switch with the issuer host
// in its process (benchConfig): "handle" calls the switch's Handle (no
// link), "link" sends over loopback TCP as bench auth does — 16 in
// flight over 8 acquirer connections. Both report the process's CPU per
// authorization (cpu-µs/op: the garbage collector's included; with the
// link, the client's too).
func BenchmarkAuthorize(b *testing.B) {
	b.Run("handle", func(b *testing.B) { benchHandle(b, 0) })
	// The answers kept for duplicates at their bound: every answer
	// forgets the oldest.
	b.Run("handle-remembered-full", func(b *testing.B) { benchHandle(b, 5000) })
	b.Run("link", func(b *testing.B) {
		cfg, auth := benchConfig(b)
		_, addr, stop := startSwitch(b, cfg)
		defer stop()
		clients := make([]*isolink.Client, 8)
		for i := range clients {
			var err error
			if clients[i], err = isolink.Dial(context.Background(), addr, isolink.Options{Timeout: 10 * time.Second}); err != nil {
				b.Fatal(err)
			}
			defer clients[i].Close()
		}
		msgs := make([]*iso8583.Message, b.N)
		for i := range msgs {
			msgs[i] = auth(i)
		}
		next := make(chan *iso8583.Message, len(msgs))
		for _, m := range msgs {
			next <- m
		}
		close(next)
		b.ReportAllocs()
		cpu0 := cpuTime()
		b.ResetTimer()
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for m := range next {
					resp, err := clients[g%len(clients)].Send(context.Background(), m)
					if err != nil {
						b.Error(err)
						return
					}
					if rc, _ := resp.ResponseCode(); rc != iso8583.Approved {
						b.Errorf("got %s", rc)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	})
}

// benchHandle runs BenchmarkAuthorize's "handle": the switch's Handle
// called in turn; remembered, if not 0, bounds the answers kept for
// duplicates (Config.MaxRemembered).
func benchHandle(b *testing.B, remembered int) {
	cfg, auth := benchConfig(b)
	cfg.MaxRemembered = remembered
	sw, err := netswitch.New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer sw.Close()
	msgs := make([]*iso8583.Message, b.N)
	for i := range msgs {
		msgs[i] = auth(i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := range b.N {
		if rc, _ := sw.Handle(ctx, msgs[i]).ResponseCode(); rc != iso8583.Approved {
			b.Fatalf("authorization %d: %s", i, rc)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
