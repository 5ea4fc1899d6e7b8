package main

import (
	"bytes"
	"os"
	"strconv"
)

// diskWritten is the bytes the process has caused to be written to
// storage so far: write_bytes of /proc/self/io, which Linux counts a page
// at a time as the process dirties it in the page cache (a write into a
// page already dirty and not yet written back costs nothing more; one
// into a page written back since, a whole page again), whoever writes it
// back later. It is 0 where /proc/self/io cannot be read.
func diskWritten() uint64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	return parseWriteBytes(b)
}

// parseWriteBytes reads the write_bytes line of a /proc/PID/io; 0 when
// there is none.
func parseWriteBytes(b []byte) uint64 {
	for _, line := range bytes.Split(b, []byte("\n")) {
		v, ok := bytes.CutPrefix(line, []byte("write_bytes:"))
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
		if err != nil {
			return 0
		}
		return n
	}
	return 0
}
