package se

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash/crc32"
	"sort"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
)

// The element's file (format tapwallet-se/2) has three parts, so that a
// tap changes only what it uses, in place, while installs, wipes and
// compactions still replace the whole file atomically (WriteFile):
//
//   - the head: one line of JSON (the device key, each card's counter at
//     the last full write, the applets' data, how many key slots and how
//     many bytes of log follow), padded with spaces to a 512-byte
//     boundary;
//   - the key slots: slotSize bytes each, one limited-use key as a line of
//     JSON padded with spaces ({"t":token,"i":index,"x":expiry,"k":key in
//     base64}), or all zero bytes once the key is used or destroyed. A
//     slot lies inside one 512-byte sector, so a sector written whole
//     never leaves half a key;
//   - the log: zero bytes made ready by the full write, then the changes
//     made since, one line each — 8 hex digits of the CRC-32C of the JSON,
//     a space, the JSON of a record, a newline. The first zero byte ends
//     it; a line that does not check ends it too (a write a power cut
//     tore), and the file is then written whole again.
//
// A tap writes zeros over its key's slot, appends its record (counter,
// keys used or found expired) and makes both durable with one
// fdatasync(2) before it answers: the used key's bytes are gone from the
// file when the tap answers, and a power cut before that leaves the key
// either whole and unused or destroyed — never usable after it was used.
const (
	formatV2   = "tapwallet-se/2"
	slotSize   = 128
	sectorSize = 512
	logMin     = 256 << 10 // bytes of log a full write makes ready, at least
	logMax     = 4 << 20
)

// A full write makes room for logPerRec of the largest record, logFloor
// bytes at least; tests lower them to make compactions frequent.
var (
	logFloor  = logMin
	logPerRec = 128
)

// head is the first line of the file.
type head struct {
	Format    string            `json:"format"`
	DeviceKey []byte            `json:"device_key"` // PKCS#8
	ATC       map[string]int    `json:"atc,omitempty"`
	Applets   map[string][]byte `json:"applets,omitempty"`
	Slots     int               `json:"slots"`
	Log       int               `json:"log"`
}

// slot is a key slot's JSON.
type slot struct {
	Token     string `json:"t"`
	Index     int    `json:"i"`
	ExpiresAt int64  `json:"x"`
	Key       []byte `json:"k"`
}

// record is one change in the log: a card's counter and the keys a tap
// used or found expired, or an applet's new data (Delete: none).
type record struct {
	Token  string `json:"t,omitempty"`
	ATC    int    `json:"atc,omitempty"`
	Used   []int  `json:"used,omitempty"`
	Applet string `json:"a,omitempty"`
	Data   []byte `json:"d,omitempty"`
	Delete bool   `json:"del,omitempty"`
}

// layout is where the parts of a file in format 2 lie.
type layout struct {
	slotAt, logAt, logEnd int64
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func roundUp(n, to int) int { return (n + to - 1) / to * to }

// encodeSlot is a key's slot; it fails if the card number is too long for
// a slot.
func encodeSlot(token string, k luk) ([]byte, error) {
	j, err := json.Marshal(slot{Token: token, Index: k.Index, ExpiresAt: k.ExpiresAt, Key: k.Key})
	if err != nil || len(j) > slotSize-1 {
		return nil, fault.E(fault.Invalid, "se_token", "the card number is too long for the secure element")
	}
	b := bytes.Repeat([]byte{' '}, slotSize)
	copy(b, j)
	b[slotSize-1] = '\n'
	return b, nil
}

// encodeRecord is a record's line in the log.
func encodeRecord(r record) []byte {
	j, _ := json.Marshal(r) // a record has nothing json cannot encode
	line := make([]byte, 9, 9+len(j)+1)
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.Checksum(j, castagnoli))
	hex.Encode(line, sum[:])
	line[8] = ' '
	return append(append(line, j...), '\n')
}

// encode is the whole file for st: the head, a slot for each key (its
// slot number set in st) and the log's room, zeroed.
func encode(st *state) ([]byte, layout, error) {
	h := head{Format: formatV2, DeviceKey: st.DeviceKey, ATC: map[string]int{}, Applets: st.Applets}
	tokens := make([]string, 0, len(st.Tokens))
	largest := 0
	for t, tk := range st.Tokens {
		tokens = append(tokens, t)
		h.Slots += len(tk.Keys)
		if tk.ATC != 0 {
			h.ATC[t] = tk.ATC
		}
	}
	sort.Strings(tokens)
	for name, d := range st.Applets {
		largest = max(largest, len(name)+len(d)*4/3+64)
	}
	h.Log = roundUp(min(max(logFloor, logPerRec*largest), max(logMax, 2*largest)), sectorSize)
	j, err := json.Marshal(h)
	if err != nil {
		return nil, layout{}, fault.Wrap(err, fault.Internal, "se_store", "encode the secure element")
	}
	var l layout
	l.slotAt = int64(roundUp(len(j)+1, sectorSize))
	l.logAt = l.slotAt + int64(h.Slots*slotSize)
	l.logEnd = l.logAt + int64(h.Log)
	b := make([]byte, l.logEnd)
	copy(b, j)
	for i := len(j); i < int(l.slotAt); i++ {
		b[i] = ' '
	}
	b[l.slotAt-1] = '\n'
	n := 0
	for _, t := range tokens {
		tk := st.Tokens[t]
		for i := range tk.Keys {
			s, err := encodeSlot(t, tk.Keys[i])
			if err != nil {
				return nil, layout{}, err
			}
			copy(b[l.slotAt+int64(n*slotSize):], s)
			tk.Keys[i].slot = n
			n++
		}
	}
	return b, l, nil
}

