//go:build !linux

package journal

import "os"

// fdatasync is fsync where fdatasync(2) is not offered.
func fdatasync(f *os.File) error { return f.Sync() }

// lockFile takes no lock where flock(2) is not used.
func lockFile(*os.File) error { return nil }
