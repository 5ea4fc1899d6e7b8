//go:build linux

package journal

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive flock(2) on f without waiting: ErrLocked
// when another open file holds it.
func lockFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if err == syscall.EWOULDBLOCK {
		return ErrLocked
	}
	return err
}
