package se

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
)

// failingFile is a temporary file whose write, fsync or close fails.
type failingFile struct {
	f                       *os.File
	write, short, sync, cls bool
}

var errDisk = errors.New("injected: disk full")

func (f *failingFile) Write(b []byte) (int, error) {
	switch {
	case f.write:
		n, _ := f.f.Write(b[:len(b)/2])
		return n, errDisk
	case f.short:
		return f.f.Write(b[:len(b)/2]) // a short write with no error
	}
	return f.f.Write(b)
}

func (f *failingFile) Sync() error {
	if f.sync {
		return errDisk
	}
	return f.f.Sync()
}

func (f *failingFile) Close() error {
	err := f.f.Close()
	if f.cls {
		return errDisk
	}
	return err
}

func newElementWithKeys(t *testing.T, token string, n int) (*Element, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "se.json")
	e, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var keys []luk
	for i := 1; i <= n; i++ {
		keys = append(keys, luk{Index: i, Key: bytes.Repeat([]byte{byte(i)}, 16), ExpiresAt: time.Now().Add(time.Hour).Unix()})
	}
	if _, err := e.InstallKeys(token, sealBatch(t, e, token, keys)); err != nil {
		t.Fatal(err)
	}
	return e, path
}

// failingData is the element's file open for changes in place, whose
// write, fdatasync or close fails.
type failingData struct {
	dataFile
	write, short, sync bool
}

func (f *failingData) WriteAt(b []byte, off int64) (int, error) {
	switch {
	case f.write:
		n, _ := f.dataFile.WriteAt(b[:len(b)/2], off)
		return n, errDisk
	case f.short:
		return f.dataFile.WriteAt(b[:len(b)/2], off) // a short write with no error
	}
	return f.dataFile.WriteAt(b, off)
}

func (f *failingData) Datasync() error {
	if f.sync {
		return errDisk
	}
	return f.dataFile.Datasync()
}

// TestFailedWriteKeepsTheOldFile: a tap whose write fails answers no
// cryptogram, leaves the element's file as it was, and the key is still
// there for the next tap. Both ways a tap is saved fail: written whole (a
// write, short write, fsync or close of the temporary file — no rename,
// the temporary file removed) and in place (a write or short write over
// the key's slot or of the log record, or the fdatasync — undone).
func TestFailedWriteKeepsTheOldFile(t *testing.T) {
	const token = "6288010000000001"
	data := []byte("0123456789ABCDEF")
	build := func(int, int) ([]byte, error) { return data, nil }
	for _, tc := range []struct {
		name    string
		fail    failingFile
		inPlace failingData
	}{
		{name: "write error", fail: failingFile{write: true}},
		{name: "short write", fail: failingFile{short: true}},
		{name: "fsync error", fail: failingFile{sync: true}},
		{name: "close error", fail: failingFile{cls: true}},
		{name: "in place, write error", inPlace: failingData{write: true}},
		{name: "in place, short write", inPlace: failingData{short: true}},
		{name: "in place, fdatasync error", inPlace: failingData{sync: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, path := newElementWithKeys(t, token, 2)
			before, _ := os.ReadFile(path)
			real := createTemp
			if strings.HasPrefix(tc.name, "in place") {
				fd := tc.inPlace
				fd.dataFile = e.f
				e.f = &fd
			} else {
				e.repair = true // this tap writes the file whole
				createTemp = func(name string) (tempFile, error) {
					f, err := real(name)
					if err != nil {
						return nil, err
					}
					ff := tc.fail
					ff.f = f.(*os.File)
					return &ff, nil
				}
			}
			u, err := e.Cryptogram(token, emv.TDES, emv.PadMethod1, build)
			createTemp = real
			if !fault.Has(err, fault.Unavailable, "se_store") || u.Cryptogram != nil {
				t.Fatalf("got %v, %X; want a se_store error and no cryptogram", err, u.Cryptogram)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Fatalf("the element's file changed after a failed write:\ngot  %q\nwant %q", after, before)
			}
			if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the temporary file is left behind (%v)", err)
			}
			// The key the failed tap took is still the next one, in this
			// element and in a fresh one.
			if n := e.KeysLeft(token); n != 2 {
				t.Errorf("got %d keys left, want 2", n)
			}
			u, err = e.Cryptogram(token, emv.TDES, emv.PadMethod1, build)
			if err != nil || u.KeyIndex != 1 || u.ATC != 1 {
				t.Errorf("next tap: got key %d atc %d (%v), want key 1 atc 1", u.KeyIndex, u.ATC, err)
			}
		})
	}
}

// TestTwoProcessesLoseNoKeys: elements opened twice on one file (as two
// phone commands at once would) each install keys for their own tokens at
// the same time; every token ends with its keys. Then both tap one token
// at once: no key or counter is used twice.
func TestTwoProcessesLoseNoKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "se.json")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Unix()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		el := []*Element{a, b}[i%2]
		token := fmt.Sprintf("62880100000000%02d", i)
		sealed := sealBatch(t, el, token, []luk{{Index: 1, Key: bytes.Repeat([]byte{1}, 16), ExpiresAt: exp}, {Index: 2, Key: bytes.Repeat([]byte{2}, 16), ExpiresAt: exp}})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := el.InstallKeys(token, sealed); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		token := fmt.Sprintf("62880100000000%02d", i)
		if n := c.KeysLeft(token); n != 2 {
			t.Errorf("token %d: got %d keys, want 2", i, n)
		}
	}
	used := make(chan Use, 2)
	for _, el := range []*Element{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := el.Cryptogram("6288010000000003", emv.TDES, emv.PadMethod1, func(int, int) ([]byte, error) { return make([]byte, 16), nil })
			if err != nil {
				t.Error(err)
			}
			used <- u
		}()
	}
	wg.Wait()
	u1, u2 := <-used, <-used
	if u1.KeyIndex == u2.KeyIndex || u1.ATC == u2.ATC {
		t.Errorf("two taps used key %d/%d, counter %d/%d; want different", u1.KeyIndex, u2.KeyIndex, u1.ATC, u2.ATC)
	}
	if n := c.KeysLeft("6288010000000003"); n != 0 {
		t.Errorf("got %d keys left after two taps, want 0", n)
	}
}
