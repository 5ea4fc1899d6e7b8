package iso8583

import (
	"fmt"
	"io"
	"log/slog"
)

// The BER-TLV tags of the token data in DE123 (private class, primitive).
const (
	TagToken       = 0xDF01 // token number, 12-19 digits
	TagPAR         = 0xDF02 // payment account reference, 1-32 letters and digits
	TagRequestorID = 0xDF03 // token requestor id, 11 digits
	TagAssurance   = 0xDF04 // token assurance level, 2 digits
	TagDeviceID    = 0xDF05 // id of the device the token is bound to, 1-64 printable ASCII
	TagRiskScore   = 0xDF06 // the network's risk score of the authorization, 2 digits 00-99 (docs/risk.md)
)

// TokenData is the token part of an authorization, carried in DE123 as
// BER-TLV (tags TagToken ... TagDeviceID). Empty fields are left out.
// It prints (fmt, slog) with the token masked.
type TokenData struct {
	Token       string // DF01
	PAR         string // DF02
	RequestorID string // DF03
	Assurance   string // DF04
	DeviceID    string // DF05
	RiskScore   string // DF06: the network's risk score, "00"-"99" ("" when the network scored nothing)
}

type tokenField struct {
	tag      uint32
	name     string
	min, max int
	typ      Type
}

// tokenFields are the fields of TokenData in tag order; field i of a
// TokenData is t.field(i).
var tokenFields = []tokenField{
	{TagToken, "token", 12, 19, N},
	{TagPAR, "payment account reference", 1, 32, AN},
	{TagRequestorID, "token requestor id", 11, 11, N},
	{TagAssurance, "assurance level", 2, 2, N},
	{TagDeviceID, "device id", 1, 64, ANS},
	{TagRiskScore, "risk score", 2, 2, N},
}

// field returns tokenFields[i]'s field of t. A switch, not a function
// value per field: a call through a function value made the compiler move
// every TokenData that Marshal and ParseTokenData read to the heap (one
// allocation each per authorization).
func (t *TokenData) field(i int) *string {
	switch i {
	case 0:
		return &t.Token
	case 1:
		return &t.PAR
	case 2:
		return &t.RequestorID
	case 3:
		return &t.Assurance
	case 4:
		return &t.DeviceID
	}
	return &t.RiskScore
}

func (f *tokenField) check(v string) error {
	if len(v) < f.min || len(v) > f.max {
		return formatErr(ErrBadLength, DETokenData, "%s must be %d to %d characters, got %d", f.name, f.min, f.max, len(v))
	}
	sp := Spec{Type: f.typ}
	if f.typ == AN {
		for i := 0; i < len(v); i++ {
			if v[i] == ' ' {
				return formatErr(ErrBadCharacters, DETokenData, "%s must contain letters and digits only", f.name)
			}
		}
	}
	if !sp.validChars([]byte(v)) {
		return formatErr(ErrBadCharacters, DETokenData, "%s must contain %s", f.name, sp.charsRule())
	}
	return nil
}

