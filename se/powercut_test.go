//go:build unix

package se

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/emv"
)

// powerDisk is a fault-injecting file layer under the element (the
// package's createTemp, renameFile, removeFile, syncDir and openData
// hooks): every call goes to the real file system, and the layer keeps
// beside it what the disk would hold after a power cut — each file's
// content as its last fsync/fdatasync left it, and the folder's names as
// its last fsync left them. Writes and renames not yet synced are kept as
// pending; an image of the disk drops them all (clean) or keeps any of
// their 512-byte sectors (torn: what a cut during the sync can leave).
type powerDisk struct {
	mu        sync.Mutex
	next      int
	live      map[string]int   // name → file, as the running process sees them
	names     map[string]int   // name → file, on disk
	pendDir   []dirOp          // name changes since the folder's last fsync
	content   map[int][]byte   // file → content on disk
	pending   map[int][]diskOp // file → writes since its last sync
	snapshot  func()           // called before and after every call
	uninstall func()           // puts the real calls back
}

type diskOp struct {
	off  int64
	data []byte
}

type dirOp struct {
	name string
	id   int // -1: removed
}

func newPowerDisk() *powerDisk {
	return &powerDisk{live: map[string]int{}, names: map[string]int{}, content: map[int][]byte{}, pending: map[int][]diskOp{}}
}

