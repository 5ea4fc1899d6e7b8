package netswitch_test

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
)

// gatedHost is an issuer host in the switch's process that holds its
// first authorization until released, and counts the authorizations it
// is asked.
type gatedHost struct {
	netswitch.IssuerHost
	entered, release chan struct{}
	once             sync.Once
	auths            atomic.Int32
}

func (g *gatedHost) Handle(ctx context.Context, req *iso8583.Message) *iso8583.Message {
	if req.MTI.Class() == '1' {
		g.auths.Add(1)
		g.once.Do(func() { close(g.entered); <-g.release })
	}
	return g.IssuerHost.Handle(ctx, req)
}

// TestWaitsForTheCallInFlight: a duplicate of an authorization still
// being decided, and a reversal of it, wait for its end — the duplicate
// gets its answer, byte for byte, without the issuer being asked again;
// the reversal reverses the approved original.
func TestWaitsForTheCallInFlight(t *testing.T) {
	cfg, auth := benchConfig(t)
	g := &gatedHost{IssuerHost: cfg.Local["icbc"], entered: make(chan struct{}), release: make(chan struct{})}
	cfg.Local = map[string]netswitch.IssuerHost{"icbc": g}
	sw, err := netswitch.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	ctx := context.Background()
	req := auth(7)
	answers := make(chan *iso8583.Message, 2)
	go func() { answers <- sw.Handle(ctx, req) }()
	<-g.entered // the original is being decided
	go func() { answers <- sw.Handle(ctx, req) }()
	rev, err := nettest.NewTerminal("B0000000", "898310054110001", "TAPWALLET BENCH").Reversal(req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	reversed := make(chan *iso8583.Message, 1)
	go func() { reversed <- sw.Handle(ctx, rev) }()
	time.Sleep(20 * time.Millisecond) // for both to find the original in flight (either way the answers must hold)
	close(g.release)
	first, second := <-answers, <-answers
	a, _ := first.Pack()
	b, _ := second.Pack()
	if rc, _ := first.ResponseCode(); rc != iso8583.Approved || !bytes.Equal(a, b) {
		t.Errorf("original and duplicate answered %s and %s, want one approval twice", first, second)
	}
	if n := g.auths.Load(); n != 1 {
		t.Errorf("the issuer was asked %d authorizations, want 1", n)
	}
	if rc, _ := (<-reversed).ResponseCode(); rc != iso8583.Approved {
		t.Errorf("the reversal of the original in flight answered %s, want 00", rc)
	}
}

// TestCallsReusedOwnAnswers: with the calls of authorizations no one
// waited for used again, many authorizations at once — each sent twice at
// the same moment, so that some duplicates wait for their original in
// flight and others find its answer kept — each get their own answer:
// the original and its duplicate the same bytes, approved, with their own
// STAN, terminal and transmission time.
func TestCallsReusedOwnAnswers(t *testing.T) {
	cfg, auth := benchConfig(t)
	sw, err := netswitch.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				req := auth(g*1000 + i)
				answers := make(chan *iso8583.Message, 2)
				for range 2 {
					go func() { answers <- sw.Handle(ctx, req) }()
				}
				first, second := <-answers, <-answers
				a, _ := first.Pack()
				b, _ := second.Pack()
				if rc, _ := first.ResponseCode(); rc != iso8583.Approved || !bytes.Equal(a, b) {
					t.Errorf("authorization %d/%d: answered %s and %s, want one approval twice", g, i, first, second)
					return
				}
				for _, de := range []int{iso8583.DESTAN, iso8583.DETerminal, iso8583.DETransmission} {
					want, _ := req.String(de)
					if got, _ := first.String(de); got != want {
						t.Errorf("authorization %d/%d: DE%d %q, want %q (another's answer)", g, i, de, got, want)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
