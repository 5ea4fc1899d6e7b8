package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/isolink"
)

// lockedBuffer is a bytes.Buffer that serve's log goroutines and the test
// share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeISOConnectionCap floods a real `serve` ISO 8583 port from one
// address: with --iso-max-conns-per-source 3 (TAPWALLET_ISO_MAX_CONNS_PER_SOURCE
// says 50; the flag wins) the first three connections are kept and answer
// an echo, the next ones are closed at once, each refusal logged.
func TestServeISOConnectionCap(t *testing.T) {
	isoAddr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	logs := &lockedBuffer{}
	go func() {
		done <- run(ctx, []string{"serve", "--data", filepath.Join(t.TempDir(), "data"), "--http", "127.0.0.1:0", "--iso", isoAddr,
			"--iso-max-conns-per-source", "3"},
			func(k string) string {
				return map[string]string{"TAPWALLET_ISO_MAX_CONNS_PER_SOURCE": "50", "TAPWALLET_ISO_MAX_CONNS": "10"}[k]
			}, strings.NewReader(""), io.Discard, logs)
	}()
	var kept []*isolink.Client
	defer func() {
		for _, c := range kept {
			c.Close()
		}
	}()
	for len(kept) < 3 {
		c, err := isolink.Dial(ctx, isoAddr, isolink.Options{Timeout: 5 * time.Second})
		if err != nil {
			select {
			case err := <-done:
				t.Fatalf("serve ended: %v\n%s", err, logs)
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		kept = append(kept, c)
	}
	for i, c := range kept {
		if err := c.Network(ctx, "301"); err != nil {
			t.Fatalf("connection %d within the cap: echo got %v, want 00", i+1, err)
		}
	}
	for i := 0; i < 4; i++ {
		conn, err := net.DialTimeout("tcp", isoAddr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
			t.Errorf("connection %d beyond the cap: got %v, want it closed", 4+i, err)
		}
		conn.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(logs.String(), "too many connections from one source address") < 4 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), "too many connections from one source address"); n != 4 || !strings.Contains(logs.String(), `"limit":3`) {
		t.Errorf("got %d refusal log lines, want 4 naming the limit 3:\n%s", n, logs)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve ended with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
}
