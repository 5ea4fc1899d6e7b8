//go:build linux

package se

import (
	"os"
	"syscall"
)

// datasync makes what was written to f durable with fdatasync(2): the data
// and the size that reads it back, without the timestamps fsync(2) also
// pushes through the file system's journal.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
