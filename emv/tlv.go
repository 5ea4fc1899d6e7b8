package emv

import (
	"errors"
	"fmt"
	"strings"
)

// MaxDepth is how deeply constructed data objects may nest before [Decode]
// refuses the input. EMV templates nest at most four deep (6F > A5 > BF0C >
// 61); 16 leaves room for proprietary data and bounds the recursion.
const MaxDepth = 16

// Tag is a BER-TLV tag with its bytes packed big-endian: 0x9F26 is the
// two-byte tag 9F 26, 0x5A the one-byte tag 5A. Tags of up to 3 bytes are
// supported, which covers EMV and ISO 7816 usage.
type Tag uint32

// String returns the tag in upper-case hex, its bytes as they appear on
// the wire ("9F26", "5A").
func (t Tag) String() string {
	return fmt.Sprintf("%X", t.bytes())
}

// Bytes returns the tag's bytes as they appear on the wire (9F 26 for
// 0x9F26; the zero Tag gives 00). It never fails.
func (t Tag) Bytes() []byte { return t.bytes() }

// bytes returns the wire bytes of t (one to four bytes; 0 gives "00").
func (t Tag) bytes() []byte { return t.append(make([]byte, 0, 4)) }

// append appends the tag's bytes to out.
func (t Tag) append(out []byte) []byte {
	switch {
	case t > 0xFFFFFF:
		return append(out, byte(t>>24), byte(t>>16), byte(t>>8), byte(t))
	case t > 0xFFFF:
		return append(out, byte(t>>16), byte(t>>8), byte(t))
	case t > 0xFF:
		return append(out, byte(t>>8), byte(t))
	default:
		return append(out, byte(t))
	}
}

// first returns the first byte of the tag, which carries class and form.
func (t Tag) first() byte {
	return t.bytes()[0]
}

// Constructed reports whether the tag's first byte has the constructed bit
// (b6) set, meaning its value is itself a sequence of data objects.
func (t Tag) Constructed() bool {
	return t.first()&0x20 != 0
}

// valid reports whether t is a well-formed tag: a one-byte tag whose
// number is not 11111, or a multi-byte tag whose first byte says so, whose
// middle bytes have b8 set and whose last byte has b8 clear.
func (t Tag) valid() bool {
	b := t.bytes()
	if len(b) > 3 || (len(b) == 1 && t == 0) {
		return false
	}
	if len(b) == 1 {
		return b[0]&0x1F != 0x1F
	}
	if b[0]&0x1F != 0x1F {
		return false
	}
	for i := 1; i < len(b)-1; i++ {
		if b[i]&0x80 == 0 {
			return false
		}
	}
	return b[len(b)-1]&0x80 == 0
}

// ParseTag parses a tag written in hex ("9F26"). It returns an error if
// the text is not hex or not one well-formed BER-TLV tag of 1 to 3 bytes.
func ParseTag(s string) (Tag, error) {
	s = strings.TrimSpace(s)
	if len(s) == 0 || len(s)%2 != 0 || len(s) > 6 {
		return 0, fmt.Errorf("emv: bad tag %q: want 2, 4 or 6 hex digits", s)
	}
	var t Tag
	for _, c := range s {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = byte(c - '0')
		case c >= 'a' && c <= 'f':
			v = byte(c-'a') + 10
		case c >= 'A' && c <= 'F':
			v = byte(c-'A') + 10
		default:
			return 0, fmt.Errorf("emv: bad tag %q: not hex", s)
		}
		t = t<<4 | Tag(v)
	}
	// Keep leading zero bytes out: "009F" is not a tag.
	if len(t.bytes())*2 != len(s) || !t.valid() {
		return 0, fmt.Errorf("emv: bad tag %q: not a well-formed BER-TLV tag", s)
	}
	return t, nil
}

// TLV is one BER-TLV data object. For a constructed tag, Children holds the
// parsed inner objects and Value the raw bytes they were parsed from.
type TLV struct {
	Tag      Tag
	Value    []byte
	Children []TLV
}

// New returns a primitive data object.
func New(tag Tag, value []byte) TLV {
	return TLV{Tag: tag, Value: value}
}

// NewConstructed returns a constructed data object (a template) holding
// children. Its Value is filled in by [Encode].
func NewConstructed(tag Tag, children ...TLV) TLV {
	if children == nil {
		children = []TLV{}
	}
	return TLV{Tag: tag, Children: children}
}

// Errors that a [*DecodeError] wraps, to test with errors.Is.
var (
	ErrTruncated        = errors.New("input ends inside a data object")
	ErrIndefiniteLength = errors.New("indefinite length (0x80) is not allowed")
	ErrLengthTooLong    = errors.New("length field longer than 4 bytes")
	ErrTagTooLong       = errors.New("tag longer than 3 bytes")
	ErrTooDeep          = errors.New("data objects nested too deeply")
	ErrInvalidTag       = errors.New("invalid tag")
	ErrValueTooLong     = errors.New("value too long to encode")
)

