package gate_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/epurse/epursetest"
	"github.com/tapwallet/tapwallet/gate"
	"github.com/tapwallet/tapwallet/se"
)

// BenchmarkTap measures a full gate tap in process: the phone's card OS
// and purse (saving to a real secure-element file), the gate with its
// SAM and journal (fsync'd), alternating metro entry and exit. It reports
// the bytes and the estimated air time of a tap beside the time.
func BenchmarkTap(b *testing.B) {
	for _, city := range []string{"shanghai", "shenzhen"} { // TDES, SM4
		b.Run(city, func(b *testing.B) {
			clk := &clock{morning}
			line, from, to := "L2", "peoples-square", "century-avenue"
			if city == "shenzhen" {
				line, from, to = "L1", "luohu", "shopping-park"
			}
			in := station(b, clk, city, line, from, gate.Auto, "")
			out := station(b, clk, city, line, to, gate.Auto, "")
			el, err := se.Open(filepath.Join(b.TempDir(), "se.json"))
			if err != nil {
				b.Fatal(err)
			}
			serial := uint64(0)
			var phone *applet.Dispatcher
			fresh := func() {
				serial++
				p, err := epurse.Install(el, epursetest.Perso(b, city, serial, 100000))
				if err != nil {
					b.Fatal(err)
				}
				phone = applet.NewDispatcher(p)
			}
			fresh()
			ctx := context.Background()
			var bytes int
			var air time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				g := in
				if i%2 == 1 {
					g = out
				}
				clk.t = clk.t.Add(10 * time.Minute)
				o, err := g.Tap(ctx, gate.Direct(phone))
				if err != nil {
					b.Fatal(err)
				}
				if !o.Result.Opens() {
					b.StopTimer()
					fresh() // balance spent: a new card
					i--
					b.StartTimer()
					continue
				}
				bytes, air = o.Bytes, o.Air
			}
			b.ReportMetric(float64(bytes), "bytes/tap")
			b.ReportMetric(float64(air.Microseconds())/1000, "air-ms/tap")
		})
	}
}