// Marshal encodes the non-empty fields as BER-TLV in tag order. It returns a
// format error naming the field (never its value) when one breaks its rule,
// or when every field is empty.
func (t TokenData) Marshal() ([]byte, error) {
	out, err := t.appendTo(make([]byte, 0, t.encodedSize()))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// encodedSize is the size of t's encoding (every field's length fits in
// one byte).
func (t *TokenData) encodedSize() int {
	size := 0
	for i := range tokenFields {
		if v := *t.field(i); v != "" {
			size += 3 + len(v)
		}
	}
	return size
}

// appendTo appends t's encoding to out; it fails like Marshal, having
// appended part of it (the caller drops it).
func (t *TokenData) appendTo(out []byte) ([]byte, error) {
	start := len(out)
	for i := range tokenFields {
		f := &tokenFields[i]
		v := *t.field(i)
		if v == "" {
			continue
		}
		if err := f.check(v); err != nil {
			return nil, err
		}
		out = append(out, byte(f.tag>>8), byte(f.tag), byte(len(v)))
		out = append(out, v...)
	}
	if len(out) == start {
		return nil, formatErr(ErrBadLength, DETokenData, "token data is empty")
	}
	return out, nil
}

// ParseTokenData decodes DE123 (at most 999 bytes). Tags it does not know are skipped, so that
// senders can add some. It returns a format error (ErrTruncated,
// ErrBadLength, ErrBadCharacters) for a broken TLV, a repeated tag, or a
// known field that breaks its rule. It never panics.
func ParseTokenData(b []byte) (TokenData, error) {
	if len(b) > specs[DETokenData].Max {
		return TokenData{}, formatErr(ErrBadLength, DETokenData, "must be at most %d bytes, got %d", specs[DETokenData].Max, len(b))
	}
	var t TokenData
	var seen uint64  // bit i: tokenFields[i] read
	all := string(b) // the fields are substrings of one string
	for pos := 0; pos < len(b); {
		tag, n, err := readTag(b[pos:], DETokenData)
		if err != nil {
			return TokenData{}, err
		}
		pos += n
		l, n, err := readLen(b[pos:], DETokenData)
		if err != nil {
			return TokenData{}, err
		}
		pos += n
		if l > len(b)-pos {
			return TokenData{}, formatErr(ErrTruncated, DETokenData, "a TLV value runs past the end")
		}
		v := all[pos : pos+l]
		pos += l
		for i := range tokenFields {
			f := &tokenFields[i]
			if f.tag != tag {
				continue
			}
			if seen&(1<<i) != 0 {
				return TokenData{}, formatErr(ErrBadLength, DETokenData, "tag %X is repeated", tag)
			}
			seen |= 1 << i
			if err := f.check(v); err != nil {
				return TokenData{}, err
			}
			*t.field(i) = v
		}
	}
	if seen == 0 {
		return TokenData{}, formatErr(ErrBadLength, DETokenData, "holds no token data")
	}
	return t, nil
}

// readTag reads a BER-TLV tag of 1 to 3 bytes of element de.
func readTag(b []byte, de int) (uint32, int, error) {
	if len(b) == 0 {
		return 0, 0, formatErr(ErrTruncated, de, "ends inside a TLV tag")
	}
	tag := uint32(b[0])
	n := 1
	if b[0]&0x1f == 0x1f {
		for {
			if n >= len(b) {
				return 0, 0, formatErr(ErrTruncated, de, "ends inside a TLV tag")
			}
			if n >= 3 {
				return 0, 0, formatErr(ErrBadLength, de, "has a TLV tag longer than 3 bytes")
			}
			tag = tag<<8 | uint32(b[n])
			n++
			if b[n-1]&0x80 == 0 {
				break
			}
		}
	}
	return tag, n, nil
}

// readLen reads a BER length of element de: one byte below 0x80, or
// 0x81/0x82 and one or two bytes.
func readLen(b []byte, de int) (int, int, error) {
	if len(b) == 0 {
		return 0, 0, formatErr(ErrTruncated, de, "ends inside a TLV length")
	}
	switch {
	case b[0] < 0x80:
		return int(b[0]), 1, nil
	case b[0] == 0x81:
		if len(b) < 2 {
			return 0, 0, formatErr(ErrTruncated, de, "ends inside a TLV length")
		}
		return int(b[1]), 2, nil
	case b[0] == 0x82:
		if len(b) < 3 {
			return 0, 0, formatErr(ErrTruncated, de, "ends inside a TLV length")
		}
		return int(b[1])<<8 | int(b[2]), 3, nil
	}
	return 0, 0, formatErr(ErrBadLength, de, "has a TLV length form other than 1 to 3 bytes")
}

// SetTokenData encodes t into DE123, in the message's own room (no
// allocation of its own when the room has it: the forwarded 0100's card
// number and token data share one); it fails like TokenData.Marshal and
// then leaves the message unchanged.
func (m *Message) SetTokenData(t TokenData) error {
	start := m.reserve(t.encodedSize())
	b, err := t.appendTo(m.arena)
	if err == nil {
		err = specs[DETokenData].check(b[start:])
	}
	if err != nil {
		return err // the bytes past m.arena's end were never given out
	}
	m.arena = b
	m.putChecked(DETokenData, b[start:len(b):len(b)])
	return nil
}

// TokenData decodes DE123. It returns a format error wrapping ErrWrongType
// when DE123 is absent, and fails like ParseTokenData otherwise.
func (m *Message) TokenData() (TokenData, error) {
	v, ok := m.get(DETokenData), m.Has(DETokenData)
	if !ok {
		return TokenData{}, formatErr(ErrWrongType, DETokenData, "is absent")
	}
	return ParseTokenData(v)
}

// String shows the fields with the token masked.
func (t TokenData) String() string {
	return fmt.Sprintf("{Token:%s PAR:%s RequestorID:%s Assurance:%s DeviceID:%s}",
		maskPAN([]byte(t.Token)), safeText(t.PAR), safeText(t.RequestorID), safeText(t.Assurance), safeText(t.DeviceID))
}

// Format makes every fmt verb print String, with the token masked.
func (t TokenData) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, t.String()) }

// LogValue makes slog print the fields with the token masked.
func (t TokenData) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("token", maskPAN([]byte(t.Token))),
		slog.String("par", safeText(t.PAR)),
		slog.String("requestor_id", safeText(t.RequestorID)),
		slog.String("assurance", safeText(t.Assurance)),
		slog.String("device_id", safeText(t.DeviceID)),
	)
}
