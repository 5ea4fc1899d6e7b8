//go:build !linux

package datasync

import "os"

// File makes what was written to f durable: fsync(2) where fdatasync(2)
// is not offered.
func File(f *os.File) error { return f.Sync() }

// syncDir syncs a folder where the system allows it (some cannot).
func syncDir(d *os.File) error {
	d.Sync()
	return nil
}
