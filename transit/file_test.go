package transit_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/transit"
)

func sampleFile() transit.File {
	return transit.File{ID: "000200d60001-1-2", City: "shanghai", Terminal: [6]byte{0, 2, 0, 0xD6, 0, 1},
		Created: time.UnixMilli(1459903800000).UTC(), Records: []transit.Record{
			{Card: "0021010000000001", ATC: 1, Type: 9, Amount: 300, BalanceAfter: 4700, Seq: 7,
				DateTime: [7]byte{0x20, 0x16, 0x04, 0x06, 0x08, 0x50, 0x00}, TAC: [4]byte{1, 2, 3, 4}, MAC2: [4]byte{5, 6, 7, 8},
				Status: transit.StatusFinal, Line: 2, Station: 214, EntryLine: 2, EntryStation: 113,
				EntryAt: [7]byte{0x20, 0x16, 0x04, 0x06, 0x08, 0x30, 0x00}, Base: 300},
			{Card: "0021010000000002", ATC: 0, Type: 9, Amount: 500, BalanceAfter: -100, Seq: 8,
				DateTime: [7]byte{0x20, 0x16, 0x04, 0x06, 0x08, 0x51, 0x00}, Status: transit.StatusGrey, Line: 2, Station: 214},
		}}
}

func TestFileRoundTrip(t *testing.T) {
	f := sampleFile()
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := transit.ParseFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != f.ID || got.City != f.City || got.Terminal != f.Terminal || !got.Created.Equal(f.Created) || len(got.Records) != 2 ||
		got.Records[0] != f.Records[0] || got.Records[1] != f.Records[1] {
		t.Errorf("round trip:\ngot  %+v\nwant %+v", got, f)
	}
	if !strings.HasSuffix(string(b), "\n") || !strings.Contains(string(b), "\nEND|2|300|") {
		t.Errorf("file: got %q, want an END line with the count and the final records' sum", b)
	}
}

func TestFileRejects(t *testing.T) {
	good, _ := sampleFile().Marshal()
	tests := []struct {
		name string
		edit func([]byte) []byte
	}{
		{"empty", func([]byte) []byte { return nil }},
		{"no END", func(b []byte) []byte { return b[:bytes.LastIndex(b, []byte("END|"))] }},
		{"changed amount", func(b []byte) []byte { return bytes.Replace(b, []byte("|300|4700|"), []byte("|200|4700|"), 1) }},
		{"bad header", func(b []byte) []byte { return append([]byte("TWCLR2"), b[6:]...) }},
		{"extra after END", func(b []byte) []byte { return append(append([]byte{}, b...), "R|x\n"...) }},
		{"bad status", func(b []byte) []byte { return bytes.Replace(b, []byte("|grey|"), []byte("|gray|"), 1) }},
		{"letters in the card", func(b []byte) []byte {
			return bytes.Replace(b, []byte("0021010000000002"), []byte("00210100000000x2"), 1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := transit.ParseFile(tt.edit(bytes.Clone(good))); !fault.Has(err, fault.Invalid, "bad_clearing_file") {
				t.Errorf("got %v, want bad_clearing_file", err)
			}
		})
	}
}

// FuzzParseFile: the clearing-file parser never panics, its errors never
// quote the input, and what it accepts writes back to a file it reads the
// same.
func FuzzParseFile(f *testing.F) {
	good, _ := sampleFile().Marshal()
	f.Add(good)
	empty, _ := transit.File{ID: "x", City: "beijing", Created: time.UnixMilli(0)}.Marshal()
	f.Add(empty)
	f.Add([]byte("TWCLR1|a|b|000000000000|0|1\nR|1|2\nEND|1|0|00\n"))
	f.Add([]byte("\nEND|"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := transit.ParseFile(b)
		if err != nil {
			if len(b) > 20 && strings.Contains(err.Error(), string(b[:20])) {
				t.Fatalf("the error quotes the input: %v", err)
			}
			return
		}
		again, err := got.Marshal()
		if err != nil {
			t.Fatalf("a parsed file does not write back: %v", err)
		}
		back, err := transit.ParseFile(again)
		if err != nil || len(back.Records) != len(got.Records) || back.ID != got.ID {
			t.Fatalf("write-back does not read the same: %v", err)
		}
		for i := range got.Records {
			if back.Records[i] != got.Records[i] {
				t.Fatalf("record %d changed on write-back", i)
			}
		}
	})
}