// install routes the element's file calls through d until the test ends.
func (d *powerDisk) install(t *testing.T) {
	oc, or, orm, osd, ood := createTemp, renameFile, removeFile, syncDir, openData
	d.uninstall = func() { createTemp, renameFile, removeFile, syncDir, openData = oc, or, orm, osd, ood }
	t.Cleanup(d.uninstall)
	createTemp = func(name string) (tempFile, error) {
		d.snap()
		defer d.snap()
		f, err := oc(name)
		if err != nil {
			return nil, err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		d.next++
		d.live[name] = d.next
		d.pendDir = append(d.pendDir, dirOp{name, d.next})
		return &powerTemp{f: f, d: d, id: d.next}, nil
	}
	renameFile = func(from, to string) error {
		d.snap()
		defer d.snap()
		if err := or(from, to); err != nil {
			return err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		id := d.live[from]
		delete(d.live, from)
		d.live[to] = id
		d.pendDir = append(d.pendDir, dirOp{from, -1}, dirOp{to, id})
		return nil
	}
	removeFile = func(name string) error {
		d.snap()
		defer d.snap()
		err := orm(name)
		d.mu.Lock()
		defer d.mu.Unlock()
		delete(d.live, name)
		d.pendDir = append(d.pendDir, dirOp{name, -1})
		return err
	}
	syncDir = func(dir string) error {
		d.snap()
		defer d.snap()
		if err := osd(dir); err != nil {
			return err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		applyDir(d.names, d.pendDir)
		d.pendDir = nil
		return nil
	}
	openData = func(name string) (dataFile, error) {
		f, err := ood(name)
		if err != nil {
			return nil, err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		id, ok := d.live[name]
		if !ok {
			f.Close()
			return nil, fmt.Errorf("powerDisk: %s was not made through the layer", name)
		}
		return &powerData{dataFile: f, d: d, id: id}, nil
	}
}

func applyDir(names map[string]int, ops []dirOp) {
	for _, op := range ops {
		if op.id < 0 {
			delete(names, op.name)
		} else {
			names[op.name] = op.id
		}
	}
}

func (d *powerDisk) snap() {
	if d.snapshot != nil {
		d.snapshot()
	}
}

func (d *powerDisk) write(id int, off int64, b []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pending[id] = append(d.pending[id], diskOp{off, bytes.Clone(b)})
}

func (d *powerDisk) sync(id int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, op := range d.pending[id] {
		d.content[id] = writeInto(d.content[id], op.off, op.data)
	}
	delete(d.pending, id)
}

func writeInto(c []byte, off int64, b []byte) []byte {
	if end := off + int64(len(b)); end > int64(len(c)) {
		c = append(c, make([]byte, end-int64(len(c)))...)
	}
	copy(c[off:], b)
	return c
}

// image is what the disk holds after a cut now: nil rng drops every write
// and rename not synced; with rng each pending rename is kept or not (in
// order, a prefix) and each 512-byte sector a pending write touched holds
// the content after any number of its writes, in order.
func (d *powerDisk) image(rng *rand.Rand) map[string][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := maps.Clone(d.names)
	if rng != nil {
		applyDir(names, d.pendDir[:rng.IntN(len(d.pendDir)+1)])
	}
	img := map[string][]byte{}
	for name, id := range names {
		c := bytes.Clone(d.content[id])
		if rng != nil {
			c = tear(c, d.pending[id], rng)
		}
		img[name] = c
	}
	return img
}

// tear applies to c, for each sector the writes ops touch, the first k of
// those writes (k at random).
func tear(c []byte, ops []diskOp, rng *rand.Rand) []byte {
	const sec = 512
	touched := map[int64][]int{} // sector → ops touching it, in order
	for i, op := range ops {
		for s := op.off / sec; s*sec < op.off+int64(len(op.data)); s++ {
			touched[s] = append(touched[s], i)
		}
	}
	for s, list := range touched {
		k := rng.IntN(len(list) + 1)
		for _, i := range list[:k] {
			op := ops[i]
			lo, hi := max(op.off, s*sec), min(op.off+int64(len(op.data)), (s+1)*sec)
			c = writeInto(c, lo, op.data[lo-op.off:hi-op.off])
		}
	}
	return c
}

// powerTemp is a temporary file through the layer.
type powerTemp struct {
	f   tempFile
	d   *powerDisk
	id  int
	off int64
}

func (p *powerTemp) Write(b []byte) (int, error) {
	p.d.snap()
	n, err := p.f.Write(b)
	p.d.write(p.id, p.off, b[:n])
	p.off += int64(n)
	p.d.snap()
	return n, err
}

func (p *powerTemp) Sync() error {
	p.d.snap()
	defer p.d.snap()
	if err := p.f.Sync(); err != nil {
		return err
	}
	p.d.sync(p.id)
	return nil
}

func (p *powerTemp) Close() error { return p.f.Close() }

// powerData is the element's file through the layer.
type powerData struct {
	dataFile
	d  *powerDisk
	id int
}

func (p *powerData) WriteAt(b []byte, off int64) (int, error) {
	p.d.snap()
	n, err := p.dataFile.WriteAt(b, off)
	p.d.write(p.id, off, b[:n])
	p.d.snap()
	return n, err
}

func (p *powerData) Datasync() error {
	p.d.snap()
	defer p.d.snap()
	if err := p.dataFile.Datasync(); err != nil {
		return err
	}
	p.d.sync(p.id)
	return nil
}

// cutOracle is what the element has answered, and the operation under way.
type cutOracle struct {
	keys    map[string][]int // token → key indexes installed and not used, as answered
	used    map[string][]int // token → key indexes answered as used (or wiped)
	atc     map[string]int
	applets map[string]string
	op      string // "tap", "install", "applet", "wipe"
	token   string // the tap's, install's or wipe's card
	newKeys []int  // the install's keys
	applet  string // the applet data being set
}

func (o cutOracle) clone() cutOracle {
	c := o
	c.keys, c.used, c.atc, c.applets = map[string][]int{}, map[string][]int{}, maps.Clone(o.atc), maps.Clone(o.applets)
	for t, k := range o.keys {
		c.keys[t] = slices.Clone(k)
	}
	for t, k := range o.used {
		c.used[t] = slices.Clone(k)
	}
	return c
}

func cutKey(token string, index int) []byte {
	h := sha256.Sum256(fmt.Appendf(nil, "%s/%d", token, index))
	return h[:16]
}

type cut struct {
	img  map[string][]byte
	o    cutOracle
	torn bool
}

// TestPowerCut: taps, applet saves, key installs (and the compactions a
// small log makes frequent) run on an element whose file calls go through
// powerDisk; at every point of every call, the disk as a power cut would
// leave it — every unsynced write dropped, or torn at random sectors — is
// opened as the phone would after the cut. Always: it opens (a torn write
// is repaired, so the next change is in place again), with the same
// device key; no key a tap answered with is usable again, or has its
// bytes left in any file; no installed key that no tap took is lost; the
// counter never goes back below an answered tap's; an applet holds its
// last saved data (or the one being saved). And a tap on it works.
func TestPowerCut(t *testing.T) {
	floor, per := logFloor, logPerRec
	logFloor, logPerRec = 1024, 2
	t.Cleanup(func() { logFloor, logPerRec = floor, per })
	dir := t.TempDir()
	path := filepath.Join(dir, "se.json")
	disk := newPowerDisk()
	disk.install(t)
	e, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(16, 2026))
	o := cutOracle{keys: map[string][]int{}, used: map[string][]int{}, atc: map[string]int{}, applets: map[string]string{}}
	var cuts []cut
	var pub []byte
	exp := time.Now().Add(time.Hour).Unix()
	install := func(token string, from, n int) {
		var keys []luk
		o.op, o.token, o.newKeys = "install", token, nil
		for i := from; i < from+n; i++ {
			keys = append(keys, luk{Index: i, Key: cutKey(token, i), ExpiresAt: exp})
			o.newKeys = append(o.newKeys, i)
		}
		if _, err := e.InstallKeys(token, sealBatch(t, e, token, keys)); err != nil {
			t.Fatal(err)
		}
		o.keys[token] = append(o.keys[token], o.newKeys...)
		o.op = ""
	}
	tokens := []string{"6288010000000001", "6288010000000002"}
	install(tokens[0], 1, 20)
	install(tokens[1], 1, 24)
	pub = e.PublicKey()
	disk.snapshot = func() {
		cuts = append(cuts, cut{img: disk.image(nil), o: o.clone()})
		cuts = append(cuts, cut{img: disk.image(rng), o: o.clone(), torn: true})
	}
	data := []byte("0123456789ABCDEF")
	for i := 0; i < 48; i++ {
		switch {
		case i == 24:
			install(tokens[0], 100, 6)
		case i%5 == 4:
			v := fmt.Sprintf("purse %d %s", i, bytes.Repeat([]byte{'x'}, 200+i))
			o.op, o.applet = "applet", v
			if err := e.SetAppletData("transit-test", []byte(v)); err != nil {
				t.Fatal(err)
			}
			o.applets["transit-test"] = v
		default:
			token := tokens[i%2]
			o.op, o.token = "tap", token
			u, err := e.Cryptogram(token, emv.TDES, emv.PadMethod1, func(int, int) ([]byte, error) { return data, nil })
			if err != nil {
				t.Fatal(err)
			}
			if u.KeyIndex != o.keys[token][0] || u.ATC != o.atc[token]+1 {
				t.Fatalf("tap %d used key %d, counter %d; want %d, %d", i, u.KeyIndex, u.ATC, o.keys[token][0], o.atc[token]+1)
			}
			o.keys[token] = o.keys[token][1:]
			o.used[token] = append(o.used[token], u.KeyIndex)
			o.atc[token] = u.ATC
		}
		o.op = ""
	}
	o.op, o.token = "wipe", tokens[1]
	if err := e.Wipe(tokens[1]); err != nil {
		t.Fatal(err)
	}
	o.used[tokens[1]] = append(o.used[tokens[1]], o.keys[tokens[1]]...)
	o.keys[tokens[1]], o.op = nil, ""
	disk.snap()
	disk.snapshot = nil
	disk.uninstall()

	// Open, the installs, the wipe and the compactions each wrote the
	// file whole (a temporary file each).
	if disk.next < 8 || len(cuts) < 300 {
		t.Fatalf("%d files written whole, %d cut points: the log did not fill", disk.next, len(cuts))
	}
	t.Logf("%d cut points (clean and torn), %d files written whole", len(cuts), disk.next)
	for n, c := range cuts {
		if err := checkCut(t, c, pub, data); err != nil {
			kind := "clean"
			if c.torn {
				kind = "torn"
			}
			t.Fatalf("cut %d of %d (%s, during %q on %s): %v", n, len(cuts), kind, c.o.op, c.o.token, err)
		}
	}
}

func checkCut(t *testing.T, c cut, pub, data []byte) error {
	dir := t.TempDir()
	for name, b := range c.img {
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(name)), b, 0o600); err != nil {
			return err
		}
	}
	o := c.o
	// No used key's bytes are in any file the disk holds.
	for token, used := range o.used {
		for _, i := range used {
			k := cutKey(token, i)
			for name, b := range c.img {
				if bytes.Contains(b, k) || bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString(k))) {
					return fmt.Errorf("used key %d of %s is still in %s", i, token, filepath.Base(name))
				}
			}
		}
	}
	path := filepath.Join(dir, "se.json")
	e, err := Open(path)
	if err != nil {
		return fmt.Errorf("open after the cut: %w", err)
	}
	defer e.Close()
	if !bytes.Equal(e.PublicKey(), pub) {
		return errors.New("another device key after the cut")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if d, err := decode(raw); err != nil || d.repair {
		return fmt.Errorf("the file after Open still needs a repair (%v)", err)
	}
	for token := range o.keys {
		atc, got := e.KeyIndexes(token)
		want := o.keys[token]
		switch {
		case o.op == "tap" && o.token == token:
			// The tap under way took the first key: it is there or not;
			// if its counter is there, its key is gone.
			rest := want[1:]
			switch {
			case atc == o.atc[token]+1 && slices.Equal(got, rest):
			case atc == o.atc[token] && (slices.Equal(got, rest) || slices.Equal(got, want)):
			default:
				return fmt.Errorf("%s: counter %d, keys %v; want counter %d with keys %v (or %v, or counter %d with %v)",
					token, atc, got, o.atc[token], want, rest, o.atc[token]+1, rest)
			}
			continue
		case o.op == "install" && o.token == token && slices.Equal(got, append(slices.Clone(want), o.newKeys...)):
			want = got
		case o.op == "wipe" && o.token == token && len(got) == 0:
			want = got
		}
		if atc != o.atc[token] || !slices.Equal(got, want) {
			return fmt.Errorf("%s: counter %d, keys %v; want counter %d, keys %v", token, atc, got, o.atc[token], want)
		}
	}
	got := string(e.AppletData("transit-test"))
	if got != o.applets["transit-test"] && (o.op != "applet" || got != o.applet) {
		return fmt.Errorf("applet data %.20q, want %.20q", got, o.applets["transit-test"])
	}
	// A tap on the element after the cut uses its first key, and that
	// key is gone when it answers.
	for token := range o.keys {
		_, left := e.KeyIndexes(token)
		if len(left) == 0 {
			continue
		}
		u, err := e.Cryptogram(token, emv.TDES, emv.PadMethod1, func(int, int) ([]byte, error) { return data, nil })
		if err != nil || u.KeyIndex != left[0] {
			return fmt.Errorf("tap after the cut: key %d (%v), want %d", u.KeyIndex, err, left[0])
		}
		raw, _ := os.ReadFile(path)
		if bytes.Contains(raw, cutKey(token, u.KeyIndex)) || bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(cutKey(token, u.KeyIndex)))) {
			return fmt.Errorf("the key of the tap after the cut is still in the file")
		}
		break
	}
	return nil
}
