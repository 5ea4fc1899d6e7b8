package iso8583

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/money"
)

// Message is one ISO 8583:1987 message: an MTI and a set of data elements.
// The zero value is an empty message; set MTI and elements, then Pack.
// Elements are validated against their Spec when set or unpacked; Pack
// validates any that were not (each value is checked once). A value, once
// in a message, is never written again: copies of a message (Clone, Copy,
// NewResponse) share the values' bytes. A Message is not safe for
// concurrent mutation.
//
// A Message prints (fmt verbs, slog) through Describe, with card numbers,
// track-2, expiry, chip data and token data masked.
type Message struct {
	MTI MTI
	// has marks the present elements (bit de%64 of word de/64); vals
	// holds their values in element order. A message carries a score of
	// its 128 elements: kept dense, it stays small to allocate and to scan.
	has  [(maxDE + 64) / 64]uint64
	vals [][]byte
	// checked marks the elements whose values were validated against
	// their spec when set (SetBytes, Unpack, or the message they were
	// copied from): Pack validates the others.
	checked [(maxDE + 64) / 64]uint64
	// packed is the encoding PackOnce kept, for the MTI packedMTI; any
	// change of an element drops it.
	packed    []byte
	packedMTI MTI
	// arena is where SetBytes and Copy keep the values they copy: one
	// allocation for the elements of a message built here. Only appended
	// to; a value given out is never written again.
	arena []byte
}

// valsCap is the room a message's element table starts with: an
// authorization and its answer carry 14 to 20 elements.
const valsCap = 20

// roomy is a message with the room of its element table, made in one
// allocation instead of two: a message built here (New, Clone,
// NewResponse) starts as one.
type roomy struct {
	m    Message
	vals [valsCap][]byte
}

// newMessage returns an empty message of type mti whose element table
// has room for n elements — valsCap of them in the message's own
// allocation when n is at most valsCap.
func newMessage(mti MTI, n int) *Message {
	if n > valsCap {
		return &Message{MTI: mti, vals: make([][]byte, 0, n)}
	}
	r := &roomy{m: Message{MTI: mti}}
	r.m.vals = r.vals[:0]
	return &r.m
}

// answering is an answer with its element table's room and its own
// values' room (answerRoom bytes) in one allocation.
type answering struct {
	roomy
	arena [answerRoom]byte
}

// own returns a copy of v kept in m's arena.
func (m *Message) own(v []byte) []byte {
	start := m.reserve(len(v))
	m.arena = append(m.arena, v...)
	return m.arena[start:len(m.arena):len(m.arena)]
}

// reserve makes room for n more bytes in m's arena (a new arena when the
// room left is short: the values given out stay where they are) and
// returns where they go.
func (m *Message) reserve(n int) int {
	if cap(m.arena)-len(m.arena) < n {
		m.arena = make([]byte, 0, max(256, 2*cap(m.arena), n))
	}
	return len(m.arena)
}

// index returns where element de's value is (or would go) in m.vals.
func (m *Message) index(de int) int {
	w := de / 64
	n := bits.OnesCount64(m.has[w] & (1<<uint(de%64) - 1))
	for i := 0; i < w; i++ {
		n += bits.OnesCount64(m.has[i])
	}
	return n
}

// get returns element de's value, nil when it is absent or de is out of range.
func (m *Message) get(de int) []byte {
	if de < 0 || de > maxDE || m.has[de/64]&(1<<uint(de%64)) == 0 {
		return nil
	}
	return m.vals[m.index(de)]
}

// put sets element de (in range) to v, or removes it when v is nil; the
// value is not marked checked (putChecked).
func (m *Message) put(de int, v []byte) {
	m.packed = nil
	i, bit := m.index(de), uint64(1)<<uint(de%64)
	m.checked[de/64] &^= bit
	present := m.has[de/64]&bit != 0
	switch {
	case present && v != nil:
		m.vals[i] = v
	case present:
		m.vals = slices.Delete(m.vals, i, i+1)
		m.has[de/64] &^= bit
	case v != nil:
		if m.vals == nil {
			m.vals = make([][]byte, 0, valsCap)
		}
		m.vals = slices.Insert(m.vals, i, v)
		m.has[de/64] |= bit
	}
}

