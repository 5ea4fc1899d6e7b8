package netswitch

import (
	"context"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/netmsg"
)

// Meter is told how long the hops of each authorization took and which
// response code each was answered with (Config.Meter; the platform hands
// it the metrics of `serve`). It must be safe for concurrent use.
type Meter interface {
	Hop(hop string, took time.Duration)
	Answered(rc string)
}

// The hops the switch times.
const (
	HopSwitch     = "switch"      // the whole 0100, from the decoded request to the answer
	HopTokenCheck = "token_check" // the token service's Authorize
	HopIssuer     = "issuer"      // the round trip to the issuer host
	HopPromotion  = "promotion"   // matching the campaigns and reserving the best one's budget (promo.go)
)

// hop tells the meter, if any, that hop took since start.
func (s *Switch) hop(hop string, start time.Time) {
	if s.cfg.Meter != nil {
		s.cfg.Meter.Hop(hop, time.Since(start))
	}
}

// authorizeMetered is authorize, timed and counted by its answer's code.
func (s *Switch) authorizeMetered(ctx context.Context, a *netmsg.Authorization) *iso8583.Message {
	if s.cfg.Meter == nil {
		return s.authorize(ctx, a)
	}
	start := time.Now()
	resp := s.authorize(ctx, a)
	s.hop(HopSwitch, start)
	var rc iso8583.ResponseCode
	if resp != nil {
		rc, _ = resp.ResponseCode()
	}
	s.cfg.Meter.Answered(string(rc))
	return resp
}

// CheckIssuers reports whether the link to each bank's issuer host is up
// (bank id → nil when up): its connection open, or dialled and signed on
// now (a link is dialled when first needed). It waits at most as long as
// a dial (1 s) or ctx.
func (s *Switch) CheckIssuers(ctx context.Context) map[string]error {
	out := make(map[string]error, len(s.links))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for id, l := range s.links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := l.check(ctx)
			mu.Lock()
			out[id] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}
