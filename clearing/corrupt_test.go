package clearing_test

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/clearing"
	"github.com/tapwallet/tapwallet/promo"
)

// fieldClass says how a field of a clearing file may be corrupted so that
// the result breaks its documented format (docs/iso8583.md): fixed-length
// fields break with any insertion or deletion; every field breaks with a
// character outside its alphabet. (A change inside the alphabet and the
// length — one digit for another — is content, not format: no reader can
// see it without the bank's own records.)
type fieldClass struct {
	fixed   bool   // fixed length: any insertion or deletion breaks it
	outside string // characters outside its alphabet, at any position
}

const (
	controlAndHigh = "\x00\t\x1b\x7f\xc3\xff"
	notDigits      = controlAndHigh + " +-.aZ"
	notAN          = controlAndHigh + "-./+_#"
)

// corruptible lists the fields of a detail record (by 0-based index) that
// the audit found unchecked, with their classes.
var corruptible = map[int]fieldClass{
	4:  {fixed: true, outside: notAN},                          // RRN an12
	5:  {fixed: true, outside: notDigits},                      // STAN n6
	6:  {fixed: true, outside: controlAndHigh},                 // terminal ans8
	7:  {fixed: true, outside: controlAndHigh},                 // merchant ans15
	11: {fixed: true, outside: notAN},                          // auth code an6
	12: {fixed: true, outside: "ABC" + controlAndHigh + " .|"}, // bank: must be the header's
	13: {fixed: false, outside: notDigits},                     // acquirer n..11
	14: {fixed: true, outside: notDigits},                      // transmission DE7 n10 (version 3)
}

// corruptions returns every corrupted form of v for its class.
func corruptions(v string, c fieldClass) []string {
	out := []string{"", v + strings.Repeat("9", 20), " " + v, v + " "}
	for i := 0; i <= len(v); i++ {
		for _, ch := range c.outside {
			out = append(out, v[:i]+string(ch)+v[i:]) // insert outside the alphabet
		}
		for _, b := range []byte(c.outside) {
			out = append(out, v[:i]+string([]byte{b})+v[i:]) // a single raw byte (invalid UTF-8 too)
		}
		if c.fixed {
			out = append(out, v[:i]+"0"+v[i:], v[:i]+"A"+v[i:]) // insert inside the alphabet: wrong length
		}
		if i == len(v) {
			break
		}
		for _, b := range []byte(c.outside) {
			out = append(out, v[:i]+string([]byte{b})+v[i+1:]) // replace outside the alphabet
		}
		if c.fixed {
			out = append(out, v[:i]+v[i+1:]) // delete: wrong length
		}
	}
	return out
}

// TestCorruptedFieldsRefused corrupts each checked field of each record of
// a valid clearing file in every way corruptions lists: every corrupted
// file is refused whole, with the line and the field named, or reads to
// exactly the same content (a trailing pad space is the one such case).
func TestCorruptedFieldsRefused(t *testing.T) {
	good, err := sampleFile().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want, err := clearing.ParseFile(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(good), "\n"), "\n")
	total, refused := 0, 0
	try := func(t *testing.T, line, field int, v string) {
		t.Helper()
		ls := append([]string(nil), lines...)
		fs := strings.Split(ls[line], "|")
		fs[field] = v
		ls[line] = strings.Join(fs, "|")
		total++
		got, err := clearing.ParseFile(strings.NewReader(strings.Join(ls, "\n") + "\n"))
		if err != nil {
			refused++
			msg := err.Error()
			if !strings.Contains(msg, fmt.Sprintf("line %d", line+1)) {
				t.Errorf("line %d field %d = %q: error %q does not name the line", line+1, field+1, v, msg)
			}
			// (a fulfilment or funder kind cut short is a piece of the
			// words the rule names)
			if strings.Contains(msg, v) && len(v) > 3 && !strings.Contains("instant statement_credit points network issuer merchant", strings.TrimSpace(v)) {
				t.Errorf("line %d field %d: error %q repeats the value", line+1, field+1, msg)
			}
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("line %d field %d = %q: accepted with changed content", line+1, field+1, v)
		}
	}
	for line := 1; line < len(lines)-1; line++ {
		fs := strings.Split(lines[line], "|")
		for field, c := range corruptible {
			for _, v := range corruptions(fs[field], c) {
				try(t, line, field, v)
			}
		}
	}
	// The version 4 fields of the records that carry them: a corruption
	// still in the field's form (an MCC emptied, a campaign id made longer)
	// is content, and skipped.
	for line := 1; line < len(lines)-1; line++ {
		fs := strings.Split(lines[line], "|")
		for field := 15; field < len(fs); field++ {
			c, form := v4Class(fs, field)
			for _, v := range corruptions(fs[field], c) {
				if form != nil && form.MatchString(v) {
					continue
				}
				try(t, line, field, v)
			}
		}
	}
	// The header's bank id.
	for _, v := range corruptions("icbc", fieldClass{fixed: false, outside: "ABC" + controlAndHigh + " ."}) {
		try(t, 0, 4, v)
	}
	t.Logf("%d corrupted files, %d refused, %d read the same", total, refused, total-refused)
	if refused == 0 {
		t.Fatal("nothing refused")
	}
}

