package se

import (
	"errors"
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

// createTemp opens the temporary file of an atomic write; syncDir makes a
// rename in dir durable. Tests replace them to make a write, an fsync or a
// close fail.
var (
	createTemp = func(name string) (tempFile, error) {
		return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	}
	syncDir = func(dir string) error {
		d, err := os.Open(dir)
		if err != nil {
			return err
		}
		defer d.Close()
		return d.Sync()
	}
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
		os.Remove(tmp)
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
	if err := os.Rename(tmp, path); err != nil {
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
