// Package clearfile is the clearing file of the card network
// (docs/iso8583.md): what the network's clearing writes for each issuing
// bank and what the bank's issuer host reads — with the validating reader
// Parse, which refuses a damaged file whole — and posts, answering with an
// Ack. Both sides use it; it depends on neither.
package clearfile

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/promo"
)

// FileType and FileVersion head every clearing file. Version 2 added the
// credit records (C, refunds) and the trailer's credit totals; version 3
// the authorization's transmission time (DE7) to every record, so that the
// issuer finds the authorization it holds (its identity is DE7, DE11 and
// DE41); version 4 the merchant category, the card's PAR and the
// promotion of a discounted purchase or of the refund of one to every
// record, and the trailer's promotion totals (promo.go). Versions 1 to 3
// are still read, and written again as they were.
const (
	FileType    = "TWCLR"
	FileVersion = "4"
)

// Header is a clearing file's first record.
type Header struct {
	Version   string    // the format version; "" writes FileVersion
	Date      string    // business date, YYYYMMDD
	Party     string    // whose file: the issuing bank's id
	CreatedAt time.Time // UTC, to the second
}

// Detail is one record of a clearing file: a presentment (a debit to the
// card holder, record D) or a refund (a credit, record C). It carries the
// last four digits of the card number and nothing more of it.
type Detail struct {
	Credit    bool // a refund: record C
	Seq       int
	LocalDate string // YYYYMMDD
	LocalTime string // hhmmss
	RRN       string
	STAN      string
	Terminal  string
	Merchant  string
	PANLast4  string
	Amount    int64 // minor units
	Currency  int   // ISO 4217 numeric
	AuthCode  string
	Bank      string
	Acquirer  string
	// Transmission is the authorization's (or the refund's) DE7,
	// MMDDhhmmss; version 3 and later.
	Transmission string
	// MCC is the merchant category (DE18) and PAR the card's payment
	// account reference (DE123 DF02), for the issuer's points programme;
	// Promo the promotion of a discounted purchase (Amount is then what
	// the card holder is charged, Promo.Gross what the merchant is
	// settled) or of a refund of one (Amount the card holder's part,
	// Promo.Gross what the merchant gives back, Promo.Shares the funders'
	// parts); version 4 and later (promo.go). Read back, Promo's Merchant,
	// CardBank and Net are the record's merchant, bank and amount, and its
	// Identity is empty.
	MCC   string
	PAR   string
	Promo *promo.Redemption
}

// File is a clearing file: header, details, and (implied) trailer.
type File struct {
	Header  Header
	Details []Detail
}

// Totals returns the sum of the presentments' (D) amounts per currency.
func (f File) Totals() map[int]int64 { return f.sums(false) }

// Credits returns the sum of the refunds' (C) amounts per currency.
func (f File) Credits() map[int]int64 { return f.sums(true) }

func (f File) sums(credit bool) map[int]int64 {
	out := map[int]int64{}
	for _, d := range f.Details {
		if d.Credit == credit {
			out[d.Currency] += d.Amount
		}
	}
	return out
}

func (f File) version() string {
	if f.Header.Version == "" {
		return FileVersion
	}
	return f.Header.Version
}

