package transit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/fault"
)

// The clearing file: what a gate uploads to its operator, in batches. It
// is text, one record per line, fields separated by '|':
//
//	TWCLR1|FILE-ID|CITY|TERMINAL|CREATED|COUNT
//	R|CARD|ATC|TYPE|AMOUNT|BALANCE|SEQ|DATETIME|TAC|MAC2|STATUS|LINE|STATION|ENTRY-LINE|ENTRY-STATION|ENTRY-AT|BASE|OFF
//	…
//	END|COUNT|SUM|SHA256
//
// FILE-ID is the gate's name for the file (unique per gate; an upload of
// the same file again is answered as before), TERMINAL the gate's 12 hex
// digits, CREATED Unix milliseconds. In a record: CARD 16 digits; ATC the
// card's offline counter of the transaction; TYPE 2 hex digits (09 CAPP
// purchase, 06 purchase); AMOUNT and BALANCE (after, may be negative) in
// fen; SEQ the SAM's sequence number; DATETIME 14 digits YYYYMMDDhhmmss
// (China time); TAC and MAC2 8 hex digits each (00000000 for a grey
// record); STATUS "final" (the card answered the debit) or "grey" (the
// gate lost the card between INITIALIZE and the answer and never learnt
// whether it debited); LINE and STATION where the gate stands; the
// ENTRY-* fields the journey's entry (0 if none; ENTRY-AT 14 digits or
// 0); BASE the fare before discounts and OFF the discounts, for audit.
// END repeats the count, gives the sum of AMOUNT over final records and
// the SHA-256 (hex) of every byte before the END line.

// Limits of a clearing file.
const (
	MaxFileBytes   = 8 << 20
	MaxFileRecords = 50000
)

// Record statuses.
const (
	StatusFinal = "final"
	StatusGrey  = "grey"
)

// Record is one transaction a gate made with a card.
type Record struct {
	Card         string
	ATC          uint16
	Type         byte
	Amount       int64
	BalanceAfter int64
	Seq          uint32
	DateTime     [7]byte
	TAC          [4]byte
	MAC2         [4]byte
	Status       string
	Line         uint16
	Station      uint16
	EntryLine    uint16
	EntryStation uint16
	EntryAt      [7]byte
	Base         int64
	Off          int64
}

// File is a clearing file.
type File struct {
	ID       string
	City     string
	Terminal [6]byte
	Created  time.Time
	Records  []Record
}

// Marshal writes the file. It fails with fault.Invalid "bad_clearing_file"
// if a field cannot be written (an ID or city with '|' or a newline).
func (f File) Marshal() ([]byte, error) {
	if !safeField(f.ID) || !safeField(f.City) || f.ID == "" || f.City == "" {
		return nil, fault.E(fault.Invalid, "bad_clearing_file", "file id and city must be non-empty and hold no '|' or line breaks")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "TWCLR1|%s|%s|%s|%d|%d\n", f.ID, f.City, hex.EncodeToString(f.Terminal[:]), f.Created.UnixMilli(), len(f.Records))
	var sum int64
	for _, r := range f.Records {
		if r.Status == StatusFinal {
			sum += r.Amount
		}
		fmt.Fprintf(&b, "R|%s|%d|%02x|%d|%d|%d|%s|%s|%s|%s|%d|%d|%d|%d|%s|%d|%d\n",
			r.Card, r.ATC, r.Type, r.Amount, r.BalanceAfter, r.Seq, hex.EncodeToString(r.DateTime[:]),
			hex.EncodeToString(r.TAC[:]), hex.EncodeToString(r.MAC2[:]), r.Status, r.Line, r.Station,
			r.EntryLine, r.EntryStation, dtField(r.EntryAt), r.Base, r.Off)
	}
	h := sha256.Sum256(b.Bytes())
	fmt.Fprintf(&b, "END|%d|%d|%s\n", len(f.Records), sum, hex.EncodeToString(h[:]))
	return b.Bytes(), nil
}

func dtField(d [7]byte) string {
	if d == ([7]byte{}) {
		return "0"
	}
	return hex.EncodeToString(d[:])
}

func safeField(s string) bool { return !strings.ContainsAny(s, "|\r\n") && len(s) <= 64 }

