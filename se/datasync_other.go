//go:build !linux

package se

import "os"

// datasync makes what was written to f durable (fsync(2) where
// fdatasync(2) is not offered).
func datasync(f *os.File) error { return f.Sync() }
