package risk

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the decision's JSON — byte for byte what
// encoding/json.Marshal writes (TestDecisionJSONMatchesEncodingJSON) —
// to b, without reflection: it is written for every kept decision. What
// it cannot write itself (an input value of another type than a number or
// a string, a year outside 0–9999, a NaN) it leaves to encoding/json, and
// like it then appends nothing when that fails.
func (d *Decision) AppendJSON(b []byte) []byte {
	start := len(b)
	b = append(b, `{"point":`...)
	b = appendJSONString(b, string(d.Point))
	b = append(b, `,"id":`...)
	b = appendJSONString(b, d.ID)
	b = append(b, `,"at":`...)
	var ok bool
	if b, ok = appendJSONTime(b, d.At); !ok {
		return d.marshalInto(b[:start])
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(d.Version), 10)
	b = append(b, `,"digest":`...)
	b = appendJSONString(b, d.Digest)
	b = append(b, `,"score":`...)
	b = strconv.AppendInt(b, int64(d.Score), 10)
	b = append(b, `,"outcome":`...)
	b = appendJSONString(b, d.Outcome.String())
	if d.Block != "" {
		b = append(b, `,"block":`...)
		b = appendJSONString(b, d.Block)
	}
	b = append(b, `,"reasons":`...)
	if d.Reasons == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, r := range d.Reasons {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, r)
		}
		b = append(b, ']')
	}
	b = append(b, `,"hits":`...)
	if d.Hits == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range d.Hits {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = d.Hits[i].appendJSON(b); !ok {
				return d.marshalInto(b[:start])
			}
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func (d *Decision) marshalInto(b []byte) []byte {
	j, err := json.Marshal(d)
	if err != nil {
		return b
	}
	return append(b, j...)
}

// appendJSON appends the hit as encoding/json writes it; ok is false for
// what it leaves to encoding/json.
func (h *Hit) appendJSON(b []byte) (_ []byte, ok bool) {
	b = append(b, `{"rule":`...)
	b = appendJSONString(b, h.Rule)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, h.Reason)
	b = append(b, `,"score":`...)
	b = strconv.AppendInt(b, int64(h.Score), 10)
	b = append(b, `,"outcome":`...)
	b = appendJSONString(b, h.Outcome.String())
	if h.Shadow {
		b = append(b, `,"shadow":true`...)
	}
	if h.Snoozed {
		b = append(b, `,"snoozed":true`...)
	}
	if h.Pattern != "" {
		b = append(b, `,"pattern":`...)
		b = appendJSONString(b, h.Pattern)
	}
	b = append(b, `,"inputs":`...)
	if h.Inputs == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, in := range h.Inputs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"attr":`...)
			b = appendJSONString(b, in.Attr)
			b = append(b, `,"value":`...)
			if b, ok = appendJSONValue(b, in.Value); !ok {
				return b, false
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}'), true
}

// appendJSONValue appends an input's value as encoding/json writes it;
// false when it cannot be written.
func appendJSONValue(b []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), true
	case string:
		return appendJSONString(b, v), true
	case float64:
		return appendJSONFloat(b, v)
	}
	j, err := json.Marshal(v)
	if err != nil {
		return b, false
	}
	return append(b, j...), true
}

// appendJSONTime is time.Time's MarshalJSON (RFC 3339 with nanoseconds);
// false for a year it refuses.
func appendJSONTime(b []byte, t time.Time) ([]byte, bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}

// appendJSONFloat is encoding/json's float64: the shortest form, 'e' for
// very small and very large magnitudes; false for NaN and infinities.
func appendJSONFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, false
	}
	if i := int64(f); float64(i) == f && i > -1<<53 && i < 1<<53 && (i != 0 || !math.Signbit(f)) {
		return strconv.AppendInt(b, i, 10), true // a whole number (counts, amounts): the same digits, no shortest-form search
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-09 to e-9, as encoding/json does
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

const hexDigits = "0123456789abcdef"

// jsonPlain marks the ASCII bytes a JSON string holds as they are.
var jsonPlain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString is encoding/json's string with HTML escaping: <, >
// and & as \u003c…, control bytes, invalid UTF-8 as \ufffd, U+2028 and
// U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonPlain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
