//go:build linux

package gate

import (
	"os"
	"syscall"
)

// syncFile makes what was written to f durable with fdatasync(2): the data
// and the size that reads it back, without the timestamps fsync(2) also
// pushes through the file system's journal.
func syncFile(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
