// Package powerloss is a fault-injecting file layer under SQLite, for tests
// of durability (issue 16): a VFS that passes every call to SQLite's own
// unix VFS and keeps, for each database file, log and journal SQLite opens
// through it, a shadow copy in a folder of its own that holds only what a
// sync made durable. Every write is remembered as pending; when SQLite
// syncs a file (fdatasync(2) or fsync(2), xSync) the writes made to that
// file — through any of its connections, as the kernel's page cache holds
// them — before the sync began are applied to its shadow once the sync has
// returned. Writes not yet synced never reach the shadow, so after the
// process is killed the shadow folder is what a power cut at that moment
// would have left on disk with every unsynced write dropped: the harshest
// case a disk allows. A deleted file is deleted from the shadow at once.
// The writes still unsynced are kept too, beside each shadow (FILE.unsynced,
// written through, never synced: the page cache keeps them past a kill),
// so that CopyTorn can make the other case a power cut allows: any of them
// reached the disk, whole, in part (a prefix of its 512-byte sectors) or
// not at all.
//
// Install it before the first database is opened, in the process under
// test (sqldb.SetSQLiteVFS routes the storage kernel's SQLite files
// through it); copy the shadow folder to a fresh one (Copy) and open the
// copies to see what survived. It slows every write by a copy and a lock:
// a tool for tests, never for the platform.
package powerloss

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tapwallet/tapwallet/sqldb"
)

// Name is the name the layer is registered under with SQLite.
const Name = "tapwallet-powerloss"

// The open flags of the files that hold data (SQLite's sqlite3.h).
const (
	openMainDB      = 0x00000100
	openMainJournal = 0x00000800
	openWAL         = 0x00080000
	ioErr           = 10 // SQLITE_IOERR
)

// op is one pending change of a file: a write of data at off, or (data
// nil) a truncation to off.
type op struct {
	off  int64
	data []byte
}

// shadow is a file's durable copy and its writes not yet synced.
type shadow struct {
	path    string
	pending []op
	f       *os.File
	u       *os.File // the unsynced writes, as records (unsyncedSuffix)
}

// unsyncedSuffix names the file beside a shadow that holds its unsynced
// writes: each a record of its offset (8 bytes, big-endian), its length
// (4 bytes; truncated is a truncation to the offset) and its data.
const unsyncedSuffix = ".unsynced"

// truncated marks a truncation record.
const truncated = 0xFFFFFFFF

// tracked is an open file of SQLite's that goes through the layer.
type tracked struct {
	orig *sqlite3.Tsqlite3_io_methods // the unix VFS's methods
	sh   *shadow
}

var (
	mu               sync.Mutex
	dir              string                         // the shadow folder
	files            = map[uintptr]*tracked{}       // sqlite3_file → state
	shadows          = map[string]*shadow{}         // real path → shadow
	wrapped          = map[uintptr]int{}            // unix io_methods → index in ours
	ours             [8]sqlite3.Tsqlite3_io_methods // the methods the layer hands out (static: SQLite keeps their address)
	vfs              sqlite3.Tsqlite3_vfs           // the layer's VFS (static, as SQLite keeps it)
	vfsName          [len(Name) + 1]byte            // its name, NUL-terminated
	unix             *sqlite3.Tsqlite3_vfs          // SQLite's own
	applied, dropped uint64                         // writes applied to shadows at a sync; writes deleted unsynced
)

// Install registers the layer with SQLite, with its shadow copies in
// shadowDir (made if missing), and routes the SQLite files the storage
// kernel opens from now on through it (sqldb.SetSQLiteVFS). Once per
// process.
func Install(shadowDir string) error {
	mu.Lock()
	defer mu.Unlock()
	if unix != nil {
		return errors.New("powerloss: already installed")
	}
	if err := os.MkdirAll(shadowDir, 0o700); err != nil {
		return err
	}
	tls := libc.NewTLS()
	defer tls.Close()
	p := sqlite3.Xsqlite3_vfs_find(tls, 0)
	if p == 0 {
		return errors.New("powerloss: SQLite has no default VFS")
	}
	unix = at[sqlite3.Tsqlite3_vfs](p)
	dir = shadowDir
	vfs = *unix
	copy(vfsName[:], Name)
	vfs.FzName = uintptr(unsafe.Pointer(&vfsName[0]))
	vfs.FpNext = 0
	vfs.FxOpen = funcPtr(xOpen)
	vfs.FxDelete = funcPtr(xDelete)
	if rc := sqlite3.Xsqlite3_vfs_register(tls, uintptr(unsafe.Pointer(&vfs)), 0); rc != 0 {
		unix = nil
		return fmt.Errorf("powerloss: sqlite3_vfs_register: %d", rc)
	}
	sqldb.SetSQLiteVFS(Name)
	return nil
}

// Stats returns how many writes reached a shadow at a sync so far, how
// many are pending (written, their file not synced since), and how many
// were still unsynced when their file was deleted (dropped).
func Stats() (synced, pending, deleted uint64) {
	mu.Lock()
	defer mu.Unlock()
	n := uint64(0)
	for _, s := range shadows {
		n += uint64(len(s.pending))
	}
	return applied, n, dropped
}

