package journal

import (
	"errors"
	"github.com/tapwallet/tapwallet/datasync"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// FS is the file layer under a Log: the operating system's (OSFS), or a
// test's that injects faults (journal/lossyfs drops the writes no sync
// covered, as a power cut does).
type FS interface {
	// OpenFile opens path for reading and writing, creating it (mode
	// 0600) if missing; a new file's directory entry is durable when it
	// returns (its folder is synced).
	OpenFile(path string) (File, error)
	// Remove deletes path; the deletion is durable when it returns (the
	// folder is synced).
	Remove(path string) error
	// Names returns the names of the files in dir.
	Names(dir string) ([]string, error)
	// Lock takes an exclusive lock named by path (a file made for it) for
	// as long as the log is open, or fails with ErrLocked when another
	// holds it.
	Lock(path string) (io.Closer, error)
}

// ErrLocked is Lock's error when another holds the lock.
var ErrLocked = errors.New("journal: locked by another")

// File is an open log file. The Log calls each file's methods from one
// goroutine at a time for writes and truncations (a segment made ahead:
// its maker's, then the writer's); reads happen only at Open and Replay.
type File interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	// Size returns the file's current size.
	Size() (int64, error)
	Truncate(size int64) error
	// Sync makes every write and truncation before it durable:
	// fdatasync(2) (the data, and the metadata needed to read it — the
	// size — but not the times).
	Sync() error
	Close() error
}

// OSFS is the operating system's file layer.
type OSFS struct{}

// OpenFile opens or creates path; a new file's folder is fsync'd so that
// its name survives a power cut.
func (OSFS) OpenFile(path string) (File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		f, err = os.OpenFile(path, os.O_RDWR, 0o600)
		if err != nil {
			return nil, err
		}
		return osFile{f}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := SyncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	return osFile{f}, nil
}

// Remove deletes path and syncs its folder.
func (OSFS) Remove(path string) error {
	if err := os.Remove(path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// Names lists dir.
func (OSFS) Names(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

// Lock takes flock(2) on path (made if missing, mode 0600).
func (OSFS) Lock(path string) (io.Closer, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// SyncDir fsyncs a folder, making the names created in it durable
// (datasync.Dir).
func SyncDir(dir string) error { return datasync.Dir(dir) }

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (f osFile) Sync() error { return datasync.File(f.File) }

var (
	defaultMu sync.Mutex
	defaultFs FS = OSFS{}
)

// SetDefaultFS makes fsys the file layer of the logs opened from now on
// without Options.FS — for a test that runs a whole platform over a
// fault-injecting layer (as sqldb.SetSQLiteVFS does for SQLite); nothing
// in the platform calls it.
func SetDefaultFS(fsys FS) {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	defaultFs = fsys
}

func defaultFS() FS {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	return defaultFs
}

// syncCount counts every Log's fdatasyncs, process-wide.
var syncCount atomic.Uint64

// Syncs returns the number of fdatasyncs every Log in the process has made
// (one per group commit and one per truncation) — for a bench's
// fdatasyncs per operation, beside sqldb.Syncs.
func Syncs() uint64 { return syncCount.Load() }

// Rename renames oldpath to newpath and syncs newpath's folder (a
// Renamer: the log makes its segments ahead of time, ahead.go).
func (OSFS) Rename(oldpath, newpath string) error {
	if err := os.Rename(oldpath, newpath); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(newpath))
}
