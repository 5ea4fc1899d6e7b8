package issuer

import (
	"context"
	"net"
	"sync"

	"github.com/tapwallet/tapwallet/fault"
)

// Hosts is every bank's issuer host running in one process, each on its
// own TCP listener, as the platform runs them: the network dials each one
// like a bank's host elsewhere.
type Hosts struct {
	// Addrs is each bank's host address (bank id → host:port).
	Addrs map[string]string
	// Hosts is each bank's host (bank id → host).
	Hosts  map[string]*Host
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// StartHosts opens a host for every bank of base.Banks (base.BankID is
// ignored) and serves each on its own listener at addr (such as
// 127.0.0.1:0: a free port each). It fails like NewHost, or with a
// fault.Unavailable error when it cannot listen; then nothing runs.
func StartHosts(ctx context.Context, base HostConfig, addr string) (*Hosts, error) {
	if base.Banks == nil {
		return nil, fault.E(fault.Invalid, "issuer_config", "issuer hosts need the banks")
	}
	hs := &Hosts{Addrs: map[string]string{}, Hosts: map[string]*Host{}}
	var lns []net.Listener
	closeAll := func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
	for _, b := range base.Banks.Banks {
		cfg := base
		cfg.BankID = b.ID
		h, err := NewHost(ctx, cfg)
		if err != nil {
			closeAll()
			return nil, err
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return nil, fault.Wrap(err, fault.Unavailable, "listen", "issuer host %s cannot listen on %s", b.ID, addr)
		}
		lns = append(lns, ln)
		hs.Hosts[b.ID] = h
		hs.Addrs[b.ID] = ln.Addr().String()
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	hs.cancel = cancel
	for i, b := range base.Banks.Banks {
		h, ln := hs.Hosts[b.ID], lns[i]
		hs.wg.Add(1)
		go func() {
			defer hs.wg.Done()
			_ = h.Serve(sctx, ln)
		}()
	}
	return hs, nil
}

// Close stops every host, letting answers in flight go out; it always
// returns nil and may be called more than once.
func (hs *Hosts) Close() error {
	hs.once.Do(func() {
		hs.cancel()
		hs.wg.Wait()
	})
	return nil
}