// Copy copies the files of the shadow folder src into dst (made if
// missing), where they can be opened as a power cut would have left them
// (SQLite recovers the log on opening). Run it on the folder of a process
// that was killed, or one that has stopped writing.
func Copy(src, dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), unsyncedSuffix) {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// funcPtr is a Go function as the transpiled SQLite calls a C function
// pointer (the word of the func value, as ccgo's __ccgo_fp takes it).
func funcPtr(f any) uintptr {
	type iface [2]uintptr
	return (*iface)(unsafe.Pointer(&f))[1]
}

// at is the C memory at p as a Go pointer (memory SQLite allocated, which
// Go's collector neither moves nor frees).
func at[T any](p uintptr) *T { return *(**T)(unsafe.Pointer(&p)) }

// The unix VFS's functions, called through their pointers.
func callOpen(fp uintptr) func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32 {
	return *(*func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{fp}))
}

func callDelete(fp uintptr) func(*libc.TLS, uintptr, uintptr, int32) int32 {
	return *(*func(*libc.TLS, uintptr, uintptr, int32) int32)(unsafe.Pointer(&struct{ uintptr }{fp}))
}

func callWrite(fp uintptr) func(*libc.TLS, uintptr, uintptr, int32, int64) int32 {
	return *(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&struct{ uintptr }{fp}))
}

func callInt64(fp uintptr) func(*libc.TLS, uintptr, int64) int32 {
	return *(*func(*libc.TLS, uintptr, int64) int32)(unsafe.Pointer(&struct{ uintptr }{fp}))
}

func callInt32(fp uintptr) func(*libc.TLS, uintptr, int32) int32 {
	return *(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&struct{ uintptr }{fp}))
}

func callClose(fp uintptr) func(*libc.TLS, uintptr) int32 {
	return *(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{fp}))
}

// xOpen opens the file with the unix VFS and, for a database, log or
// journal, hands SQLite the layer's methods in place of the unix VFS's.
func xOpen(tls *libc.TLS, _ uintptr, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	rc := callOpen(unix.FxOpen)(tls, uintptr(unsafe.Pointer(unix)), zName, pFile, flags, pOutFlags)
	if rc != 0 || zName == 0 || flags&(openMainDB|openMainJournal|openWAL) == 0 {
		return rc
	}
	file := at[sqlite3.Tsqlite3_file](pFile)
	if file.FpMethods == 0 {
		return rc
	}
	name := libc.GoString(zName)
	mu.Lock()
	defer mu.Unlock()
	i, ok := wrapped[file.FpMethods]
	if !ok {
		if len(wrapped) == len(ours) {
			return rc // more kinds of file than foreseen: left untracked (never, with the unix VFS)
		}
		i = len(wrapped)
		wrapped[file.FpMethods] = i
		ours[i] = *at[sqlite3.Tsqlite3_io_methods](file.FpMethods)
		ours[i].FxWrite = funcPtr(xWrite)
		ours[i].FxTruncate = funcPtr(xTruncate)
		ours[i].FxSync = funcPtr(xSync)
		ours[i].FxClose = funcPtr(xClose)
	}
	sh := shadows[name]
	if sh == nil {
		sh = &shadow{path: filepath.Join(dir, filepath.Base(name))}
		shadows[name] = sh
	}
	files[pFile] = &tracked{orig: at[sqlite3.Tsqlite3_io_methods](file.FpMethods), sh: sh}
	file.FpMethods = uintptr(unsafe.Pointer(&ours[i]))
	return rc
}

// xDelete deletes the file and its shadow (a deletion is taken as durable
// at once: SQLite deletes only a log or journal it no longer needs).
func xDelete(tls *libc.TLS, _ uintptr, zName uintptr, syncDir int32) int32 {
	rc := callDelete(unix.FxDelete)(tls, uintptr(unsafe.Pointer(unix)), zName, syncDir)
	if rc != 0 || zName == 0 {
		return rc
	}
	name := libc.GoString(zName)
	mu.Lock()
	defer mu.Unlock()
	if sh := shadows[name]; sh != nil {
		dropped += uint64(len(sh.pending))
		sh.pending = nil
		if sh.f != nil {
			sh.f.Close()
			sh.f = nil
		}
		if sh.u != nil {
			sh.u.Close()
			sh.u = nil
		}
		os.Remove(sh.path)
		os.Remove(sh.path + unsyncedSuffix)
		delete(shadows, name)
	}
	return rc
}

func lookup(pFile uintptr) *tracked {
	mu.Lock()
	defer mu.Unlock()
	return files[pFile]
}