// DecodeError says where and why BER-TLV input is malformed. Its text holds
// the offset and tag, never value bytes, so it is safe to log.
type DecodeError struct {
	Offset int   // byte offset in the input where the problem was found
	Tag    Tag   // tag being decoded, 0 if it could not be read
	Err    error // one of the Err* values of this package
}

// Error returns the offset, the tag if known and the reason.
func (e *DecodeError) Error() string {
	if e.Tag != 0 {
		return fmt.Sprintf("emv: bad BER-TLV at offset %d (tag %s): %v", e.Offset, e.Tag, e.Err)
	}
	return fmt.Sprintf("emv: bad BER-TLV at offset %d: %v", e.Offset, e.Err)
}

// Unwrap returns the Err* value, for errors.Is.
func (e *DecodeError) Unwrap() error { return e.Err }

// Decode parses a sequence of BER-TLV data objects, descending into
// constructed ones. '00' bytes before, between and after objects are
// skipped, as EMV Book 3 Annex B allows. It returns a [*DecodeError] if the
// input is malformed (see the package doc for what is refused); it never
// panics. The returned values alias b.
func Decode(b []byte) ([]TLV, error) {
	return decode(nil, b, 0, 1)
}

// DecodeAppend is Decode appending the top-level objects to out: a caller
// that reads them at once gives room of its own (a constructed object's
// children are still made as Decode makes them). On an error it returns
// nil.
func DecodeAppend(out []TLV, b []byte) ([]TLV, error) {
	return decode(out, b, 0, 1)
}

// decode appends b's objects to out (room for them made when out is nil).
func decode(out []TLV, b []byte, base, depth int) ([]TLV, error) {
	if depth > MaxDepth {
		return nil, &DecodeError{Offset: base, Err: ErrTooDeep}
	}
	if out == nil {
		out = make([]TLV, 0, count(b))
	}
	i := 0
	for i < len(b) {
		if b[i] == 0x00 {
			i++
			continue
		}
		start := i
		tag, n, err := readTag(b[i:])
		if err != nil {
			return nil, &DecodeError{Offset: base + start, Err: err}
		}
		i += n
		length, n, err := readLength(b[i:])
		if err != nil {
			return nil, &DecodeError{Offset: base + i, Tag: tag, Err: err}
		}
		i += n
		if uint64(length) > uint64(len(b)-i) {
			return nil, &DecodeError{Offset: base + i, Tag: tag, Err: ErrTruncated}
		}
		value := b[i : i+int(length) : i+int(length)]
		obj := TLV{Tag: tag, Value: value}
		if tag.Constructed() {
			children, err := decode(nil, value, base+i, depth+1)
			if err != nil {
				return nil, err
			}
			obj.Children = children
		}
		out = append(out, obj)
		i += int(length)
	}
	return out, nil
}

// count returns how many objects b holds at its top level, as far as they
// read (decode reports what does not): the room decode makes at once.
func count(b []byte) int {
	n, i := 0, 0
	for i < len(b) {
		if b[i] == 0x00 {
			i++
			continue
		}
		_, tn, err := readTag(b[i:])
		if err != nil {
			break
		}
		length, ln, err := readLength(b[i+tn:])
		if err != nil || uint64(length) > uint64(len(b)-i-tn-ln) {
			break
		}
		n++
		i += tn + ln + int(length)
	}
	return n
}

// readTag reads one tag from the start of b and returns it with its size.
func readTag(b []byte) (Tag, int, error) {
	if len(b) == 0 {
		return 0, 0, ErrTruncated
	}
	t := Tag(b[0])
	if b[0]&0x1F != 0x1F {
		return t, 1, nil
	}
	for i := 1; ; i++ {
		if i >= len(b) {
			return 0, 0, ErrTruncated
		}
		if i >= 3 {
			return 0, 0, ErrTagTooLong
		}
		t = t<<8 | Tag(b[i])
		if b[i]&0x80 == 0 {
			return t, i + 1, nil
		}
	}
}

// readLength reads a definite BER length from the start of b and returns
// it with the size of the length field.
func readLength(b []byte) (uint64, int, error) {
	if len(b) == 0 {
		return 0, 0, ErrTruncated
	}
	first := b[0]
	if first < 0x80 {
		return uint64(first), 1, nil
	}
	if first == 0x80 {
		return 0, 0, ErrIndefiniteLength
	}
	n := int(first & 0x7F)
	if n > 4 {
		return 0, 0, ErrLengthTooLong
	}
	if len(b) < 1+n {
		return 0, 0, ErrTruncated
	}
	var l uint64
	for _, c := range b[1 : 1+n] {
		l = l<<8 | uint64(c)
	}
	return l, 1 + n, nil
}