// v4Class is how a version 4 field (index field of the record fs) may be
// corrupted, and the form of a value that is another valid value of it
// (nil: every change of the class is refused).
func v4Class(fs []string, field int) (fieldClass, *regexp.Regexp) {
	switch {
	case field == 15: // MCC n4 or empty
		return fieldClass{fixed: true, outside: notDigits}, regexp.MustCompile(`^$`)
	case field == 16: // PAR an29 or empty
		return fieldClass{fixed: true, outside: notAN + " "}, regexp.MustCompile(`^$`)
	case field == 17: // campaign id
		return fieldClass{outside: controlAndHigh + " .+#"}, regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	case field == 18, field >= 21 && (field-21)%3 == 0: // fulfilment, funder kind
		return fieldClass{fixed: true, outside: controlAndHigh + " .-"}, nil
	case field >= 21 && (field-21)%3 == 1: // funder: network, a bank id or a merchant id
		switch fs[field-1] {
		case "issuer":
			return fieldClass{outside: "ABC" + controlAndHigh + " ."}, regexp.MustCompile(`^[a-z][a-z0-9_-]{1,15}$`)
		case "merchant":
			return fieldClass{outside: controlAndHigh}, nil // 15 characters already: any insertion is too long
		}
		return fieldClass{fixed: true, outside: controlAndHigh + " "}, nil
	}
	// gross, discount, share: digits whose sum rules catch any change of value
	return fieldClass{fixed: true, outside: notDigits}, regexp.MustCompile(`^0+[1-9][0-9]*$|^0+$`)
}

// TestFieldErrorsNameField: a refusal names the line, the field number and
// the field's name and rule.
func TestFieldErrorsNameField(t *testing.T) {
	good, _ := sampleFile().Marshal()
	bad := strings.Replace(string(good), "|004712|", "|00471X|", 1)
	_, err := clearing.ParseFile(strings.NewReader(bad))
	if err == nil || !strings.Contains(err.Error(), "line 3: field 6 (STAN) must be 6 digits") {
		t.Fatalf("got %v, want line 3 field 6 (STAN) named", err)
	}
	bad = strings.Replace(string(good), "|icbc|48021000|0314093002|", "|ccb|48021000|0314093002|", 1)
	_, err = clearing.ParseFile(strings.NewReader(bad))
	if err == nil || !strings.Contains(err.Error(), "line 3: field 13 (bank)") {
		t.Fatalf("got %v, want line 3 field 13 (bank) named", err)
	}
}

// Independent forms of the checked fields (regular expressions, not the
// reader's own code) for FuzzParseFileFields.
var fieldForms = map[int]*regexp.Regexp{
	4:  regexp.MustCompile(`^[A-Za-z0-9]+ *$`),
	5:  regexp.MustCompile(`^[0-9]{6}$`),
	6:  regexp.MustCompile(`^[\x20-\x7e]{8}$`),
	7:  regexp.MustCompile(`^[\x20-\x7e]{15}$`),
	11: regexp.MustCompile(`^[A-Za-z0-9]+ *$`),
	13: regexp.MustCompile(`^[0-9]{1,11}$`),
}

var (
	mccForm = regexp.MustCompile(`^([0-9]{4})?$`)
	parForm = regexp.MustCompile(`^([A-Za-z0-9]{29})?$`)
)

// FuzzParseFileFields: whatever the reader accepts has every checked field
// in its documented form and every record of the file's own bank. Seeds:
// testdata/fuzz/FuzzParseFileFields (corrupted fields) and the sample.
func FuzzParseFileFields(f *testing.F) {
	good, _ := sampleFile().Marshal()
	f.Add(good)
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := clearing.ParseFile(bytes.NewReader(b))
		if err != nil {
			if strings.Contains(err.Error(), "\x00") {
				t.Fatalf("error text holds raw input: %q", err)
			}
			return
		}
		for i, d := range file.Details {
			vals := map[int]string{4: d.RRN, 5: d.STAN, 6: d.Terminal, 7: d.Merchant, 11: d.AuthCode, 13: d.Acquirer}
			for k, re := range fieldForms {
				if !re.MatchString(vals[k]) {
					t.Fatalf("record %d field %d %q accepted, not of the form %s", i+1, k+1, vals[k], re)
				}
			}
			if len(d.RRN) != 12 || len(d.AuthCode) != 6 || d.STAN == "000000" || strings.TrimSpace(d.Terminal) == "" || strings.TrimSpace(d.Merchant) == "" {
				t.Fatalf("record %d: accepted %+v", i+1, d)
			}
			if d.Bank != file.Header.Party {
				t.Fatalf("record %d of bank %q in the file of %q", i+1, d.Bank, file.Header.Party)
			}
			if !mccForm.MatchString(d.MCC) || !parForm.MatchString(d.PAR) {
				t.Fatalf("record %d: accepted MCC %q PAR %q", i+1, d.MCC, d.PAR)
			}
			if p := d.Promo; p != nil {
				var sum int64
				for _, s := range p.Shares {
					if s.Amount < 0 {
						t.Fatalf("record %d: accepted a negative share", i+1)
					}
					sum += s.Amount
				}
				want := d.Amount // a presentment after clearing: the gross is charged
				if d.Credit || p.Fulfilment == promo.FulfilInstant {
					want = d.Amount + sum
				}
				if sum != p.Discount || p.Gross != want || len(p.Shares) == 0 {
					t.Fatalf("record %d: accepted a promotion that does not balance: %+v", i+1, p)
				}
			}
		}
	})
}
