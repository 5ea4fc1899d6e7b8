//go:build unix

package se

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/devicekey"
	"github.com/tapwallet/tapwallet/emv"
)

// BenchmarkCryptogram is a payment tap's work in the secure element: the
// next key and counter, the cryptogram, the key destroyed and the element
// saved before the answer, on a real file. tokens×keys is what the
// element holds (a phone's few cards with their batches, or bench tap's
// one card with a key per tap); cpu-µs/op is the process's CPU per tap.
func BenchmarkCryptogram(b *testing.B) {
	for _, c := range []struct{ tokens, keys int }{{4, 20}, {1, 200}} {
		b.Run(fmt.Sprintf("%dx%d", c.tokens, c.keys), func(b *testing.B) {
			e, err := Open(filepath.Join(b.TempDir(), "se.json"))
			if err != nil {
				b.Fatal(err)
			}
			pub, err := devicekey.ParsePublic(e.PublicKey())
			if err != nil {
				b.Fatal(err)
			}
			// Enough keys for every iteration, in batches of c.keys: the
			// element holds about c.keys per token as it goes.
			refill := func(token string, from int) {
				keys := make([]luk, c.keys)
				for i := range keys {
					keys[i] = luk{Index: from + i, Key: bytes.Repeat([]byte{byte(from + i)}, 16), ExpiresAt: time.Now().Add(time.Hour).Unix()}
				}
				raw, _ := json.Marshal(batch{Token: token, Keys: keys})
				sealed, err := devicekey.Seal(pub, raw, []byte(token))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := e.InstallKeys(token, sealed); err != nil {
					b.Fatal(err)
				}
			}
			next := make([]int, c.tokens)
			for t := range c.tokens {
				refill(fmt.Sprintf("62880100000000%02d", t), 1)
				next[t] = 1 + c.keys
			}
			data := []byte("0123456789ABCDEF0123456789ABCDEF")
			b.ResetTimer()
			var cpu time.Duration // the taps' own, refills left out
			for i := 0; i < b.N; i++ {
				t := i % c.tokens
				token := fmt.Sprintf("62880100000000%02d", t)
				if e.KeysLeft(token) == 0 {
					b.StopTimer()
					refill(token, next[t])
					next[t] += c.keys
					b.StartTimer()
				}
				cpu0 := cpuNow()
				if _, err := e.Cryptogram(token, emv.TDES, emv.PadMethod1, func(int, int) ([]byte, error) { return data, nil }); err != nil {
					b.Fatal(err)
				}
				cpu += cpuNow() - cpu0
			}
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// BenchmarkSaveMarshal is the JSON encoding of a save alone (json.Marshal
// of the whole state, as every change saves it), for the element as a
// phone holds it (4 cards × 20 keys) or as bench tap makes it (1 × 200):
// 12–44 µs here, against 350–700 µs of CPU for the whole tap
// (BenchmarkCryptogram) — the save's cost is its syscalls and syncs.
func BenchmarkSaveMarshal(b *testing.B) {
	for _, c := range []struct{ tokens, keys int }{{4, 20}, {1, 200}} {
		st := state{DeviceKey: bytes.Repeat([]byte{7}, 138), Tokens: map[string]*tokenKeys{}}
		for t := range c.tokens {
			tk := &tokenKeys{ATC: 5}
			for i := range c.keys {
				tk.Keys = append(tk.Keys, luk{Index: i + 1, Key: bytes.Repeat([]byte{byte(i)}, 16), ExpiresAt: time.Now().Unix()})
			}
			st.Tokens[fmt.Sprintf("62880100000000%02d", t)] = tk
		}
		b.Run(fmt.Sprintf("%dx%d", c.tokens, c.keys), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := json.Marshal(st); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
