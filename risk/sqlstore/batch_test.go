package sqlstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/sqldb"
)

// BenchmarkWriteBatch is the flusher's work for one authorization in
// shadow as bench auth makes them, in batches of 1,500 (200 ms at 7,500 a
// second): its decision (four hits, kept short with its stored set), its
// counters merged with the batch's and its sightings; per op one
// authorization, the batch's transaction and commit included.
func BenchmarkWriteBatch(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, "", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	set := risk.Default()
	for i := range set.Rules {
		set.Rules[i].Shadow = true
	}
	if err := s.PutRules(ctx, set, t0); err != nil {
		b.Fatal(err)
	}
	e, _ := risk.New(set, risk.NewMemory())
	const batch = 1500
	n := 0
	auth := func(i int) risk.Auth {
		return risk.Auth{ID: fmt.Sprintf("T%07d|%06d|0314100000", i%32, i), At: t0.Add(time.Duration(i) * 133 * time.Microsecond),
			Token: fmt.Sprintf("tok_%d", i%32), Card: fmt.Sprintf("par_%d", i%11), Phone: fmt.Sprintf("ph_%d", i%4), Merchant: "M1",
			Amount: 800, City: "BEIJING", Country: "CN"}
	}
	for i := 0; i < 200; i++ { // history enough for the velocity rules to fire
		if err := e.RecordAuth(ctx, auth(i), true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		b.StopTimer()
		p := newPending()
		for j := 0; j < batch && i+j < b.N; j++ {
			a := auth(n)
			n++
			d, err := e.Authorize(ctx, a)
			if err != nil {
				b.Fatal(err)
			}
			p.saveDecision(d)
			for _, x := range []risk.Delta{{Series: "token.n.m", Key: a.Token, Bucket: a.At.Unix() / 60, Count: 1, Sum: a.Amount, Expires: 1 << 40},
				{Series: "card.n.h", Key: a.Card, Bucket: a.At.Unix() / 3600, Count: 1, Sum: a.Amount, Expires: 1 << 40},
				{Series: "phone.n.h", Key: a.Phone, Bucket: a.At.Unix() / 3600, Count: 1, Sum: a.Amount, Expires: 1 << 40}} {
				p.addDelta(x)
			}
			p.setLast("card:"+a.Card, risk.Sighting{At: a.At})
		}
		b.StartTimer()
		kept := s.keptFor(ctx, p)
		err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error { return writeBatch(ctx, tx, p, kept, time.Now().UnixMilli()) })
		if err != nil {
			b.Fatal(err)
		}
	}
}
