// Package datasync makes what was written to a file durable before anyone
// is told it is: File with fdatasync(2) — the data and the size that reads
// it back, without the timestamps fsync(2) also pushes through the file
// system — and Dir with an fsync of a folder, for the names made, renamed
// or removed in it. The secure element, the gate's journal and the
// parties' journals share it.
package datasync

import "os"

// Dir fsyncs the folder dir, making the names created, renamed or
// removed in it durable. It fails when the folder cannot be opened or
// synced (where the system can sync a folder).
func Dir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = syncDir(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
