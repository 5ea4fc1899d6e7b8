package attack

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/clearing"
)

// TestAttackCorruptedClearingFiles: the audit corrupted 1,600 clearing
// files in the RRN, trace number, terminal, merchant, auth code, bank and
// acquirer fields and 209 were read with changed content. Each file here
// has one such field corrupted in a way its documented form rules out (a
// character outside the field's alphabet, a fixed-length field one longer
// or shorter, emptied, or another bank; a space is the alphabet's padding
// in the RRN and auth code, so it is not used there): every one must be refused whole,
// naming its line, or read exactly as the original.
func TestAttackCorruptedClearingFiles(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("..", "clearing", "testdata", "TWCLR.golden"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := clearing.ParseFile(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(good), "\n"), "\n")
	type field struct {
		idx     int
		name    string
		fixed   bool
		outside string
	}
	fields := []field{
		{4, "RRN", true, "-./+_#\x00\xff\x7f"}, {5, "trace number", true, "aZ+-. \x00\xff"}, {6, "terminal", true, "\x00\t\x7f\xc3\xff"},
		{7, "merchant", true, "\x00\t\x7f\xc3\xff"}, {11, "auth code", true, "-./+_#\x00\xff"}, {12, "bank", true, "ABC .-\x00\xff"},
		{13, "acquirer", false, "aZ+-. \x00\xff"},
	}
	rng := rand.New(rand.NewSource(15))
	accepted := 0
	const files = 1600
	for n := 0; n < files; n++ {
		line := 1 + rng.Intn(len(lines)-2)
		f := fields[rng.Intn(len(fields))]
		fs := strings.Split(lines[line], "|")
		v := fs[f.idx]
		pos := rng.Intn(len(v) + 1)
		bad := string(f.outside[rng.Intn(len(f.outside))])
		switch op := rng.Intn(5); {
		case op == 0 && pos < len(v): // replace a character with one outside the alphabet
			v = v[:pos] + bad + v[pos+1:]
		case op == 1: // insert one outside the alphabet
			v = v[:pos] + bad + v[pos:]
		case op == 2 && f.fixed && pos < len(v): // drop one: wrong length
			v = v[:pos] + v[pos+1:]
		case op == 3 && f.fixed: // one more digit: wrong length
			v = v[:pos] + "7" + v[pos:]
		default:
			v = ""
		}
		if f.name == "bank" && rng.Intn(4) == 0 {
			v = "ccb" // a well-formed id, but not this file's bank
		}
		fs[f.idx] = v
		ls := append([]string(nil), lines...)
		ls[line] = strings.Join(fs, "|")
		got, err := clearing.ParseFile(strings.NewReader(strings.Join(ls, "\n") + "\n"))
		if err != nil {
			continue
		}
		if !reflect.DeepEqual(got, want) {
			accepted++
			if accepted <= 5 {
				t.Errorf("line %d %s = %q: accepted with changed content", line+1, f.name, v)
			}
		}
	}
	if accepted > 0 {
		t.Errorf("%d of %d corrupted clearing files accepted with changed content, want 0", accepted, files)
	}
}
