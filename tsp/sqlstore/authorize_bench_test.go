package sqlstore_test

import (
	"context"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/id"
	"github.com/tapwallet/tapwallet/lostphone/taptest"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/qpboc"
	"github.com/tapwallet/tapwallet/se"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/tsp/sqlstore"
	"github.com/tapwallet/tapwallet/tsp/tsptest"
)

// BenchmarkAuthorize is the token service's part of an authorization, as
// the single-process platform runs it (Sole on SQLite, the key file's
// store): the token check (Service.Authorize: the token and its key from
// memory, the ARQC verified, the key's use journaled, the card number
// opened from the vault) and the ARPC, 8 tokens of a phone paying at once,
// each its own taps in order, every cryptogram made beforehand; the timer
// stops once the write-behind has the uses in SQL. cpu-µs/op is the
// process's user and system CPU (getrusage) over the timed part per
// authorization — its own, the write-behind's and the journal's — which
// the machine's other load inflates less than the time.
func BenchmarkAuthorize(b *testing.B) {
	ctx := context.Background()
	st := openWing(b, "", b.TempDir(), sqlstore.Sole())
	s := tsptest.NewService(b, st)
	const tokens = 8
	s.LUKBatch = b.N/tokens + 1
	el, err := se.Open(filepath.Join(b.TempDir(), "se.json"))
	if err != nil {
		b.Fatal(err)
	}
	d := tsp.Device{ID: id.New("ph"), AccountID: id.New("acc"), PublicKey: el.PublicKey()}
	taps := make([][]tsp.AuthRequest, tokens)
	for i := range tokens {
		res, err := s.AddCard(ctx, tsp.AddCardRequest{Device: d, PAN: tsptest.PAN("622999", 100+i), Expiry: "1230", CVN2: "123"})
		if err != nil {
			b.Fatal(err)
		}
		tok := res.Card.Token
		if _, err := el.InstallKeys(tok.Number.Digits(), res.Card.KeyBatch); err != nil {
			b.Fatal(err)
		}
		c := phone.Card{Token: tok.Number.Digits(), AID: tok.AID, Expiry: tok.Expiry.MMYY(), PSN: tok.PSN, BankName: "Test Bank"}
		for j := i; j < b.N; j += tokens {
			chip, err := taptest.Tap(el, c, 100, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			taps[i] = append(taps[i], taptest.Request(tok.Number.Digits(), chip))
		}
	}
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.ResetTimer()
	start := cpu()
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, r := range taps[i] {
				ar, err := s.Authorize(ctx, r)
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := ar.ARPC(r.Chip[qpboc.TagCryptogram], []byte("00")); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := st.CaughtUp(); err != nil {
		b.Fatal(err)
	}
	used := cpu() - start
	b.StopTimer()
	b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/op")
}