// decoded is what a file holds: the state, where its parts lie, where the
// next record goes, and whether the file must be written whole again
// before the next change (a torn record, a damaged slot, a used key's
// bytes still in its slot, the old format).
type decoded struct {
	st     state
	l      layout
	end    int64
	repair bool
}

// decode reads a file in format 2, or in the first format (the whole state
// as one JSON document, keys inline), which it marks for repair.
func decode(b []byte) (decoded, error) {
	var d decoded
	nl := bytes.IndexByte(b, '\n')
	first := b
	if nl >= 0 {
		first = b[:nl]
	}
	var h head
	if err := json.Unmarshal(first, &h); err != nil || h.Format == "" {
		st, err := decodeLegacy(b)
		d.st, d.repair = st, true
		return d, err
	}
	damaged := fault.E(fault.Invalid, "se_store", "the secure element file is damaged")
	if h.Format != formatV2 || h.Slots < 0 || h.Log < 0 {
		return d, damaged
	}
	d.l.slotAt = int64(roundUp(nl+1, sectorSize))
	d.l.logAt = d.l.slotAt + int64(h.Slots)*slotSize
	d.l.logEnd = d.l.logAt + int64(h.Log)
	if int64(len(b)) < d.l.logAt {
		return d, damaged
	}
	if int64(len(b)) < d.l.logEnd {
		d.l.logEnd, d.repair = int64(len(b)), true
	}
	d.st = state{DeviceKey: h.DeviceKey, Tokens: map[string]*tokenKeys{}, Applets: h.Applets}
	tk := func(t string) *tokenKeys {
		k := d.st.Tokens[t]
		if k == nil {
			k = &tokenKeys{}
			d.st.Tokens[t] = k
		}
		return k
	}
	for t, atc := range h.ATC {
		tk(t).ATC = atc
	}
	for i := 0; i < h.Slots; i++ {
		raw := b[d.l.slotAt+int64(i*slotSize):][:slotSize]
		if allZero(raw) {
			continue
		}
		var s slot
		// A slot a power cut left half zeroed holds a zero byte, which no
		// JSON holds: the key is treated as destroyed.
		if bytes.IndexByte(raw, 0) >= 0 || json.Unmarshal(raw, &s) != nil || len(s.Key) != emv.KeySize || s.Token == "" {
			d.repair = true
			continue
		}
		k := tk(s.Token)
		k.Keys = append(k.Keys, luk{Index: s.Index, Key: s.Key, ExpiresAt: s.ExpiresAt, slot: i})
	}
	for _, k := range d.st.Tokens {
		sort.Slice(k.Keys, func(i, j int) bool { return k.Keys[i].Index < k.Keys[j].Index })
	}
	pos := d.l.logAt
	for pos < d.l.logEnd && b[pos] != 0 {
		r, n, ok := decodeRecord(b[pos:d.l.logEnd])
		if !ok {
			d.repair = true // a torn record ends the log
			break
		}
		if left := d.st.apply(r); left {
			d.repair = true // a used key's bytes are still in its slot
		}
		pos += int64(n)
	}
	d.end = pos
	if !d.repair && !allZero(b[pos:d.l.logEnd]) {
		d.repair = true // bytes after the end: a record torn at its start
	}
	return d, nil
}

// decodeRecord reads the record at the start of b and its length.
func decodeRecord(b []byte) (r record, n int, ok bool) {
	nl := bytes.IndexByte(b, '\n')
	if nl < 10 || b[8] != ' ' {
		return r, 0, false
	}
	var sum [4]byte
	if _, err := hex.Decode(sum[:], b[:8]); err != nil {
		return r, 0, false
	}
	j := b[9:nl]
	if crc32.Checksum(j, castagnoli) != binary.BigEndian.Uint32(sum[:]) || json.Unmarshal(j, &r) != nil {
		return r, 0, false
	}
	return r, nl + 1, true
}

func decodeLegacy(b []byte) (state, error) {
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fault.E(fault.Invalid, "se_store", "the secure element file is damaged")
	}
	if st.Tokens == nil {
		st.Tokens = map[string]*tokenKeys{}
	}
	for _, tk := range st.Tokens {
		for i := range tk.Keys {
			tk.Keys[i].slot = -1
		}
	}
	return st, nil
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.NativeEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// apply makes a record's change in st, wiping the bytes of the keys it
// destroys; left reports a destroyed key that still had a slot (its
// bytes may still be on disk: the file is written whole again).
func (st *state) apply(r record) (left bool) {
	if r.Applet != "" {
		if r.Delete {
			delete(st.Applets, r.Applet)
			return false
		}
		if st.Applets == nil {
			st.Applets = map[string][]byte{}
		}
		st.Applets[r.Applet] = r.Data
		return false
	}
	tk := st.Tokens[r.Token]
	if tk == nil {
		tk = &tokenKeys{}
		st.Tokens[r.Token] = tk
	}
	tk.ATC = max(tk.ATC, r.ATC)
	keep := tk.Keys[:0]
	for _, k := range tk.Keys {
		if contains(r.Used, k.Index) {
			clear(k.Key)
			left = left || k.slot >= 0
			continue
		}
		keep = append(keep, k)
	}
	clear(tk.Keys[len(keep):])
	tk.Keys = keep
	return left
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
