package clearing

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/money"
)

// FileType and FileVersion head every clearing file. Version 2 added the
// credit records (C, refunds) and the trailer's credit totals; version 1
// files (purchases only) are still read, and written again as version 1.
const (
	FileType    = "TWCLR"
	FileVersion = "2"
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
// refused rather than escaped; and for a credit record in a version 1 file,
// or a version it does not know.
func (f File) Marshal() ([]byte, error) {
	v := f.version()
	if v != "1" && v != FileVersion {
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
		if err := line(name, rec, strconv.Itoa(i+1), d.LocalDate, d.LocalTime, d.RRN, d.STAN, d.Terminal, d.Merchant, d.PANLast4,
			strconv.FormatInt(d.Amount, 10), fmt.Sprintf("%03d", d.Currency), d.AuthCode, d.Bank, d.Acquirer); err != nil {
			return nil, err
		}
	}
	trailer := []string{"T", strconv.Itoa(len(f.Details)), totals(f.Totals())}
	if v != "1" {
		trailer = append(trailer, totals(f.Credits()))
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

// ParseFile reads a clearing file of version 1 or 2. It returns a
// fault.Invalid "bad_clearing_file" error naming the line (never a value)
// for a header it does not know, a credit record in a version 1 file, a record of the wrong shape, a sequence number that is not
// the next one, a detail that is not a valid amount, last-four or date, or
// a trailer whose count or totals do not match the details. It never
// panics.
func ParseFile(r io.Reader) (File, error) {
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
			if len(fields) != 6 || fields[0] != "H" || fields[1] != FileType || (fields[2] != "1" && fields[2] != FileVersion) {
				return File{}, bad(n, "not a %s version 1 or %s header", FileType, FileVersion)
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
			if len(fields) != 14 {
				return File{}, bad(n, "a detail record has 14 fields, got %d", len(fields))
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
			f.Details = append(f.Details, Detail{Credit: fields[0] == "C", Seq: seq, LocalDate: fields[2], LocalTime: fields[3], RRN: fields[4], STAN: fields[5],
				Terminal: fields[6], Merchant: fields[7], PANLast4: fields[8], Amount: amt, Currency: cur, AuthCode: fields[11],
				Bank: fields[12], Acquirer: fields[13]})
		case fields[0] == "T":
			want := 4
			if f.Header.Version == "1" {
				want = 3
			}
			if len(fields) != want {
				return File{}, bad(n, "a trailer has %d fields", want)
			}
			if c, err := strconv.Atoi(fields[1]); err != nil || c != len(f.Details) {
				return File{}, bad(n, "the trailer counts %s records, the file has %d", safeNum(fields[1]), len(f.Details))
			}
			if fields[2] != totals(f.Totals()) || (want == 4 && fields[3] != totals(f.Credits())) {
				return File{}, bad(n, "the trailer's totals do not match the records")
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

func safeNum(s string) string {
	if len(s) > 9 || strings.Trim(s, "0123456789") != "" {
		return "?"
	}
	return s
}

// ClearingFiles returns the day's clearing file of each bank that has
// posted presentments or credited refunds, by bank id: its presentments
// (D), then its refunds (C).
func (r Report) ClearingFiles() map[string]File {
	out := map[string]File{}
	for _, it := range r.Items {
		if it.Outcome == Flagged {
			continue
		}
		a := it.auth
		f, ok := out[it.Bank]
		if !ok {
			f = File{Header: Header{Date: r.Date, Party: it.Bank, CreatedAt: r.CreatedAt.Truncate(time.Second)}}
		}
		f.Details = append(f.Details, Detail{LocalDate: localDate(r.Date, a.LocalDate), LocalTime: a.LocalTime, RRN: a.RRN, STAN: a.STAN,
			Terminal: a.Terminal, Merchant: a.Merchant, PANLast4: a.PANLast4, Amount: it.Amount, Currency: a.Currency,
			AuthCode: a.AuthCode, Bank: a.BankID, Acquirer: a.Acquirer})
		out[it.Bank] = f
	}
	for _, it := range r.Refunds {
		if _, ok := out[it.Bank]; !ok && it.Outcome == Credited {
			out[it.Bank] = File{Header: Header{Date: r.Date, Party: it.Bank, CreatedAt: r.CreatedAt.Truncate(time.Second)}}
		}
	}
	for k, f := range out {
		f.Details = append(f.Details, r.refundDetails(k)...)
		for i := range f.Details {
			f.Details[i].Seq = i + 1
		}
		out[k] = f
	}
	return out
}

// localDate gives DE13 (MMDD) the year that puts it nearest the business
// date (YYYYMMDD).
func localDate(business, mmdd string) string {
	bd, err := time.Parse("20060102", business)
	if err != nil || len(mmdd) != 4 {
		return business
	}
	best := ""
	var bestD time.Duration
	for _, y := range []int{bd.Year() - 1, bd.Year(), bd.Year() + 1} {
		t, err := time.Parse("20060102", strconv.Itoa(y)+mmdd)
		if err != nil {
			continue
		}
		d := t.Sub(bd)
		if d < 0 {
			d = -d
		}
		if best == "" || d < bestD {
			best, bestD = t.Format("20060102"), d
		}
	}
	if best == "" {
		return business
	}
	return best
}

// Text returns the report as text tables: the banks' positions, the
// acquirers', and the flagged presentments.
func (r Report) Text() string {
	var b bytes.Buffer
	amt := func(m int64) string { return money.New(m, money.CNY).String() }
	fmt.Fprintf(&b, "Clearing of %s (created %s)\n", r.Date, r.CreatedAt.Format(time.RFC3339))
	if r.Expired > 0 {
		fmt.Fprintf(&b, "%d expired holds released before clearing\n", r.Expired)
	}
	fmt.Fprintln(&b)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "issuer\tpresented\tposted\tposted amount\tflagged\tflagged amount\trefunds\trefund amount\tnet position\t")
	var pres, posted, flagged, refunds int
	var postedAmt, flaggedAmt, refundAmt, net int64
	for _, l := range r.Banks {
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%d\t%s\t%d\t%s\t%s\t\n", l.Bank, l.Presented, l.Posted, amt(l.PostedAmount), l.Flagged, amt(l.FlaggedAmount),
			l.Refunds, amt(l.RefundAmount), amt(l.Net))
		pres, posted, flagged, refunds = pres+l.Presented, posted+l.Posted, flagged+l.Flagged, refunds+l.Refunds
		postedAmt, flaggedAmt, refundAmt, net = postedAmt+l.PostedAmount, flaggedAmt+l.FlaggedAmount, refundAmt+l.RefundAmount, net+l.Net
	}
	fmt.Fprintf(w, "total\t%d\t%d\t%s\t%d\t%s\t%d\t%s\t%s\t\n", pres, posted, amt(postedAmt), flagged, amt(flaggedAmt), refunds, amt(refundAmt), amt(net))
	w.Flush()
	fmt.Fprintln(&b)
	w = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "acquirer\tpurchases\trefunds\tnet position\t")
	for _, l := range r.Acquirers {
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t\n", l.Acquirer, l.Count, l.Refunds, amt(l.Net))
	}
	fmt.Fprintf(w, "network\t\t\t%s\t\n", amt(r.Network))
	w.Flush()
	if flags := r.Flags(); len(flags) > 0 {
		fmt.Fprintf(&b, "\nFlagged, not posted (%d):\n", len(flags))
		for _, it := range flags {
			fmt.Fprintf(&b, "  %s rrn %s card ending %s: %s presented, %s held — %s\n", it.Bank, strings.TrimSpace(it.RRN), it.PANLast4,
				amt(it.Amount), amt(it.Held), it.Reason)
		}
	}
	if flags := r.RefundFlags(); len(flags) > 0 {
		fmt.Fprintf(&b, "\nRefunds flagged, not netted (%d):\n", len(flags))
		for _, it := range flags {
			fmt.Fprintf(&b, "  %s rrn %s card ending %s: %s refunded — %s\n", it.Bank, strings.TrimSpace(it.RRN), it.PANLast4, amt(it.Amount), it.Reason)
		}
	}
	return b.String()
}

// Write writes the report (report-YYYYMMDD.txt and .json) and each bank's
// clearing file (TWCLR-YYYYMMDD-<bank>.txt) into dir, and returns the
// report with the files' paths. It fails with a fault.Unavailable error
// when dir cannot be written, and like File.Marshal.
func Write(dir string, r Report) (Report, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return r, fault.Wrap(err, fault.Unavailable, "clearing_write", "cannot create %s", dir)
	}
	files := r.ClearingFiles()
	r.Files = nil
	write := func(name string, data []byte) error {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o640); err != nil {
			return fault.Wrap(err, fault.Unavailable, "clearing_write", "cannot write %s", p)
		}
		r.Files = append(r.Files, p)
		return nil
	}
	for _, bankID := range sortedKeys(files) {
		data, err := files[bankID].Marshal()
		if err != nil {
			return r, err
		}
		if err := write(fmt.Sprintf("TWCLR-%s-%s.txt", r.Date, bankID), data); err != nil {
			return r, err
		}
	}
	if err := write("report-"+r.Date+".txt", []byte(r.Text())); err != nil {
		return r, err
	}
	j, _ := json.MarshalIndent(r, "", "  ")
	if err := write("report-"+r.Date+".json", append(j, '\n')); err != nil {
		return r, err
	}
	return r, nil
}