// ParseFile reads a clearing file strictly. It fails with fault.Invalid
// "bad_clearing_file" naming the line and field that is wrong (never
// quoting the input).
func ParseFile(b []byte) (File, error) {
	var f File
	if len(b) > MaxFileBytes {
		return f, badFile(0, "the file is larger than %d bytes", MaxFileBytes)
	}
	end := bytes.LastIndex(b, []byte("\nEND|"))
	if end < 0 {
		return f, badFile(0, "the file has no END line")
	}
	body, trailer := b[:end+1], b[end+1:]
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 1024), 4096)
	line := 0
	var want int
	for sc.Scan() {
		line++
		fields := strings.Split(sc.Text(), "|")
		if line == 1 {
			if len(fields) != 6 || fields[0] != "TWCLR1" {
				return f, badFile(line, "the header must be TWCLR1 and 5 fields")
			}
			f.ID, f.City = fields[1], fields[2]
			if f.ID == "" || len(f.ID) > 64 || f.City == "" || len(f.City) > 32 {
				return f, badFile(line, "the file id and city must be 1 to 64 and 1 to 32 characters")
			}
			if err := hexInto(fields[3], f.Terminal[:]); err != nil {
				return f, badFile(line, "the terminal must be 12 hex digits")
			}
			ms, err := strconv.ParseInt(fields[4], 10, 64)
			if err != nil || ms < 0 {
				return f, badFile(line, "the creation time must be Unix milliseconds")
			}
			f.Created = time.UnixMilli(ms).UTC()
			n, err := strconv.Atoi(fields[5])
			if err != nil || n < 0 || n > MaxFileRecords {
				return f, badFile(line, "the record count must be 0 to %d", MaxFileRecords)
			}
			want = n
			continue
		}
		if len(f.Records) >= want {
			return f, badFile(line, "more records than the header's count")
		}
		r, err := parseRecord(fields)
		if err != nil {
			return f, badFile(line, "%s", fault.MessageOf(err))
		}
		f.Records = append(f.Records, r)
	}
	if err := sc.Err(); err != nil {
		return f, badFile(line+1, "a line is too long")
	}
	if line == 0 {
		return f, badFile(1, "the file has no header")
	}
	if len(f.Records) != want {
		return f, badFile(line, "%d records, the header says %d", len(f.Records), want)
	}
	t := strings.TrimSuffix(string(trailer), "\n")
	parts := strings.Split(t, "|")
	if len(parts) != 4 || parts[0] != "END" || strings.Contains(t, "\n") {
		return f, badFile(line+1, "the END line must be END and 3 fields, last in the file")
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil || n != want {
		return f, badFile(line+1, "the END count does not match")
	}
	var sum int64
	for _, r := range f.Records {
		if r.Status == StatusFinal {
			sum += r.Amount
		}
	}
	if s, err := strconv.ParseInt(parts[2], 10, 64); err != nil || s != sum {
		return f, badFile(line+1, "the END sum does not match the records")
	}
	h := sha256.Sum256(body)
	if parts[3] != hex.EncodeToString(h[:]) {
		return f, badFile(line+1, "the SHA-256 does not match the file")
	}
	return f, nil
}

func badFile(line int, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if line > 0 {
		msg = fmt.Sprintf("line %d: %s", line, msg)
	}
	return fault.E(fault.Invalid, "bad_clearing_file", "clearing file %s", msg)
}

func hexInto(s string, dst []byte) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("length")
	}
	_, err := hex.Decode(dst, []byte(s))
	return err
}

func parseRecord(f []string) (Record, error) {
	var r Record
	bad := func(what string) error { return fault.E(fault.Invalid, "bad_record", "%s", what) }
	if len(f) != 18 || f[0] != "R" {
		return r, bad("a record must be R and 17 fields")
	}
	if _, err := epurse.ParseCardNumber(f[1]); err != nil {
		return r, bad("the card number must be 16 digits")
	}
	r.Card = f[1]
	u16 := func(s, what string) (uint16, error) {
		v, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			return 0, bad(what + " must be 0 to 65535")
		}
		return uint16(v), nil
	}
	var err error
	if r.ATC, err = u16(f[2], "the counter"); err != nil {
		return r, err
	}
	var typ [1]byte
	if hexInto(f[3], typ[:]) != nil || (typ[0] != epurse.TypeCAPP && typ[0] != epurse.TypePurchase) {
		return r, bad("the type must be 06 or 09")
	}
	r.Type = typ[0]
	if r.Amount, err = strconv.ParseInt(f[4], 10, 64); err != nil || r.Amount < 0 || r.Amount > 1<<31-1 {
		return r, bad("the amount must be 0 to 2147483647 fen")
	}
	if r.BalanceAfter, err = strconv.ParseInt(f[5], 10, 64); err != nil || r.BalanceAfter < -(1<<31) || r.BalanceAfter > 1<<31-1 {
		return r, bad("the balance must fit in 32 bits")
	}
	seq, err := strconv.ParseUint(f[6], 10, 32)
	if err != nil {
		return r, bad("the sequence number must be 0 to 4294967295")
	}
	r.Seq = uint32(seq)
	if hexInto(f[7], r.DateTime[:]) != nil {
		return r, bad("the date and time must be 14 digits")
	}
	if _, err := epurse.ParseDateTime(r.DateTime); err != nil || r.DateTime == ([7]byte{}) {
		return r, bad("the date and time must be YYYYMMDDhhmmss")
	}
	if hexInto(f[8], r.TAC[:]) != nil || hexInto(f[9], r.MAC2[:]) != nil {
		return r, bad("TAC and MAC2 must be 8 hex digits each")
	}
	r.Status = f[10]
	if r.Status != StatusFinal && r.Status != StatusGrey {
		return r, bad("the status must be final or grey")
	}
	if r.Line, err = u16(f[11], "the line"); err != nil {
		return r, err
	}
	if r.Station, err = u16(f[12], "the station"); err != nil {
		return r, err
	}
	if r.EntryLine, err = u16(f[13], "the entry line"); err != nil {
		return r, err
	}
	if r.EntryStation, err = u16(f[14], "the entry station"); err != nil {
		return r, err
	}
	if f[15] != "0" {
		if hexInto(f[15], r.EntryAt[:]) != nil {
			return r, bad("the entry time must be 14 digits or 0")
		}
		if _, err := epurse.ParseDateTime(r.EntryAt); err != nil || r.EntryAt == ([7]byte{}) {
			return r, bad("the entry time must be YYYYMMDDhhmmss")
		}
	}
	if r.Base, err = strconv.ParseInt(f[16], 10, 64); err != nil || r.Base < 0 || r.Base > 1<<31-1 {
		return r, bad("the base fare must be 0 to 2147483647 fen")
	}
	if r.Off, err = strconv.ParseInt(f[17], 10, 64); err != nil || r.Off < 0 || r.Off > 1<<31-1 {
		return r, bad("the discount must be 0 to 2147483647 fen")
	}
	return r, nil
}

// At returns the record's date and time.
func (r Record) At() time.Time {
	t, _ := epurse.ParseDateTime(r.DateTime)
	return t
}