func xWrite(tls *libc.TLS, pFile, pBuf uintptr, amt int32, off int64) int32 {
	t := lookup(pFile)
	rc := callWrite(t.orig.FxWrite)(tls, pFile, pBuf, amt, off)
	if rc == 0 && amt > 0 {
		data := make([]byte, amt)
		copy(data, unsafe.Slice(at[byte](pBuf), amt))
		mu.Lock()
		t.sh.pending = append(t.sh.pending, op{off: off, data: data})
		t.sh.record(op{off: off, data: data})
		mu.Unlock()
	}
	return rc
}

func xTruncate(tls *libc.TLS, pFile uintptr, size int64) int32 {
	t := lookup(pFile)
	rc := callInt64(t.orig.FxTruncate)(tls, pFile, size)
	if rc == 0 {
		mu.Lock()
		t.sh.pending = append(t.sh.pending, op{off: size})
		t.sh.record(op{off: size})
		mu.Unlock()
	}
	return rc
}

// xSync syncs the file and then applies to its shadow the writes made
// before the sync began: a write that comes while the sync runs may or may
// not be on disk after it, and the layer takes it as lost.
func xSync(tls *libc.TLS, pFile uintptr, flags int32) int32 {
	t := lookup(pFile)
	mu.Lock()
	n := len(t.sh.pending)
	mu.Unlock()
	rc := callInt32(t.orig.FxSync)(tls, pFile, flags)
	if rc != 0 {
		return rc
	}
	mu.Lock()
	defer mu.Unlock()
	if err := t.sh.apply(n); err != nil {
		return ioErr
	}
	return rc
}

func xClose(tls *libc.TLS, pFile uintptr) int32 {
	t := lookup(pFile)
	rc := callClose(t.orig.FxClose)(tls, pFile)
	mu.Lock()
	delete(files, pFile)
	mu.Unlock()
	return rc
}

// apply writes the first n pending changes to the shadow file; mu held.
func (s *shadow) apply(n int) error {
	if n > len(s.pending) { // the file was deleted and made again meanwhile
		n = len(s.pending)
	}
	if n == 0 {
		return nil
	}
	if s.f == nil {
		f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		s.f = f
	}
	for _, o := range s.pending[:n] {
		var err error
		if o.data == nil {
			err = s.f.Truncate(o.off)
		} else {
			_, err = s.f.WriteAt(o.data, o.off)
		}
		if err != nil {
			return err
		}
	}
	applied += uint64(n)
	s.pending = append([]op(nil), s.pending[n:]...)
	if s.u != nil { // the unsynced writes are those left
		if err := s.u.Truncate(0); err != nil {
			return err
		}
		if _, err := s.u.Seek(0, io.SeekStart); err != nil {
			return err
		}
		for _, o := range s.pending {
			s.record(o)
		}
	}
	return nil
}

// record appends an unsynced write to the file beside the shadow (best
// effort: a record lost only makes CopyTorn's cut milder); mu held.
func (s *shadow) record(o op) {
	if s.u == nil {
		f, err := os.OpenFile(s.path+unsyncedSuffix, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return
		}
		s.u = f
	}
	var h [12]byte
	binary.BigEndian.PutUint64(h[:8], uint64(o.off))
	n := uint32(len(o.data))
	if o.data == nil {
		n = truncated
	}
	binary.BigEndian.PutUint32(h[8:], n)
	s.u.Write(append(h[:], o.data...))
}

// CopyTorn is Copy, then onto each copied file the writes that were still
// unsynced when the process stopped, in the order they were made, each
// applied whole, torn (a random prefix of its 512-byte sectors, at least
// one sector short) or dropped, as rng decides (a third each) — what a
// disk may hold after a power cut when it wrote back some of the page
// cache, in any order, before it lost power. It returns how many were
// applied whole, torn and dropped.
func CopyTorn(src, dst string, rng *rand.Rand) (whole, torn, dropped int, err error) {
	if err := Copy(src, dst); err != nil {
		return 0, 0, 0, err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return 0, 0, 0, err
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), unsyncedSuffix)
		if !ok {
			continue
		}
		recs, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return whole, torn, dropped, err
		}
		f, err := os.OpenFile(filepath.Join(dst, name), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return whole, torn, dropped, err
		}
		for len(recs) >= 12 {
			off := int64(binary.BigEndian.Uint64(recs[:8]))
			n := binary.BigEndian.Uint32(recs[8:12])
			recs = recs[12:]
			if n == truncated {
				if rng.IntN(2) == 0 {
					err = f.Truncate(off)
					whole++
				} else {
					dropped++
				}
			} else {
				if int(n) > len(recs) {
					break // the record itself was cut short by the kill
				}
				data := recs[:n]
				recs = recs[n:]
				switch k := rng.IntN(3); {
				case k == 0:
					dropped++
				case k == 1 || len(data) <= 512:
					_, err = f.WriteAt(data, off)
					whole++
				default:
					_, err = f.WriteAt(data[:512*rng.IntN((len(data)-1)/512+1)], off)
					torn++
				}
			}
			if err != nil {
				f.Close()
				return whole, torn, dropped, err
			}
		}
		if err := f.Close(); err != nil {
			return whole, torn, dropped, err
		}
	}
	return whole, torn, dropped, nil
}
