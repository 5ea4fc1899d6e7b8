package emv

import (
	"errors"
	"fmt"
)

// DOLEntry is one entry of a data object list: a tag and the number of
// bytes the card wants for it.
type DOLEntry struct {
	Tag Tag
	Len int
}

// DOL is a data object list, such as the PDOL (9F38) a card sends in its
// SELECT answer or the CDOL1 (8C) in its records: the tags and lengths of
// the data the terminal must send back, concatenated without tags.
type DOL []DOLEntry

// ErrDOL is wrapped by the errors of [ParseDOL] and [DOL.Split].
var ErrDOL = errors.New("emv: bad data object list")

// ParseDOL parses a data object list (tag, length, tag, length, ...; the
// length is a one-byte or long-form BER length). It returns an error
// wrapping [ErrDOL] if a tag or length is truncated or malformed or the
// total length exceeds 65535 bytes.
func ParseDOL(b []byte) (DOL, error) {
	var d DOL
	total := 0
	for i := 0; i < len(b); {
		tag, n, err := readTag(b[i:])
		if err != nil {
			return nil, fmt.Errorf("%w: offset %d: %v", ErrDOL, i, err)
		}
		i += n
		l, n, err := readLength(b[i:])
		if err != nil {
			return nil, fmt.Errorf("%w: offset %d (tag %s): %v", ErrDOL, i, tag, err)
		}
		i += n
		if l > 0xFFFF {
			return nil, fmt.Errorf("%w: tag %s asks for %d bytes", ErrDOL, tag, l)
		}
		total += int(l)
		if total > 0xFFFF {
			return nil, fmt.Errorf("%w: more than 65535 bytes in all", ErrDOL)
		}
		d = append(d, DOLEntry{Tag: tag, Len: int(l)})
	}
	return d, nil
}

// Len returns the number of bytes of DOL-related data the list asks for.
func (d DOL) Len() int {
	n := 0
	for _, e := range d {
		n += e.Len
	}
	return n
}

// Bytes returns the list encoded as tag and length pairs, as it appears in
// 9F38 or 8C. It returns nil if an entry has an invalid tag or a negative
// length.
func (d DOL) Bytes() []byte {
	var out []byte
	for _, e := range d {
		if !e.Tag.valid() || e.Len < 0 {
			return nil
		}
		out = append(out, e.Tag.bytes()...)
		out = appendLength(out, e.Len)
	}
	return out
}

// Build returns the DOL-related data: for each entry, the value from
// values fitted to the entry's length by the rules of EMV Book 3 section
// 5.4. A tag that is missing, unknown to the terminal or constructed gives
// that many '00' bytes. A value that is too long loses its leftmost bytes
// if it is numeric (n) and its rightmost bytes otherwise. A value that is
// too short is padded with leading '00' bytes if numeric (n), trailing 'FF'
// bytes if compressed numeric (cn), and trailing '00' bytes otherwise.
// Build never fails; entries with a negative length contribute nothing.
func (d DOL) Build(values map[Tag][]byte) []byte {
	out := make([]byte, 0, d.Len())
	for _, e := range d {
		if e.Len <= 0 {
			continue
		}
		v, ok := values[e.Tag]
		if !ok || e.Tag.Constructed() {
			out = append(out, make([]byte, e.Len)...)
			continue
		}
		out = append(out, fit(v, e.Len, e.Tag.format())...)
	}
	return out
}

// fit pads or truncates v to n bytes by the rules for format f.
func fit(v []byte, n int, f dataFormat) []byte {
	out := make([]byte, n)
	switch {
	case len(v) == n:
		copy(out, v)
	case len(v) > n && f == formatN:
		copy(out, v[len(v)-n:])
	case len(v) > n:
		copy(out, v[:n])
	case f == formatN:
		copy(out[n-len(v):], v)
	case f == formatCN:
		copy(out, v)
		for i := len(v); i < n; i++ {
			out[i] = 0xFF
		}
	default:
		copy(out, v)
	}
	return out
}

// Split cuts DOL-related data back into the values of the list's tags, as
// a card does with the data of GET PROCESSING OPTIONS or GENERATE AC. If a
// tag appears twice, the later value wins. It returns an error wrapping
// [ErrDOL] if data is not exactly as long as the list asks for.
func (d DOL) Split(data []byte) (map[Tag][]byte, error) {
	total := 0
	for _, e := range d {
		if e.Len < 0 || e.Len > len(data)-total {
			return nil, fmt.Errorf("%w: data is %d bytes, list asks for more", ErrDOL, len(data))
		}
		total += e.Len
	}
	if total != len(data) {
		return nil, fmt.Errorf("%w: data is %d bytes, list asks for %d", ErrDOL, len(data), total)
	}
	out := make(map[Tag][]byte, len(d))
	i := 0
	for _, e := range d {
		out[e.Tag] = data[i : i+e.Len : i+e.Len]
		i += e.Len
	}
	return out, nil
}