// putChecked is put of a value validated against de's spec.
func (m *Message) putChecked(de int, v []byte) {
	m.put(de, v)
	m.checked[de/64] |= 1 << uint(de%64)
}

// each calls fn with every present element in order.
func (m *Message) each(fn func(de int, v []byte)) {
	i := 0
	for w, word := range m.has {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			fn(w*64+b, m.vals[i])
			i++
			word &^= 1 << uint(b)
		}
	}
}

// New returns an empty message of the given type.
func New(mti MTI) *Message { return newMessage(mti, valsCap) }

// spec returns the spec of de or a format error wrapping ErrUnknownElement.
func spec(de int) (*Spec, error) {
	if de < 0 || de > maxDE || specs[de] == nil {
		return nil, fault.Wrap(ErrUnknownElement, fault.Invalid, FormatErrorCode, "iso8583: DE%d has no spec", de)
	}
	return specs[de], nil
}

// check validates a value against the spec: length, then characters.
func (s *Spec) check(v []byte) error {
	if s.Length == Fixed {
		if len(v) != s.Max {
			return formatErr(ErrBadLength, s.DE, "must be %d %s, got %d", s.Max, s.unit(), len(v))
		}
	} else if len(v) < 1 || len(v) > s.Max {
		return formatErr(ErrBadLength, s.DE, "must be 1 to %d %s, got %d", s.Max, s.unit(), len(v))
	}
	if !s.validChars(v) {
		return formatErr(ErrBadCharacters, s.DE, "must contain %s", s.charsRule())
	}
	return nil
}

// SetString sets element de to s. A fixed-length element must be given at its
// exact length (pad it yourself: zeros on the left for n, spaces on the right
// for an and ans). It returns a format error (ErrUnknownElement, ErrBadLength,
// ErrBadCharacters) and leaves the message unchanged when s does not fit.
func (m *Message) SetString(de int, s string) error {
	return m.SetBytes(de, []byte(s))
}

// SetBytes sets element de to a copy of v; it fails like SetString.
func (m *Message) SetBytes(de int, v []byte) error {
	sp, err := spec(de)
	if err != nil {
		return err
	}
	if err := sp.check(v); err != nil {
		return err
	}
	m.putChecked(de, m.own(v))
	return nil
}

// SetNumber sets the numeric (n) element de to v, padded with zeros on the
// left to the element's length when it is fixed. It returns a format error
// wrapping ErrWrongType for a non-numeric element and ErrBadLength for a
// negative v or one with too many digits.
func (m *Message) SetNumber(de int, v int64) error {
	sp, err := spec(de)
	if err != nil {
		return err
	}
	if sp.Type != N {
		return formatErr(ErrWrongType, de, "is not numeric")
	}
	if v < 0 {
		return formatErr(ErrBadLength, de, "cannot hold a negative number")
	}
	// The digits are made on the stack (SetBytes keeps a copy): a
	// message's numbers cost it no allocation of their own.
	var buf, pad [64]byte
	digits := strconv.AppendInt(buf[:0], v, 10)
	if sp.Length == Fixed {
		if len(digits) > sp.Max {
			return formatErr(ErrBadLength, de, "must be %d digits, got %d", sp.Max, len(digits))
		}
		padded := pad[:0]
		for range sp.Max - len(digits) {
			padded = append(padded, '0')
		}
		digits = append(padded, digits...)
	}
	return m.SetBytes(de, digits)
}

// String returns element de as text; false when it is absent.
func (m *Message) String(de int) (string, bool) {
	v := m.get(de)
	if v == nil {
		return "", false
	}
	return string(v), true
}

