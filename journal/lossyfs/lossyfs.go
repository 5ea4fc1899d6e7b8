// Package lossyfs is a fault-injecting file layer for journal.Log, for
// tests of durability: every file opened through it is the real file
// (written through, so the process reads what it wrote) plus a shadow copy
// in a folder of its own that holds only what a Sync made durable. Writes
// and truncations are pending until the file is synced; then they reach
// the shadow. After a crash — the process killed, or Cut called while
// appends run — the shadow is what a power cut would have left with every
// unsynced write dropped.
//
// The shadows use sqldb/powerloss's layout (the shadow under the file's
// base name; its unsynced writes in FILE.unsynced as records of an 8-byte
// big-endian offset, a 4-byte length — 0xFFFFFFFF for a truncation — and
// the data), so that powerloss.Copy and powerloss.CopyTorn take a journal
// of a killed platform with its SQLite files. Cut does the same in
// process. A tool for tests, never for the platform.
package lossyfs

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"

	"github.com/tapwallet/tapwallet/journal"
)

const truncated = 0xFFFFFFFF

// op is a pending change: data written at off, or (data nil) a truncation
// to off.
type op struct {
	off  int64
	data []byte
}

// FS is the layer; its shadows live in one folder.
type FS struct {
	dir string
	mu  sync.Mutex
	sh  map[string]*shadow // by base name
}

type shadow struct {
	f       *os.File // the durable copy
	u       *os.File // the unsynced writes, as records
	pending []op
}

// New returns the layer with its shadows in dir (made if missing).
func New(dir string) (*FS, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &FS{dir: dir, sh: map[string]*shadow{}}, nil
}

// OpenFile opens path (journal.OSFS) and its shadow; a file that existed
// before is taken as durable as it is.
func (fs *FS) OpenFile(path string) (journal.File, error) {
	f, err := journal.OSFS{}.OpenFile(path)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(path)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	sh := fs.sh[name]
	if sh == nil {
		sf, err := os.OpenFile(filepath.Join(fs.dir, name), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			f.Close()
			return nil, err
		}
		in, err := os.Open(path)
		if err == nil {
			_, err = io.Copy(sf, in)
			in.Close()
		}
		var u *os.File
		if err == nil {
			u, err = os.OpenFile(filepath.Join(fs.dir, name+".unsynced"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		}
		if err != nil {
			sf.Close()
			f.Close()
			return nil, err
		}
		sh = &shadow{f: sf, u: u}
		fs.sh[name] = sh
	}
	return &file{File: f, fs: fs, sh: sh}, nil
}

// Remove deletes path and its shadow (at once: a deletion is taken as
// durable when made).
func (fs *FS) Remove(path string) error {
	if err := (journal.OSFS{}).Remove(path); err != nil {
		return err
	}
	name := filepath.Base(path)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if sh := fs.sh[name]; sh != nil {
		sh.f.Close()
		sh.u.Close()
		delete(fs.sh, name)
	}
	os.Remove(filepath.Join(fs.dir, name+".unsynced"))
	return os.Remove(filepath.Join(fs.dir, name))
}

// Rename renames path and its shadow (at once: a rename is taken as
// durable when made, as journal.OSFS syncs the folder). The shadow's
// pending writes go with it.
func (fs *FS) Rename(oldpath, newpath string) error {
	if err := (journal.OSFS{}).Rename(oldpath, newpath); err != nil {
		return err
	}
	from, to := filepath.Base(oldpath), filepath.Base(newpath)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	sh := fs.sh[from]
	if sh == nil {
		return nil
	}
	if old := fs.sh[to]; old != nil {
		old.f.Close()
		old.u.Close()
	}
	delete(fs.sh, from)
	fs.sh[to] = sh
	if err := os.Rename(filepath.Join(fs.dir, from+".unsynced"), filepath.Join(fs.dir, to+".unsynced")); err != nil {
		return err
	}
	return os.Rename(filepath.Join(fs.dir, from), filepath.Join(fs.dir, to))
}

// Names lists dir (the real folder).
func (fs *FS) Names(dir string) ([]string, error) { return journal.OSFS{}.Names(dir) }

// Lock is journal.OSFS's.
func (fs *FS) Lock(path string) (io.Closer, error) { return journal.OSFS{}.Lock(path) }

type file struct {
	journal.File
	fs *FS
	sh *shadow
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.sh.record(op{off: off, data: append([]byte(nil), p...)})
	return f.File.WriteAt(p, off)
}

func (f *file) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.sh.record(op{off: size})
	return f.File.Truncate(size)
}

// Sync syncs the real file, then applies the changes made before it to
// the shadow.
func (f *file) Sync() error {
	f.fs.mu.Lock()
	n := len(f.sh.pending)
	f.fs.mu.Unlock()
	if err := f.File.Sync(); err != nil {
		return err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	for _, o := range f.sh.pending[:n] {
		if err := o.apply(f.sh.f); err != nil {
			return err
		}
	}
	f.sh.pending = append([]op(nil), f.sh.pending[n:]...)
	f.sh.u.Truncate(0)
	f.sh.u.Seek(0, io.SeekStart)
	for _, o := range f.sh.pending {
		f.sh.write(o)
	}
	return nil
}

func (o op) apply(f *os.File) error {
	if o.data == nil {
		return f.Truncate(o.off)
	}
	_, err := f.WriteAt(o.data, o.off)
	return err
}

// record keeps a change as pending (fs.mu held).
func (s *shadow) record(o op) {
	s.pending = append(s.pending, o)
	s.write(o)
}

// write appends a pending change to the unsynced file (best effort: it
// is there for powerloss.CopyTorn).
func (s *shadow) write(o op) {
	var h [12]byte
	binary.BigEndian.PutUint64(h[:8], uint64(o.off))
	n := uint32(truncated)
	if o.data != nil {
		n = uint32(len(o.data))
	}
	binary.BigEndian.PutUint32(h[8:], n)
	s.u.Write(append(h[:], o.data...))
}

// Pending returns how many writes and truncations are not synced yet.
func (fs *FS) Pending() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := 0
	for _, s := range fs.sh {
		n += len(s.pending)
	}
	return n
}

// Cut copies what a power cut now would leave of every file into dst (made
// if missing), under the file's base name: the shadow, and — with rng —
// each unsynced change applied whole, in part (a prefix of its 512-byte
// sectors) or not at all, as the disk may have written it; without rng
// every unsynced change dropped. The files keep working.
func (fs *FS) Cut(dst string, rng *rand.Rand) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for name, s := range fs.sh {
		out, err := os.OpenFile(filepath.Join(dst, name), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err = s.f.Seek(0, io.SeekStart); err == nil {
			_, err = io.Copy(out, s.f)
		}
		if err == nil && rng != nil {
			for _, o := range s.pending {
				switch k := rng.IntN(3); {
				case k == 0:
				case k == 1 || o.data == nil || len(o.data) <= 512:
					err = o.apply(out)
				default:
					_, err = out.WriteAt(o.data[:512*rng.IntN((len(o.data)-1)/512+1)], o.off)
				}
				if err != nil {
					break
				}
			}
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
