package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
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

// outsideMessage writes a message as another codec would, byte by byte and
// not with iso8583's Pack: the MTI, the primary bitmap with bit 1 always
// set, the secondary bitmap (zeros when no element above 64 is given), then
// the element bytes in order as given (length prefixes included).
func outsideMessage(mti string, elements map[int]string) []byte {
	var bm [16]byte
	bm[0] = 0x80
	var des []int
	for de := range elements {
		des = append(des, de)
		bm[(de-1)/8] |= 0x80 >> ((de - 1) % 8)
	}
	slices.Sort(des)
	out := append([]byte(mti), bm[:]...)
	for _, de := range des {
		out = append(out, elements[de]...)
	}
	return out
}

// TestServeOutsideCodec sends a real `serve` what other codecs write: an
// 0100 with a secondary bitmap of zeros is handled by the switch (here 14:
// the number is in no bank's token range), an 0800 with DE32 gets an 0810
// echoing it, an 0100 whose DE11 has a bad character gets 30 by its DE41,
// and an ASCII-hex bitmap gets 30 in ASCII hex; the connection stays open
// throughout.
func TestServeOutsideCodec(t *testing.T) {
	isoAddr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data", filepath.Join(t.TempDir(), "data"), "--http", "127.0.0.1:0", "--iso", isoAddr},
			func(string) string { return "" }, strings.NewReader(""), io.Discard, io.Discard)
	}()
	defer func() { cancel(); <-done }()
	var conn net.Conn
	for conn == nil {
		c, err := net.DialTimeout("tcp", isoAddr, time.Second)
		if err == nil {
			conn = c
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	defer conn.Close()
	now := time.Now().UTC()
	auth := map[int]string{2: "16" + "6222020000000004", 3: "000000", 4: "000000001234", 7: now.Format("0102150405"), 11: "000321",
		12: "120000", 13: now.Format("0102"), 18: "5411", 22: "072", 25: "00", 32: "08" + "48021000", 37: "607317000321",
		41: "T0000042", 42: "898310054110001", 43: fmt.Sprintf("%-25s%-13s%s", "OUTSIDE SHOP", "SHANGHAI", "CN"), 49: "156",
		55: "004" + "\x9f\x27\x01\x80"}
	badSTAN := maps.Clone(auth)
	badSTAN[11] = "00032x"
	signOn := map[int]string{7: now.Format("0102150405"), 11: "000322", 32: "08" + "48021000", 41: "T0000042", 70: "001"}
	tests := []struct {
		name                  string
		send                  []byte
		wantMTI, wantRC, stan string
		want                  map[int]string // elements the answer must echo
	}{
		{"secondary bitmap of zeros", outsideMessage("0100", auth), "0110", "14", "000321", map[int]string{41: "T0000042", 37: "607317000321"}},
		{"0800 with DE32", outsideMessage("0800", signOn), "0810", "00", "000322", map[int]string{32: "48021000", 41: "T0000042", 70: "001"}},
		{"bad character in DE11", outsideMessage("0100", badSTAN), "0110", "30", "", map[int]string{41: "T0000042"}},
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	for _, tt := range tests {
		if err := isolink.WriteFrame(conn, tt.send, 0); err != nil {
			t.Fatal(err)
		}
		b, err := isolink.ReadFrame(conn, 0)
		if err != nil {
			t.Fatalf("%s: got %v, want an answer", tt.name, err)
		}
		resp, err := iso8583.Unpack(b)
		if err != nil {
			t.Fatalf("%s: the answer does not unpack: %v", tt.name, err)
		}
		rc, _ := resp.ResponseCode()
		stan, _ := resp.String(iso8583.DESTAN)
		if string(resp.MTI) != tt.wantMTI || string(rc) != tt.wantRC || stan != tt.stan {
			t.Errorf("%s: got %s DE39 %s DE11 %q, want %s DE39 %s DE11 %q", tt.name, resp.MTI, rc, stan, tt.wantMTI, tt.wantRC, tt.stan)
		}
		for de, want := range tt.want {
			if got, _ := resp.String(de); got != want {
				t.Errorf("%s: DE%d got %q, want %q echoed", tt.name, de, got, want)
			}
		}
	}
	hexAuth := "0100" + "0020000000800000" + "000323" + "T0000042" // DE11, DE41, bitmap in ASCII hex
	if err := isolink.WriteFrame(conn, []byte(hexAuth), 0); err != nil {
		t.Fatal(err)
	}
	b, err := isolink.ReadFrame(conn, 0)
	if want := "0110" + "0020000002800000" + "000323" + "30" + "T0000042"; err != nil || string(b) != want {
		t.Errorf("ASCII-hex bitmap: got %q, %v; want %q", b, err, want)
	}
}
