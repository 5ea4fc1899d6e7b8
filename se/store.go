package se

import (
	"errors"
	"github.com/tapwallet/tapwallet/datasync"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/tapwallet/tapwallet/fault"
)

// tempFile is what an atomic write needs of its temporary file.
type tempFile interface {
	io.Writer
	Sync() error
	Close() error
}

// dataFile is what the element needs of its own file, open for changes in
// place.
type dataFile interface {
	io.ReaderAt
	io.WriterAt
	Stat() (os.FileInfo, error)
	Datasync() error // fdatasync(2) where there is one
	Close() error
}

// osFile is a dataFile on the operating system's file.
type osFile struct{ *os.File }

func (f osFile) Datasync() error { return datasync.File(f.File) }

// createTemp opens the temporary file of an atomic write; syncDir makes a
// rename in dir durable; renameFile and removeFile rename and remove;
// openData opens the element's file for reading and changes in place.
// Tests replace them to make a write, an fsync or a close fail, or to keep
// what a power cut would leave.
var (
	createTemp = func(name string) (tempFile, error) {
		return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	}
	renameFile = os.Rename
	removeFile = os.Remove
	openData   = func(name string) (dataFile, error) {
		f, err := os.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			return nil, err
		}
		return osFile{f}, nil
	}
	syncDir = datasync.Dir
)

// WriteFile replaces the file at path with b (mode 0600) so that a reader
// or a crash sees either the old content or the new, never a mix: it
// writes a temporary file beside it, fsyncs and closes it, renames it over
// path and fsyncs the folder. On any error it removes the temporary file,
// leaves the old file as it was and returns a fault.Unavailable error with
// code (what names the file in the message). Concurrent writers of one
// path must hold its Lock.
func WriteFile(path string, b []byte, code, what string) error {
	tmp := path + ".tmp"
	fail := func(err error) error {
		removeFile(tmp)
		return fault.Wrap(err, fault.Unavailable, code, "write %s", what)
	}
	f, err := createTemp(tmp)
	if err != nil {
		return fail(err)
	}
	n, err := f.Write(b)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	if err := renameFile(tmp, path); err != nil {
		return fail(err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fault.Wrap(err, fault.Unavailable, code, "write %s", what)
	}
	return nil
}

// Lock takes an advisory lock (flock) on path+".lock", shared or
// exclusive, waiting for it, and returns the function that releases it.
// Processes that read, change and write the file at path hold it
// exclusively across the three steps, so that no update is lost. It fails
// with fault.Unavailable if the lock file cannot be opened.
func Lock(path string, exclusive bool) (unlock func(), err error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "lock", "lock %s", filepath.Base(path))
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fault.Wrap(err, fault.Unavailable, "lock", "lock %s", filepath.Base(path))
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}

// writeAll writes b at off, failing on a short write.
func writeAll(f io.WriterAt, b []byte, off int64) error {
	n, err := f.WriteAt(b, off)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	return err
}

// fileID names a file (its device and inode): a file written whole again
// is another file.
type fileID struct{ dev, ino uint64 }

func idOf(fi os.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{uint64(st.Dev), uint64(st.Ino)}
	}
	return fileID{}
}
