package emv

import (
	"encoding/hex"
	"reflect"
	"testing"
)

// FuzzDecode checks that Decode never panics on any input, and that what
// it accepts re-encodes to something that decodes to the same objects.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		"",
		"9C00",
		"9C8101FF",
		"9F820101FF",
		"E080",
		"9C84FFFFFFFF",
		"9F8181010100",
		"009C01FF00",
		"6F30840E325041592E5359532E4444463031A51EBF0C1B61194F08A000000333010101500A556E696F6E5061792044870101",
		"77149F2701809F360200019F260819C1FBC83EBDC0D5",
		"E0039C02FFFF",
		nest(MaxDepth, "9C00"),
		nest(MaxDepth+1, "9C00"),
	}
	for _, s := range seeds {
		b, err := hex.DecodeString(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		objs, err := Decode(in)
		if err != nil {
			return
		}
		out, err := Encode(objs...)
		if err != nil {
			t.Fatalf("Encode of decoded input failed: %v", err)
		}
		again, err := Decode(out)
		if err != nil {
			t.Fatalf("Decode of re-encoded input failed: %v", err)
		}
		if !reflect.DeepEqual(strip(objs), strip(again)) {
			t.Fatalf("round trip changed the objects")
		}
		_ = Format(objs)
	})
}

// strip drops the raw Value of constructed objects, which keeps padding
// bytes that re-encoding leaves out.
func strip(objs []TLV) []TLV {
	out := make([]TLV, len(objs))
	for i, o := range objs {
		out[i] = TLV{Tag: o.Tag}
		if o.Children != nil {
			out[i].Children = strip(o.Children)
		} else {
			out[i].Value = o.Value
		}
	}
	return out
}

// FuzzParseDOL checks that ParseDOL and DOL.Build never panic and that a
// built DOL splits back into entries of the right lengths.
func FuzzParseDOL(f *testing.F) {
	for _, s := range []string{"", "9F66049F02069F03069F1A0295055F2A029A039C019F3704", "9F4C8108", "9F6680", "5A0A"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := ParseDOL(in)
		if err != nil {
			return
		}
		data := d.Build(map[Tag][]byte{0x9F02: {0x10, 0x00}, 0x5A: {0x62, 0x12}})
		if len(data) != d.Len() {
			t.Fatalf("Build: got %d bytes, want %d", len(data), d.Len())
		}
		if _, err := d.Split(data); err != nil {
			t.Fatalf("Split of built data: %v", err)
		}
	})
}
