package netswitch

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// TestRememberForgets: the answers kept for duplicates are the latest
// MaxRemembered within the DuplicateWindow, the order and the map always
// the same answers, whatever the number remembered before.
func TestRememberForgets(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	var r recentAnswers
	const digest = "0123456789abcdef01234567"
	remember := func(id string) { r.add(id, digest, []byte("answer "+id), now, time.Minute, 100) }
	id := func(i int) string { return fmt.Sprintf("T0000001|%06d|1206100000", i) }
	for i := range 1000 {
		remember(id(i))
	}
	if len(r.byID) != 100 || r.len() != 100 {
		t.Fatalf("after 1000 at a bound of 100: %d kept, %d in order", len(r.byID), r.len())
	}
	for i := range 1000 {
		got, ok := r.get(id(i))
		if ok != (i >= 900) {
			t.Fatalf("answer %d kept %v, want %v", i, ok, i >= 900)
		}
		if ok && (got.digest != digest || string(got.answer) != "answer "+id(i)) {
			t.Fatalf("answer %d: %q %q", i, got.digest, got.answer)
		}
	}
	now = now.Add(30 * time.Second)
	for i := 1000; i < 1050; i++ {
		remember(id(i))
	}
	now = now.Add(31 * time.Second) // the first 50 left at 10:00 are out of the window
	remember(id(1050))
	if len(r.byID) != 51 || r.len() != 51 {
		t.Fatalf("after the window: %d kept, %d in order; want the 51 of the last minute", len(r.byID), r.len())
	}
	for i := range r.order {
		if k := r.order[i].id.String(); k != id(1000+i) {
			t.Fatalf("order[%d] = %s, want %s", i, k, id(1000+i))
		}
	}
}

// TestRememberedAnswersAcrossChunks: answers of many sizes, more than a
// chunk of the log holds, read back byte for byte while older ones are
// forgotten; the chunks of forgotten answers are let go; what does not fit
// (a long identity, an answer above a chunk, a digest of another length)
// is not kept, and an answer read stays as it was after later ones.
func TestRememberedAnswersAcrossChunks(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	var r recentAnswers
	const digest = "0123456789abcdef01234567"
	id := func(i int) string { return fmt.Sprintf("T%07d|%06d|1206100000", i%7, i) }
	answer := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 1+(i*37)%3000) }
	const kept = 200
	var first []byte
	for i := range 5000 {
		r.add(id(i), digest, answer(i), now, time.Hour, kept)
		if i == 10 {
			got, _ := r.get(id(10))
			first = got.answer
		}
		if i%97 == 0 || i == 4999 {
			for j := max(0, i-kept+1); j <= i; j++ {
				got, ok := r.get(id(j))
				if !ok || !bytes.Equal(got.answer, answer(j)) || got.digest != digest {
					t.Fatalf("after %d: answer %d kept %v, %d bytes, want %d", i, j, ok, len(got.answer), len(answer(j)))
				}
			}
			if _, ok := r.get(id(i - kept)); i >= kept && ok {
				t.Fatalf("after %d: answer %d still kept", i, i-kept)
			}
		}
	}
	if !bytes.Equal(first, answer(10)) {
		t.Fatal("an answer read before was changed by later ones")
	}
	// 200 answers of at most 3,000 bytes: at most ~10 chunks, not the 5,000 answers' ~115.
	if n := len(r.log.chunks); n > 11 {
		t.Fatalf("%d chunks held for %d answers", n, r.len())
	}
	r.add("T0000001|000001|1206100000|and more", digest, []byte{1}, now, time.Hour, kept)
	r.add("T0000001|000002|1206100000", digest, make([]byte, answerChunk+1), now, time.Hour, kept)
	r.add("T0000001|000003|1206100000", "short", []byte{1}, now, time.Hour, kept)
	for _, id := range []string{"T0000001|000001|1206100000|and more", "T0000001|000002|1206100000", "T0000001|000003|1206100000"} {
		if _, ok := r.get(id); ok {
			t.Errorf("%s kept", id)
		}
	}
	// All forgotten at the window's end, the chunks with them.
	r.add(id(9999), digest, answer(9999), now.Add(2*time.Hour), time.Hour, kept)
	if r.len() != 1 || len(r.byID) != 1 || len(r.log.chunks) != 1 {
		t.Fatalf("after the window: %d kept, %d mapped, %d chunks", r.len(), len(r.byID), len(r.log.chunks))
	}
	if got, ok := r.get(id(9999)); !ok || !bytes.Equal(got.answer, answer(9999)) {
		t.Fatal("the last answer lost")
	}
}

// BenchmarkRememberedCollect: a full collection with the switch's answers
// kept for duplicates at their default bound (200,000, answers of 130
// bytes): what keeping them costs every collection. Nothing in them is
// scanned (recentAnswers); as a map of strings and slices the same answers
// cost ~50 ms of marking a collection on the 2-core host.
func BenchmarkRememberedCollect(b *testing.B) {
	const n = 200_000
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	var r recentAnswers
	answer := make([]byte, 130)
	for i := range n {
		r.add(fmt.Sprintf("T%07d|%06d|1206100000", i%100, i%1_000_000), fmt.Sprintf("%024d", i), answer, now, time.Hour, n)
	}
	runtime.GC()
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	b.StopTimer()
	if r.len() != n {
		b.Fatalf("%d kept", r.len())
	}
}