// Encode returns the BER-TLV encoding of the objects, in order. A
// constructed object is encoded from its Children when it has any (or was
// made by [NewConstructed]; its Value is then ignored), otherwise from its
// Value. Lengths use the shortest form. It returns a [*DecodeError] if a
// tag is not a well-formed tag of 1 to 3 bytes, if a primitive object has
// children, if objects nest deeper than [MaxDepth], or if a value is longer
// than 0xFFFFFFFF bytes.
func Encode(objs ...TLV) ([]byte, error) {
	out, err := AppendEncode(make([]byte, 0, encodedSize(objs, 1)), objs...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AppendEncode appends objs encoded as Encode encodes them to dst and
// returns the extended slice — into a buffer of the caller's (on its
// stack, for a value copied on: the switch's ARPC into its answer),
// without an allocation when dst has room. It fails like Encode,
// returning dst unchanged.
func AppendEncode(dst []byte, objs ...TLV) ([]byte, error) {
	out := dst
	for _, o := range objs {
		var err error
		out, err = appendTLV(out, o, 1)
		if err != nil {
			return dst, err
		}
	}
	return out, nil
}

// encodedSize is at least the size of objs encoded (each tag and length
// counted at their largest), at most MaxDepth levels deep: the room
// Encode makes at once.
func encodedSize(objs []TLV, depth int) int {
	if depth > MaxDepth {
		return 0
	}
	n := 0
	for _, o := range objs {
		v := len(o.Value)
		if o.Children != nil {
			v = encodedSize(o.Children, depth+1)
		}
		n += 4 + 5 + v
	}
	return n
}

func appendTLV(out []byte, o TLV, depth int) ([]byte, error) {
	if depth > MaxDepth {
		return nil, &DecodeError{Tag: o.Tag, Err: ErrTooDeep}
	}
	if !o.Tag.valid() {
		return nil, &DecodeError{Tag: o.Tag, Err: ErrInvalidTag}
	}
	value := o.Value
	if o.Children != nil {
		if !o.Tag.Constructed() {
			return nil, &DecodeError{Tag: o.Tag, Err: fmt.Errorf("%w: primitive tag with children", ErrInvalidTag)}
		}
		var inner []byte
		for _, c := range o.Children {
			var err error
			inner, err = appendTLV(inner, c, depth+1)
			if err != nil {
				return nil, err
			}
		}
		value = inner
	}
	if uint64(len(value)) > 0xFFFFFFFF {
		return nil, &DecodeError{Tag: o.Tag, Err: ErrValueTooLong}
	}
	out = o.Tag.append(out)
	out = appendLength(out, len(value))
	return append(out, value...), nil
}

// appendLength appends the shortest definite BER length for n.
func appendLength(out []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(out, byte(n))
	case n <= 0xFF:
		return append(out, 0x81, byte(n))
	case n <= 0xFFFF:
		return append(out, 0x82, byte(n>>8), byte(n))
	case n <= 0xFFFFFF:
		return append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		return append(out, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// Find returns the first object with the tag, searching depth-first
// through constructed objects, and whether one was found.
func Find(objs []TLV, tag Tag) (TLV, bool) {
	for _, o := range objs {
		if o.Tag == tag {
			return o, true
		}
		if found, ok := Find(o.Children, tag); ok {
			return found, true
		}
	}
	return TLV{}, false
}

// Format returns the objects as an indented tree, one object per line:
// the tag, its name if known, and for a primitive object its value in
// upper-case hex (followed by the text in quotes for printable
// alphanumeric data elements such as 50 Application Label). Format shows
// values as they are; do not use it on data holding a real card number.
func Format(objs []TLV) string {
	var sb strings.Builder
	formatTo(&sb, objs, 0)
	return sb.String()
}

func formatTo(sb *strings.Builder, objs []TLV, depth int) {
	for _, o := range objs {
		sb.WriteString(strings.Repeat("  ", depth))
		sb.WriteString(o.Tag.String())
		if name := o.Tag.Name(); name != "" {
			sb.WriteString(" ")
			sb.WriteString(name)
		}
		if o.Tag.Constructed() {
			sb.WriteString("\n")
			formatTo(sb, o.Children, depth+1)
			continue
		}
		fmt.Fprintf(sb, ": %X", o.Value)
		if f := o.Tag.format(); (f == formatAN || f == formatANS) && printable(o.Value) && len(o.Value) > 0 {
			fmt.Fprintf(sb, " %q", string(o.Value))
		}
		sb.WriteString("\n")
	}
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7E {
			return false
		}
	}
	return true
}
