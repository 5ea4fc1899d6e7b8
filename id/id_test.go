package id

import (
	"fmt"
	"regexp"
	"testing"
	"time"
)

func TestNewUniqueSortedReadable(t *testing.T) {
	form := regexp.MustCompile(`^tev_[0-9a-f]{13}[a-km-np-z2-9]{16}$`)
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < 2000; i++ {
		s := New("tev")
		if !form.MatchString(s) {
			t.Fatalf("New(tev) = %q, want tev_ + 13 hex digits + 16 letters or digits", s)
		}
		if seen[s] {
			t.Fatalf("New returned %q twice", s)
		}
		seen[s] = true
		if i%500 == 0 {
			time.Sleep(time.Millisecond)
			if prev != "" && s[:17] <= prev[:17] {
				t.Fatalf("id %q made after %q does not sort after it", s, prev)
			}
			prev = s
		}
	}
}

// TestNoCardNumberRun: an identifier never holds 12 digits in a row, even
// when its time part is all decimal digits and its random part begins with
// one — made a microsecond on, it still sorts after the ones made before.
func TestNoCardNumberRun(t *testing.T) {
	digits := func(b []byte) { // base32 spells 0x1f as '9' and 'i'
		for i := range b {
			b[i] = 0x1f
		}
	}
	us := int64(0x6620010812345) // "6620010812345": 13 decimal digits
	got := newAt("ph", us, digits)
	if hasDigitRun(got[3:]) {
		t.Fatalf("newAt = %q: 12 digits in a row", got)
	}
	before := fmt.Sprintf("ph_%013x", us-1)
	if got <= before {
		t.Fatalf("newAt = %q does not sort after %q", got, before)
	}
	if got[3:16] == "6620010812345" {
		t.Fatalf("newAt = %q kept the all-digit time part", got)
	}
	for i := 0; i < 20000; i++ {
		if s := New("ph"); hasDigitRun(s) {
			t.Fatalf("New = %q: 12 digits in a row", s)
		}
	}
	if !hasDigitRun("x6222020000000007") || hasDigitRun("12345678901a2") {
		t.Fatal("hasDigitRun: wrong on a card number or an 11-digit run")
	}
}

// TestMade: New's identifiers have its form, those made before it kept
// clear of digit runs too; other texts, card numbers among them, do not.
func TestMade(t *testing.T) {
	for i := 0; i < 1000; i++ {
		if s := New("ph"); !Made(s) {
			t.Fatalf("Made(%q) = false for New's", s)
		}
	}
	for _, s := range []string{"ph_662002043911emn2cadybsd3nxjuc", "acc_662002043911emn2cadybsd3nxjuc"} {
		if !Made(s) {
			t.Errorf("Made(%q) = false, want true (an identifier made before the digit runs were avoided)", s)
		}
	}
	for _, s := range []string{"6222020000000007", "pan6222020000000007", "ph_6222020000000007aaaaaaaaaaaaa",
		"ph_662002043911emn2cadybsd3nxju", "ph_662002043911emn2cadybsd3nxjucx", "ph_662002043911Emn2cadybsd3nxjuc",
		"ph_662002043911e0n2cadybsd3nxjuc", "ph_662002043911e2z2cadybsd3nxjuc", "_662002043911emn2cadybsd3nxjuc", "Ph_662002043911emn2cadybsd3nxjuc"} {
		if Made(s) {
			t.Errorf("Made(%q) = true, want false", s)
		}
	}
}
