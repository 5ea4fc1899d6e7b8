//go:build linux

package datasync

import (
	"os"
	"syscall"
)

// File makes what was written to f durable with fdatasync(2), again when
// a signal interrupts it.
func File(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}

func syncDir(d *os.File) error { return d.Sync() }