// Marshal writes the file in the pipe-separated format of docs/iso8583.md.
// It returns a fault.Invalid "bad_clearing_record" error (naming the record,
// never a value) for a field holding '|' or a line break: such a record is
// refused rather than escaped; for an amount that is not positive, a
// version 4 field that does not hold (promo.go) or one in an earlier
// version; and for a credit record in a version 1 file, or a version it
// does not know.
func (f File) Marshal() ([]byte, error) {
	v := f.version()
	if !known(v) {
		return nil, fault.E(fault.Invalid, "bad_clearing_record", "clearing file: unknown version")
	}
	var b bytes.Buffer
	line := func(rec string, fields ...string) error {
		for _, v := range fields {
			if strings.ContainsAny(v, "|\r\n") {
				return fault.E(fault.Invalid, "bad_clearing_record", "clearing file: a field of a %s record holds '|' or a line break", rec)
			}
		}
		b.WriteString(strings.Join(fields, "|"))
		b.WriteByte('\n')
		return nil
	}
	if err := line("header", "H", FileType, v, f.Header.Date, f.Header.Party, f.Header.CreatedAt.UTC().Format("20060102T150405Z")); err != nil {
		return nil, err
	}
	for i, d := range f.Details {
		rec, name := "D", "detail"
		if d.Credit {
			if v == "1" {
				return nil, fault.E(fault.Invalid, "bad_clearing_record", "clearing file: a version 1 file has no credit records")
			}
			rec, name = "C", "credit"
		}
		if d.Amount <= 0 {
			return nil, fault.E(fault.Invalid, "bad_clearing_record", "clearing file: %s record %d: the amount must be positive", name, i+1)
		}
		fields := []string{rec, strconv.Itoa(i + 1), d.LocalDate, d.LocalTime, d.RRN, d.STAN, d.Terminal, d.Merchant, d.PANLast4,
			strconv.FormatInt(d.Amount, 10), fmt.Sprintf("%03d", d.Currency), d.AuthCode, d.Bank, d.Acquirer}
		if v >= "3" {
			fields = append(fields, d.Transmission)
		}
		if v >= "4" {
			if err := checkPromo(d); err != "" {
				return nil, fault.E(fault.Invalid, "bad_clearing_record", "clearing file: %s record %d: %s", name, i+1, err)
			}
			fields = append(fields, promoFields(d)...)
		} else if d.MCC != "" || d.PAR != "" || d.Promo != nil {
			return nil, fault.E(fault.Invalid, "bad_clearing_record", "clearing file: a version %s file has no MCC, PAR or promotion (%s record %d)", v, name, i+1)
		}
		if err := line(name, fields...); err != nil {
			return nil, err
		}
	}
	trailer := []string{"T", strconv.Itoa(len(f.Details)), totals(f.Totals())}
	if v != "1" {
		trailer = append(trailer, totals(f.Credits()))
	}
	if v >= "4" {
		trailer = append(trailer, totals(f.PromoDebits()), totals(f.PromoCredits()))
	}
	if err := line("trailer", trailer...); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func totals(m map[int]int64) string {
	cur := make([]int, 0, len(m))
	for c := range m {
		cur = append(cur, c)
	}
	sort.Ints(cur)
	parts := make([]string, len(cur))
	for i, c := range cur {
		parts[i] = fmt.Sprintf("%03d:%d", c, m[c])
	}
	return strings.Join(parts, ";")
}

// detailFields are the formats of a detail record's text fields (the ones
// not checked by their own parse), by field index, as docs/iso8583.md
// gives them: every field is checked, so that a damaged file is refused
// whole rather than read with changed content.
var detailFields = map[int]struct {
	name string
	ok   func(string) bool
	rule string
}{
	4:  {"RRN", func(v string) bool { return an(v, 12) }, "must be 12 letters or digits, space padded on the right (DE37 an12)"},
	5:  {"STAN", func(v string) bool { return digits(v, 6, 6) && v != "000000" }, "must be 6 digits, 000001-999999 (DE11 n6)"},
	6:  {"terminal", func(v string) bool { return ans(v, 8) }, "must be 8 printable ASCII characters, not all spaces (DE41 ans8)"},
	7:  {"merchant", func(v string) bool { return ans(v, 15) }, "must be 15 printable ASCII characters, not all spaces (DE42 ans15)"},
	11: {"auth code", func(v string) bool { return an(v, 6) }, "must be 6 letters or digits, space padded on the right (DE38 an6)"},
	12: {"bank", func(v string) bool { return bankID.MatchString(v) }, bankIDRule},
	13: {"acquirer", func(v string) bool { return digits(v, 1, 11) }, "must be 1 to 11 digits (DE32 n..11)"},
}

// bankID is the form of a bank's id (as bank.Config checks it).
var bankID = regexp.MustCompile(`^[a-z][a-z0-9_-]{1,15}$`)

const bankIDRule = "must be a bank id: a lower-case letter, then 1 to 15 lower-case letters, digits, '_' or '-'"

// badDetailField returns the index of the first text field of a detail
// record (fields, 14 of them) that breaks its format, and the rule broken;
// 0 when all hold. The bank field must be the file's own bank (party).
func badDetailField(fields []string, party string) (int, string) {
	for _, i := range []int{4, 5, 6, 7, 11, 12, 13} {
		if d := detailFields[i]; !d.ok(fields[i]) {
			return i, d.rule
		}
	}
	if fields[12] != party {
		return 12, "must be the bank whose file this is (the header's field 5)"
	}
	return 0, ""
}

// an reports whether v is n ASCII letters or digits, of which any trailing
// ones may be spaces (padding), the first not.
func an(v string, n int) bool {
	if len(v) != n {
		return false
	}
	t := strings.TrimRight(v, " ")
	if t == "" {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// ans reports whether v is n printable ASCII characters (0x20-0x7E), not
// all spaces.
func ans(v string, n int) bool {
	if len(v) != n || strings.TrimSpace(v) == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7E {
			return false
		}
	}
	return true
}

// digits reports whether v is min to max ASCII digits.
func digits(v string, min, max int) bool {
	return len(v) >= min && len(v) <= max && strings.Trim(v, "0123456789") == ""
}

// MaxFileLine bounds a clearing file's line.
const MaxFileLine = 4096

// Parse reads a clearing file of version 1 to 4. It returns a
// fault.Invalid "bad_clearing_file" error naming the line (never a value)
// for a header it does not know, a credit record in a version 1 file, a
// record of the wrong shape, a sequence number that is not the next one, a
// detail that is not a valid amount, last-four or date, a promotion whose
// arithmetic does not hold (promo.go), or a trailer whose count or totals
// do not match the details. It never panics.
func Parse(r io.Reader) (File, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), MaxFileLine)
	bad := func(n int, format string, args ...any) error {
		return fault.E(fault.Invalid, "bad_clearing_file", "clearing file line %d: "+format, append([]any{n}, args...)...)
	}
	var f File
	n := 0
	trailer := false
	for sc.Scan() {
		n++
		fields := strings.Split(sc.Text(), "|")
		if trailer {
			return File{}, bad(n, "a record after the trailer")
		}
		switch {
		case n == 1:
			if len(fields) != 6 || fields[0] != "H" || fields[1] != FileType || !known(fields[2]) {
				return File{}, bad(n, "not a %s version 1 to %s header", FileType, FileVersion)
			}
			if _, err := time.Parse("20060102", fields[3]); err != nil {
				return File{}, bad(n, "bad business date")
			}
			if !bankID.MatchString(fields[4]) {
				return File{}, bad(n, "field 5 (bank) %s", bankIDRule)
			}
			at, err := time.Parse("20060102T150405Z", fields[5])
			if err != nil {
				return File{}, bad(n, "bad creation time")
			}
			f.Header = Header{Version: fields[2], Date: fields[3], Party: fields[4], CreatedAt: at}
		case fields[0] == "D" || (fields[0] == "C" && f.Header.Version != "1"):
			if want := detailLen(f.Header.Version); len(fields) != want && (want < 21 || len(fields) < want+3 || (len(fields)-want)%3 != 0) {
				if want >= 21 {
					return File{}, bad(n, "a detail record has %d fields, or 3 more per funder share, got %d", want, len(fields))
				}
				return File{}, bad(n, "a detail record has %d fields, got %d", want, len(fields))
			}
			seq, err := strconv.Atoi(fields[1])
			if err != nil || seq != len(f.Details)+1 {
				return File{}, bad(n, "sequence number is not %d", len(f.Details)+1)
			}
			amt, err := strconv.ParseInt(fields[9], 10, 64)
			if err != nil || amt <= 0 || fields[9][0] == '+' {
				return File{}, bad(n, "bad amount")
			}
			cur, err := strconv.Atoi(fields[10])
			if err != nil || len(fields[10]) != 3 || cur <= 0 {
				return File{}, bad(n, "bad currency")
			}
			if len(fields[8]) != 4 || strings.Trim(fields[8], "0123456789") != "" {
				return File{}, bad(n, "the card field must be exactly the last four digits")
			}
			if _, err := time.Parse("20060102150405", fields[2]+fields[3]); err != nil {
				return File{}, bad(n, "bad local date or time")
			}
			if i, why := badDetailField(fields, f.Header.Party); i > 0 {
				return File{}, bad(n, "field %d (%s) %s", i+1, detailFields[i].name, why)
			}
			d := Detail{Credit: fields[0] == "C", Seq: seq, LocalDate: fields[2], LocalTime: fields[3], RRN: fields[4], STAN: fields[5],
				Terminal: fields[6], Merchant: fields[7], PANLast4: fields[8], Amount: amt, Currency: cur, AuthCode: fields[11],
				Bank: fields[12], Acquirer: fields[13]}
			if len(fields) > 14 {
				if !transmission(fields[14]) {
					return File{}, bad(n, "field 15 (transmission) must be the DE7 MMDDhhmmss")
				}
				d.Transmission = fields[14]
			}
			if len(fields) > 15 {
				if i, why := readPromo(&d, fields); why != "" {
					if i > 0 {
						return File{}, bad(n, "field %d (%s) %s", i+1, promoFieldName(i), why)
					}
					return File{}, bad(n, "%s", why)
				}
			}
			f.Details = append(f.Details, d)
		case fields[0] == "T":
			want := 4
			switch {
			case f.Header.Version == "1":
				want = 3
			case f.Header.Version >= "4":
				want = 6
			}
			if len(fields) != want {
				return File{}, bad(n, "a trailer has %d fields", want)
			}
			if c, err := strconv.Atoi(fields[1]); err != nil || c != len(f.Details) {
				return File{}, bad(n, "the trailer counts %s records, the file has %d", safeNum(fields[1]), len(f.Details))
			}
			if fields[2] != totals(f.Totals()) || (want >= 4 && fields[3] != totals(f.Credits())) {
				return File{}, bad(n, "the trailer's totals do not match the records")
			}
			if want == 6 && (fields[4] != totals(f.PromoDebits()) || fields[5] != totals(f.PromoCredits())) {
				return File{}, bad(n, "the trailer's promotion totals do not match the records")
			}
			trailer = true
		default:
			return File{}, bad(n, "unknown record type")
		}
	}
	if err := sc.Err(); err != nil {
		return File{}, bad(n+1, "unreadable (a line longer than %d bytes?)", MaxFileLine)
	}
	if n == 0 {
		return File{}, bad(1, "the file is empty")
	}
	if !trailer {
		return File{}, bad(n, "the file has no trailer")
	}
	return f, nil
}

// detailLen is how many fields a detail record of a version has (in
// version 4, without funder shares: each adds 3).
func detailLen(version string) int {
	switch {
	case version >= "4":
		return 21
	case version >= "3":
		return 15
	}
	return 14
}

// known reports whether v is a version this package reads and writes.
func known(v string) bool { return v == "1" || v == "2" || v == "3" || v == FileVersion }

// transmission reports whether v is a DE7: MMDDhhmmss, a real date and time.
func transmission(v string) bool {
	if !digits(v, 10, 10) {
		return false
	}
	_, err := time.Parse("2006"+"0102150405", "2000"+v) // a leap year: 0229 is a date
	return err == nil
}

func safeNum(s string) string {
	if len(s) > 9 || strings.Trim(s, "0123456789") != "" {
		return "?"
	}
	return s
}