// Bytes returns a copy of element de; false when it is absent.
func (m *Message) Bytes(de int) ([]byte, bool) {
	v := m.get(de)
	if v == nil {
		return nil, false
	}
	return append([]byte(nil), v...), true
}

// Value returns element de's value itself, not a copy — shared with the
// message and its copies, which never write it again, so the caller must
// never write to it either (Bytes gives a copy to keep and change); false
// when it is absent. For reading a long element (DE55) without copying it.
func (m *Message) Value(de int) ([]byte, bool) {
	v := m.get(de)
	return v, v != nil
}

// Append appends element de's value to dst (without allocating when dst
// has room); false, and dst unchanged, when it is absent.
func (m *Message) Append(dst []byte, de int) ([]byte, bool) {
	v := m.get(de)
	if v == nil {
		return dst, false
	}
	return append(dst, v...), true
}

// Number returns the numeric element de as an integer; false when it is
// absent, not numeric, or too large for an int64 (such as DE90).
func (m *Message) Number(de int) (int64, bool) {
	v, ok := m.String(de)
	if !ok || len(v) > 18 {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// Has reports whether element de is present.
func (m *Message) Has(de int) bool {
	return de >= 0 && de <= maxDE && m.has[de/64]&(1<<uint(de%64)) != 0
}

// Unset removes element de; it does nothing when de is absent or unknown.
func (m *Message) Unset(de int) {
	if de >= 0 && de <= maxDE {
		m.put(de, nil)
	}
}

// Elements returns the numbers of the present elements, in order.
func (m *Message) Elements() []int {
	var out []int
	m.each(func(de int, _ []byte) { out = append(out, de) })
	return out
}

// cloneRoom is the room a copy keeps at least for elements set on it
// afterwards (a request forwarded with the card number and the token data
// added); a copy of up to valsCap-cloneRoom elements has valsCap in all.
const cloneRoom = 2

// Clone returns a copy of m that shares nothing mutable with it: its
// element table is its own, the values' bytes (never written again) are
// shared.
func (m *Message) Clone() *Message {
	c := newMessage(m.MTI, len(m.vals)+cloneRoom)
	c.has, c.checked = m.has, m.checked
	c.vals = append(c.vals, m.vals...)
	return c
}

// Copy sets the listed elements of m from src, skipping those src lacks;
// the values' bytes are shared (never written again).
func (m *Message) Copy(src *Message, des ...int) {
	for _, de := range des {
		if v := src.get(de); v != nil {
			m.put(de, v)
			m.checked[de/64] |= src.checked[de/64] & (1 << uint(de%64))
		}
	}
}

// answerRoom is the room an answer starts with for the values it adds.
const answerRoom = 64

// echoed are the elements an answer repeats from its request.
var echoed = []int{DEPAN, DEProcessingCode, DEAmount, DETransmission, DESTAN, DELocalTime, DELocalDate,
	DEFunctionCode, DEAcquirer, DERRN, DETerminal, DEMerchant, DECurrency, DENetworkCode, DEOriginal,
	DEReplacement, DEAccount}

// NewResponse returns the answer to req: the response MTI, the elements an
// answer repeats (2, 3, 4, 7, 11, 12, 13, 24, 32, 37, 41, 42, 49, 70, 90, 95,
// 102, as far as req has them) and DE39 set to rc. It returns a format error
// when req's MTI is not a request or rc is not two characters.
func NewResponse(req *Message, rc ResponseCode) (*Message, error) {
	mti, err := req.MTI.Response()
	if err != nil {
		return nil, err
	}
	// The echoed values are shared: the answer's own room is for what it
	// adds (DE39, DE38, the ARPC in DE55), not the 256 bytes a message
	// built afresh starts with.
	a := &answering{}
	resp := &a.m
	resp.MTI, resp.vals, resp.arena = mti, a.vals[:0], a.arena[:0]
	resp.Copy(req, echoed...)
	if err := resp.SetResponseCode(rc); err != nil {
		return nil, err
	}
	return resp, nil
}

// Pack encodes the message: the MTI in ASCII, the primary bitmap (and the
// secondary one when an element above 64 is present) in binary, then every
// element in order. It returns a format error naming the element (never its
// value) when the MTI or any element breaks its spec, or when no element is set.
func (m *Message) Pack() ([]byte, error) {
	return m.AppendPack(nil)
}

// AppendPack appends the packed message to dst and returns the extended
// slice; it fails like Pack, returning dst unchanged.
func (m *Message) AppendPack(dst []byte) ([]byte, error) {
	return m.appendPack(dst, false)
}

// AppendPackHexBitmap is AppendPack with the bitmaps written as 16 ASCII
// hex digits each (uppercase), the layout some codecs use by default. It is
// for one thing only: answering, in a layout it can read, a peer whose
// message Unpack refused with ErrHexBitmap. It fails like Pack.
func (m *Message) AppendPackHexBitmap(dst []byte) ([]byte, error) {
	return m.appendPack(dst, true)
}

// PackOnce packs m like Pack and keeps the bytes: a later Pack or
// AppendPack of the unchanged message (same elements, same MTI) copies
// them instead of encoding it again — an answer the switch stores and then
// sends is encoded once. The caller must not modify the bytes. Unlike
// Pack it writes to m: not concurrently with other uses of m. It fails
// like Pack.
func (m *Message) PackOnce() ([]byte, error) {
	b, err := m.appendPack(nil, false)
	if err != nil {
		return nil, err
	}
	m.packed, m.packedMTI = b, m.MTI
	return b, nil
}

func (m *Message) appendPack(dst []byte, hexBitmap bool) ([]byte, error) {
	if !hexBitmap && m.packed != nil && m.packedMTI == m.MTI {
		return append(dst, m.packed...), nil
	}
	if err := m.MTI.Check(); err != nil {
		return dst, err
	}
	var bitmap [2]uint64
	size := 4 + 8
	var err error
	m.each(func(de int, v []byte) {
		if err != nil || de < 2 {
			return
		}
		sp, serr := spec(de)
		if serr != nil {
			err = serr
			return
		}
		if m.checked[de/64]&(1<<uint(de%64)) == 0 {
			if err = sp.check(v); err != nil {
				return
			}
		}
		bitmap[(de-1)/64] |= 1 << (63 - uint((de-1)%64))
		size += sp.prefixDigits() + len(v)
	})
	if err != nil {
		return dst, err
	}
	if bitmap[0] == 0 && bitmap[1] == 0 {
		return dst, formatErr(ErrBadBitmap, 0, "message has no elements")
	}
	if bitmap[1] != 0 {
		bitmap[0] |= 1 << 63
		size += 8
	}
	maps := bitmap[:1]
	if bitmap[1] != 0 {
		maps = bitmap[:2]
	}
	if hexBitmap {
		size += 8 * len(maps) // hex digits double the bitmaps
	}
	out := append(slices.Grow(dst, size), m.MTI...)
	for _, bm := range maps {
		if hexBitmap {
			out = fmt.Appendf(out, "%016X", bm)
		} else {
			out = binary.BigEndian.AppendUint64(out, bm)
		}
	}
	m.each(func(de int, v []byte) {
		if de < 2 {
			return
		}
		switch specs[de].Length {
		case LLVAR:
			out = append(out, byte('0'+len(v)/10), byte('0'+len(v)%10))
		case LLLVAR:
			out = append(out, byte('0'+len(v)/100), byte('0'+len(v)/10%10), byte('0'+len(v)%10))
		}
		out = append(out, v...)
	})
	return out, nil
}

// Unpack decodes one whole message. It is strict: it returns a format error
// (fault.Invalid, FormatErrorCode; answer it with response code 30) wrapping
// ErrTruncated, ErrBadMTI, ErrBadBitmap, ErrUnknownElement, ErrBadLength,
// ErrBadCharacters or ErrTrailingBytes, naming the element but never its
// value; ErrHexBitmap when the bitmap is ASCII hex digits (the layout takes
// a binary bitmap). A secondary bitmap of zeros is accepted (it names no
// element 65-128). It never panics and allocates no more than len(b)
// (twice that for a message with an ASCII-hex bitmap).
func Unpack(b []byte) (*Message, error) {
	m, err := unpack(b, false)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// UnpackOwned is Unpack of a buffer the caller hands over: the message's
// values are b's bytes, not a copy, so the caller must never use b again
// (a link's freshly read frame). It fails like Unpack.
func UnpackOwned(b []byte) (*Message, error) {
	m, err := unpack(b, true)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// UnpackPartial is Unpack for answering a message that fails to decode: on
// error it also returns the MTI and the elements it could read (a nil
// message when even the MTI is unreadable): those before the fault, and
// those after an element with bad characters, whose extent is known. So a
// receiver can address a format-error answer by DE11 and DE41. It returns
// the same error as Unpack. Use it for nothing else.
func UnpackPartial(b []byte) (*Message, error) {
	return unpack(b, false)
}

// unpack decodes b; owned says that the message may keep b's bytes.
func unpack(b []byte, owned bool) (*Message, error) {
	m, err := unpackBitmap(b, false, owned)
	if err != nil && m != nil && hexBitmap(b) {
		// Some codecs send the bitmap as 16 (or 32) ASCII hex digits. Read
		// the message that way to find DE11 and DE41 for the answer, but
		// refuse it: the link's layout is a binary bitmap.
		if hm, _ := unpackBitmap(b, true, false); hm != nil {
			return hm, formatErr(ErrHexBitmap, 0, "the bitmap is ASCII hex; this layout takes a binary bitmap")
		}
	}
	return m, err
}

// hexBitmap reports whether the 16 bytes after the MTI are ASCII hex digits,
// as an ASCII-hex primary bitmap is.
func hexBitmap(b []byte) bool {
	if len(b) < 20 {
		return false
	}
	for _, c := range b[4:20] {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// readBitmap reads the bitmap named which at b[pos:], 8 bytes binary or
// 16 ASCII hex digits, and returns it with the position after it; it fails
// with a format error when b ends first or a hex digit is not one.
func readBitmap(b []byte, pos int, hexDigits bool, which string) (uint64, int, error) {
	n := 8
	if hexDigits {
		n = 16
	}
	if len(b)-pos < n {
		return 0, pos, formatErr(ErrTruncated, 0, "message ends inside the %s bitmap", which)
	}
	if !hexDigits {
		return binary.BigEndian.Uint64(b[pos : pos+8]), pos + 8, nil
	}
	v, err := strconv.ParseUint(string(b[pos:pos+16]), 16, 64)
	if err != nil {
		return 0, pos, formatErr(ErrBadBitmap, 0, "the %s bitmap is not 16 hex digits", which)
	}
	return v, pos + 16, nil
}

// unpackBitmap is unpack with the bitmaps read in binary or in ASCII hex;
// owned: the values may stay in b.
func unpackBitmap(b []byte, hexDigits, owned bool) (*Message, error) {
	if len(b) < 4 {
		return nil, formatErr(ErrTruncated, 0, "message ends inside the MTI")
	}
	mti := mtiOf(b[:4])
	if err := mti.Check(); err != nil {
		return nil, err
	}
	var bitmap [2]uint64
	var pos int
	var err error // the first error
	if bitmap[0], pos, err = readBitmap(b, 4, hexDigits, "primary"); err != nil {
		return &Message{MTI: mti}, err
	}
	if bitmap[0]&(1<<63) != 0 {
		// A secondary bitmap of zeros is well-formed: it says that no
		// element 65-128 is present. Many codecs always send one.
		if bitmap[1], pos, err = readBitmap(b, pos, hexDigits, "secondary"); err != nil {
			return &Message{MTI: mti}, err
		}
	}
	if bitmap[0]&^(1<<63) == 0 && bitmap[1] == 0 {
		return &Message{MTI: mti}, formatErr(ErrBadBitmap, 0, "bitmap names no element")
	}
	total := 0
	// The message and its element table in one allocation (newMessage):
	// a link's every message is unpacked here.
	m := newMessage(mti, bits.OnesCount64(bitmap[0]&^(1<<63))+bits.OnesCount64(bitmap[1]))
	for de := range present(bitmap) {
		sp := specs[de]
		if sp == nil {
			err = cmp.Or(err, formatErr(ErrUnknownElement, de, "is in the bitmap but has no spec"))
			break
		}
		v, next, eerr := readElement(sp, b, pos)
		if eerr != nil && !(errors.Is(eerr, ErrBadCharacters) && next > pos) { // err is the first error
			err = cmp.Or(err, eerr)
			break
		}
		pos = next
		if eerr != nil {
			// The element's extent is known: keep reading, for UnpackPartial
			// to find DE11 and DE41 behind it, but report the first error.
			err = cmp.Or(err, eerr)
			continue
		}
		m.has[de/64] |= 1 << uint(de%64) // elements come in order: append
		m.vals = append(m.vals, v)       // aliases b for now
		m.checked[de/64] |= 1 << uint(de%64)
		total += len(v)
	}
	if err == nil && pos != len(b) {
		err = formatErr(ErrTrailingBytes, 0, "%d bytes follow the last element", len(b)-pos)
	}
	if owned && err == nil {
		for i, v := range m.vals { // b is m's now: cap each value at its end
			m.vals[i] = v[:len(v):len(v)]
		}
		return m, nil
	}
	// Copy the values out of b into one buffer, so that m does not alias it.
	buf := make([]byte, 0, total)
	for i, v := range m.vals {
		buf = append(buf, v...)
		m.vals[i] = buf[len(buf)-len(v) : len(buf) : len(buf)]
	}
	return m, err
}

// present yields the elements a message's bitmaps name, in order (bit 1,
// the secondary bitmap's, is not an element).
func present(bitmap [2]uint64) func(yield func(int) bool) {
	return func(yield func(int) bool) {
		for w, word := range bitmap {
			if w == 0 {
				word &^= 1 << 63
			}
			for word != 0 {
				lz := bits.LeadingZeros64(word)
				if !yield(w*64 + lz + 1) {
					return
				}
				word &^= 1 << (63 - uint(lz))
			}
		}
	}
}

// readElement reads the element at b[pos:] and returns its value and the
// position after it. For ErrBadCharacters the position after the element is
// returned too: the element's extent is known.
func readElement(sp *Spec, b []byte, pos int) ([]byte, int, error) {
	n := sp.Max
	if d := sp.prefixDigits(); d > 0 {
		if len(b)-pos < d {
			return nil, pos, formatErr(ErrTruncated, sp.DE, "message ends inside the length prefix")
		}
		n = 0
		for _, c := range b[pos : pos+d] {
			if c < '0' || c > '9' {
				return nil, pos, formatErr(ErrBadLength, sp.DE, "length prefix must be %d digits", d)
			}
			n = n*10 + int(c-'0')
		}
		if n < 1 || n > sp.Max {
			return nil, pos, formatErr(ErrBadLength, sp.DE, "length prefix must be 1 to %d, got %d", sp.Max, n)
		}
		pos += d
	}
	if len(b)-pos < n {
		return nil, pos, formatErr(ErrTruncated, sp.DE, "message ends inside the element (%d of %d %s)", len(b)-pos, n, sp.unit())
	}
	v := b[pos : pos+n]
	if !sp.validChars(v) {
		return nil, pos + n, formatErr(ErrBadCharacters, sp.DE, "must contain %s", sp.charsRule())
	}
	return v, pos + n, nil
}

// STAN returns DE11; false when it is absent or not six digits.
func (m *Message) STAN() (STAN, bool) {
	v, ok := m.String(DESTAN)
	if !ok {
		return 0, false
	}
	s, err := ParseSTAN(v)
	return s, err == nil
}

// SetSTAN sets DE11; it returns a format error for 0 or a STAN above MaxSTAN.
func (m *Message) SetSTAN(s STAN) error {
	if s == 0 || s > MaxSTAN {
		return formatErr(ErrBadLength, DESTAN, "must be 1 to 999999")
	}
	return m.SetString(DESTAN, s.String())
}

// ResponseCode returns DE39; false when it is absent. A code of
// ResponseCodes is returned as its constant (no new string).
func (m *Message) ResponseCode() (ResponseCode, bool) {
	v := m.get(DEResponseCode)
	if v == nil {
		return "", false
	}
	for _, c := range responseCodes {
		if string(c) == string(v) {
			return c, true
		}
	}
	return ResponseCode(v), true
}

// SetResponseCode sets DE39; it returns a format error unless rc is two
// letters or digits.
func (m *Message) SetResponseCode(rc ResponseCode) error {
	return m.SetString(DEResponseCode, string(rc))
}

// SetAmount sets DE4 (minor units, 12 digits) and DE49 (ISO 4217 numeric
// currency). It returns a format error for a negative amount, one above
// 999999999999 minor units, or a currency above 999, and then sets neither.
func (m *Message) SetAmount(a money.Amount) error {
	if a.Currency == 0 || a.Currency > 999 {
		return formatErr(ErrBadLength, DECurrency, "must be an ISO 4217 numeric code 1-999")
	}
	if a.Minor < 0 || a.Minor > 999999999999 {
		return formatErr(ErrBadLength, DEAmount, "must be 0 to 999999999999 minor units")
	}
	if err := m.SetNumber(DEAmount, a.Minor); err != nil {
		return err
	}
	return m.SetNumber(DECurrency, int64(a.Currency))
}

// Amount returns DE4 with the currency of DE49. It returns a format error
// wrapping ErrWrongType when either element is absent.
func (m *Message) Amount() (money.Amount, error) {
	minor, ok1 := m.Number(DEAmount)
	cur, ok2 := m.Number(DECurrency)
	if !ok1 || !ok2 {
		return money.Amount{}, formatErr(ErrWrongType, 0, "message needs DE4 and DE49 for an amount")
	}
	return money.New(minor, money.Currency(cur)), nil
}

// SetTransmissionTime sets DE7 to t in UTC as MMDDhhmmss; it never fails.
func (m *Message) SetTransmissionTime(t time.Time) {
	var b [16]byte
	m.put(DETransmission, m.own(t.UTC().AppendFormat(b[:0], "0102150405")))
}

// SetLocalTime sets DE12 (hhmmss) and DE13 (MMDD) to t in t's own location;
// it never fails.
func (m *Message) SetLocalTime(t time.Time) {
	var b [16]byte
	m.put(DELocalTime, m.own(t.AppendFormat(b[:0], "150405")))
	m.put(DELocalDate, m.own(t.AppendFormat(b[:0], "0102")))
}

// TransmissionTime returns DE7 read as a UTC time in the year that puts it
// nearest to now (DE7 carries no year). It returns a format error when DE7 is
// absent or not a valid date and time.
func (m *Message) TransmissionTime(now time.Time) (time.Time, error) {
	v, ok := m.String(DETransmission)
	if !ok {
		return time.Time{}, formatErr(ErrWrongType, DETransmission, "is absent")
	}
	now = now.UTC()
	var best time.Time
	for _, y := range []int{now.Year() - 1, now.Year(), now.Year() + 1} {
		t, err := time.Parse("20060102150405", strconv.Itoa(y)+v)
		if err != nil {
			continue // 29 February outside a leap year, or not a date at all
		}
		if best.IsZero() || absDur(t.Sub(now)) < absDur(best.Sub(now)) {
			best = t
		}
	}
	if best.IsZero() {
		return time.Time{}, formatErr(ErrBadCharacters, DETransmission, "must be a valid MMDDhhmmss")
	}
	return best, nil
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
