package isolink

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
)

// BenchmarkRoundTrip measures an 0100 → 0110 round trip over loopback TCP
// with EchoHandler: the codec and framing cost with no business logic.
// "serial" has one request in flight; "parallel" many goroutines sharing
// 4 connections. Both report msgs/s.
func BenchmarkRoundTrip(b *testing.B) {
	clients := echoClients(b, 4)
	var stans iso8583.STANCounter
	var goroutines atomic.Int32

	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req := authRequest(stans.Next(), "T0000001", 100)
			if _, err := clients[0].Send(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			g := goroutines.Add(1)
			c := clients[int(g)%len(clients)]
			tid := fmt.Sprintf("B%07d", g)
			for pb.Next() {
				if _, err := c.Send(context.Background(), authRequest(stans.Next(), tid, 100)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}

// echoClients starts an EchoHandler server and dials n clients to it.
func echoClients(b *testing.B, n int) []*Client {
	addr, _ := startServer(b, &Server{Handler: EchoHandler})
	clients := make([]*Client, n)
	for i := range clients {
		clients[i] = dial(b, addr, Options{Timeout: 10 * time.Second})
	}
	return clients
}
