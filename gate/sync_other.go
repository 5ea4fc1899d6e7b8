//go:build !linux

package gate

import "os"

// syncFile makes what was written to f durable (fsync(2) where
// fdatasync(2) is not offered).
func syncFile(f *os.File) error { return f.Sync() }
