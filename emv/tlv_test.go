package emv

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []TLV
	}{
		// The first cases follow pyemv's tests/test_tlv.py test_decode_tag.
		{"empty", "", []TLV{}},
		{"empty value", "9C00", []TLV{{Tag: 0x9C, Value: []byte{}}}},
		{"one byte", "9C01FF", []TLV{{Tag: 0x9C, Value: []byte{0xFF}}}},
		{"long form length 81", "9C8101FF", []TLV{{Tag: 0x9C, Value: []byte{0xFF}}}},
		{"long form length 84", "9C8400000001FF", []TLV{{Tag: 0x9C, Value: []byte{0xFF}}}},
		{"two-byte tag", "9F0201FF", []TLV{{Tag: 0x9F02, Value: []byte{0xFF}}}},
		{"three-byte tag", "9F820101FF", []TLV{{Tag: 0x9F8201, Value: []byte{0xFF}}}},
		{"padding bytes skipped", "009C01FF0000", []TLV{{Tag: 0x9C, Value: []byte{0xFF}}}},
		{"nested", "9F0201FFE0039F0300", []TLV{
			{Tag: 0x9F02, Value: []byte{0xFF}},
			{Tag: 0xE0, Value: []byte{0x9F, 0x03, 0x00}, Children: []TLV{{Tag: 0x9F03, Value: []byte{}}}},
		}},
		{"empty template", "E000", []TLV{{Tag: 0xE0, Value: []byte{}, Children: []TLV{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(unhex(t, tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	deep := nest(MaxDepth+1, "9C00")
	okDeep := nest(MaxDepth-1, "9C00")
	tests := []struct {
		name   string
		in     string
		want   error
		offset int
	}{
		{"tag cut short", "9F", ErrTruncated, 0},
		{"three-byte tag cut short", "9FF0", ErrTruncated, 0},
		{"four-byte tag", "9F8181010100", ErrTagTooLong, 0},
		{"length missing", "9C", ErrTruncated, 1},
		{"long length cut short", "9C8200", ErrTruncated, 1},
		{"value cut short", "9C0200", ErrTruncated, 2},
		{"value longer than input, 4-byte length", "9C84FFFFFFFF00", ErrTruncated, 6},
		{"indefinite length", "E080", ErrIndefiniteLength, 1},
		{"five length bytes", "9C850000000001FF", ErrLengthTooLong, 1},
		{"template runs past the input", "E0039C01", ErrTruncated, 2},
		{"inner object cut short", "E0029C01", ErrTruncated, 4},
		{"inner value runs past its template", "E0039C02FFFF", ErrTruncated, 4},
		{"too deep", deep, ErrTooDeep, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(unhex(t, tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("got %T, want *DecodeError", err)
			}
			if tt.offset >= 0 && de.Offset != tt.offset {
				t.Errorf("offset: got %d, want %d", de.Offset, tt.offset)
			}
		})
	}
	t.Run("depth limit itself is allowed", func(t *testing.T) {
		if _, err := Decode(unhex(t, okDeep)); err != nil {
			t.Errorf("got %v, want nil", err)
		}
	})
}

// nest wraps inner in n E0 templates.
func nest(n int, inner string) string {
	b := unhexString(inner)
	for i := 0; i < n; i++ {
		b = append(append([]byte{0xE0}, appendLength(nil, len(b))...), b...)
	}
	return upper(b)
}

func unhexString(s string) []byte {
	out := make([]byte, len(s)/2)
	for i := range out {
		out[i] = fromHex(s[2*i])<<4 | fromHex(s[2*i+1])
	}
	return out
}

func fromHex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func TestEncode(t *testing.T) {
	big := strings.Repeat("FF", 511)
	tests := []struct {
		name string
		in   []TLV
		want string
	}{
		// Expected encodings follow pyemv's tests/test_tlv.py test_encode.
		{"nothing", nil, ""},
		{"empty value", []TLV{New(0x9C, nil)}, "9C00"},
		{"one byte", []TLV{New(0x9C, []byte{0xFF})}, "9C01FF"},
		{"two-byte tag", []TLV{New(0x9F00, []byte{0xFF})}, "9F0001FF"},
		{"three-byte tag", []TLV{New(0x9F8001, []byte{0xFF})}, "9F800101FF"},
		{"length 128", []TLV{New(0x9C, unhex(t, strings.Repeat("FF", 128)))}, "9C8180" + strings.Repeat("FF", 128)},
		{"length 511", []TLV{New(0x9C, unhex(t, big))}, "9C8201FF" + big},
		{"empty template", []TLV{NewConstructed(0xE0)}, "E000"},
		{"template", []TLV{NewConstructed(0xE0, New(0x9F00, []byte{0xFF})), New(0x9C, []byte{0xFF})}, "E0049F0001FF9C01FF"},
		{"template from value", []TLV{New(0xE0, []byte{0x9C, 0x00})}, "E0029C00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(tt.in...)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "encoding", upper(got), tt.want)
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   TLV
	}{
		{"zero tag", New(0, nil)},
		{"one-byte tag announcing more bytes", New(0x9F, nil)},
		{"unterminated two-byte tag", New(0x9F81, nil)},
		{"four-byte tag", New(0x9F818101, nil)},
		{"children on a primitive tag", TLV{Tag: 0x9C, Children: []TLV{New(0x9C, nil)}}},
		{"bad tag inside a template", NewConstructed(0xE0, New(0x1F, nil))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Encode(tt.in)
			if !errors.Is(err, ErrInvalidTag) {
				t.Fatalf("got %v, want ErrInvalidTag", err)
			}
		})
	}
}

func TestTagBytes(t *testing.T) {
	for _, tt := range []struct {
		tag  Tag
		want string
	}{{0x5A, "5A"}, {0x9F26, "9F26"}, {0x9F8101, "9F8101"}} {
		t.Run(tt.want, func(t *testing.T) {
			check(t, "bytes", upper(tt.tag.Bytes()), tt.want)
		})
	}
}

func TestParseTag(t *testing.T) {
	tests := []struct {
		in      string
		want    Tag
		wantErr bool
	}{
		{"9F26", 0x9F26, false},
		{"5a", 0x5A, false},
		{"BF0C", 0xBF0C, false},
		{"9F8101", 0x9F8101, false},
		{"", 0, true},
		{"9", 0, true},
		{"9F", 0, true},
		{"009F", 0, true},
		{"5A01", 0, true},
		{"ZZ", 0, true},
		{"9F818101", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTag(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %v, %v, want %v (error: %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestTagNames(t *testing.T) {
	required := []Tag{0x4F, 0x50, 0x57, 0x5A, 0x5F20, 0x5F24, 0x5F25, 0x5F28, 0x5F2A, 0x5F34, 0x6F, 0x70, 0x77,
		0x80, 0x82, 0x84, 0x87, 0x88, 0x8C, 0x8D, 0x8E, 0x8F, 0x94, 0x95, 0x9A, 0x9B, 0x9C, 0x9F02, 0x9F03,
		0x9F06, 0x9F07, 0x9F08, 0x9F09, 0x9F10, 0x9F11, 0x9F12, 0x9F1A, 0x9F1F, 0x9F21, 0x9F26, 0x9F27,
		0x9F33, 0x9F34, 0x9F35, 0x9F36, 0x9F37, 0x9F38, 0x9F4D, 0x9F4E, 0x9F5D, 0x9F66, 0x9F6C, 0x9F6E,
		0x9F7C, 0xA5, 0xBF0C, 0x61, 0x91, 0x71, 0x72, 0xDF60, 0xDF61}
	for _, tag := range required {
		t.Run(tag.String(), func(t *testing.T) {
			if tag.Name() == "" {
				t.Errorf("got no name for %s, want one", tag)
			}
		})
	}
	t.Run("every table tag is well formed", func(t *testing.T) {
		for tag := range tagTable {
			if !tag.valid() {
				t.Errorf("tag %s in the table is not a well-formed tag", tag)
			}
		}
	})
	if got := Tag(0x9F26).Name(); got != "Application Cryptogram" {
		t.Errorf("9F26: got %q, want %q", got, "Application Cryptogram")
	}
	if got := Tag(0xDF7F).Name(); got != "" {
		t.Errorf("unknown tag: got %q, want \"\"", got)
	}
}

func TestFind(t *testing.T) {
	objs, err := Decode(unhex(t, "6F1A840E315041592E5359532E4444463031A5088801025F2D027A68"))
	if err != nil {
		t.Fatal(err)
	}
	got, ok := Find(objs, 0x5F2D)
	if !ok || string(got.Value) != "zh" {
		t.Errorf("Find 5F2D: got %q, %v, want \"zh\", true", got.Value, ok)
	}
	if _, ok := Find(objs, 0x9F26); ok {
		t.Errorf("Find 9F26: got found, want not found")
	}
}

func TestFormat(t *testing.T) {
	// A SELECT PPSE answer with one UnionPay debit application.
	in := "6F30840E325041592E5359532E4444463031A51EBF0C1B61194F08A000000333010101500A556E696F6E5061792044870101"
	objs, err := Decode(unhex(t, in))
	if err != nil {
		t.Fatal(err)
	}
	want := `6F File Control Information (FCI) Template
  84 Dedicated File (DF) Name: 325041592E5359532E4444463031
  A5 FCI Proprietary Template
    BF0C FCI Issuer Discretionary Data
      61 Application Template
        4F Application Identifier (AID) - card: A000000333010101
        50 Application Label: 556E696F6E5061792044 "UnionPay D"
        87 Application Priority Indicator: 01
`
	if got := Format(objs); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	in := "77149F2701809F360200019F2608" + "19C1FBC83EBDC0D5"
	objs, err := Decode(unhex(t, in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Encode(objs...)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "re-encoded", upper(out), in)
	ac, ok := Find(objs, TagCryptogram)
	if !ok {
		t.Fatal("9F26 not found")
	}
	check(t, "9F26", upper(ac.Value), "19C1FBC83EBDC0D5")
}

// TestDecodeAppend checks that DecodeAppend decodes as Decode does into
// the room it is given (no new array while it fits), after what the room
// holds, and returns nil on an error.
func TestDecodeAppend(t *testing.T) {
	in := unhex(t, "9F0201FFE0039F0300")
	want, err := Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	room := make([]TLV, 1, 8)
	room[0] = TLV{Tag: 0x9C, Value: []byte{1}}
	got, err := DecodeAppend(room, in)
	if err != nil {
		t.Fatal(err)
	}
	if &got[0] != &room[0] {
		t.Error("DecodeAppend did not decode into the room given")
	}
	if !reflect.DeepEqual(got[1:], want) || got[0].Tag != 0x9C {
		t.Errorf("got %+v, want the room's object then %+v", got, want)
	}
	if got, err := DecodeAppend(room[:0], unhex(t, "9C01FF9F")); err == nil || got != nil {
		t.Errorf("a truncated input gave %+v, %v; want nil and an error", got, err)
	}
}

// TestAppendEncode: AppendEncode appends what Encode makes after dst's
// bytes, and leaves dst as it was when an object does not encode.
func TestAppendEncode(t *testing.T) {
	objs := []TLV{New(0x91, []byte{1, 2, 3, 4, 5, 6, 7, 8, 0x30, 0x30}), NewConstructed(0x70, New(0x5A, []byte{0x62, 0x12}))}
	want, err := Encode(objs...)
	if err != nil {
		t.Fatal(err)
	}
	var buf [64]byte
	dst := append(buf[:0], 0xAA)
	got, err := AppendEncode(dst, objs...)
	if err != nil || !bytes.Equal(got, append([]byte{0xAA}, want...)) {
		t.Fatalf("AppendEncode: got %X, %v; want AA%X", got, err, want)
	}
	if &got[0] != &buf[0] {
		t.Error("AppendEncode did not write into dst's room")
	}
	bad, err := AppendEncode(dst, objs[0], New(0, []byte{1}))
	if err == nil || !bytes.Equal(bad, dst) {
		t.Errorf("AppendEncode of an invalid tag: got %X, %v; want dst unchanged and an error", bad, err)
	}
}
