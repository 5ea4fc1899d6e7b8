package kernel_test

import (
	"context"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/kernel"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/nfc"
)

// BenchmarkTap measures one full payment tap in process: the phone's card
// OS and payment applet (with its secure element writing its state file)
// and the terminal kernel, over the vpcd framing on loopback TCP. It
// reports the APDU bytes and the estimated air time of a tap.
func BenchmarkTap(b *testing.B) {
	ph := newPhone(b, b.N+1)
	ph.Finger.OK, ph.Finger.Sticky = true, true
	k := newKernel(b, kernel.DefaultConfig())
	l, err := nfc.Listen("127.0.0.1:0", nfc.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	var stats kernel.Stats
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		served := make(chan error, 1)
		go func() { served <- nfc.DialAndServe(ctx, l.Addr().String(), ph.Card, nfc.Config{}) }()
		r, err := l.Accept(ctx)
		if err != nil {
			b.Fatal(err)
		}
		res, err := k.Run(ctx, r, kernel.Transaction{Amount: money.Fen(1234)})
		r.Close()
		if err != nil || res.Outcome != kernel.Online {
			b.Fatalf("tap %d: %v %v", i, err, res)
		}
		if err := <-served; err != nil {
			b.Fatal(err)
		}
		stats = res.Stats
	}
	b.StopTimer()
	b.ReportMetric(float64(stats.Bytes()), "bytes/tap")
	b.ReportMetric(float64(stats.Air)/float64(time.Millisecond), "air-ms/tap")
}
