//go:build !linux

package gate

import "os"

// syncFile makes what was written to f durable (fsync(2) where
// fdatasync(2) is not offered).
func syncFile(f *os.File) error { return f.Sync() }

// syncDir makes a rename in dir durable where the system allows it.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	d.Sync() // some systems cannot sync a folder
	return nil
}
