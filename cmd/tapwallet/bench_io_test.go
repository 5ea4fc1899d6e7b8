package main

import (
	"testing"
)

// TestParseWriteBytes reads write_bytes out of a /proc/PID/io, not the
// wchar or cancelled_write_bytes beside it, and 0 from text without it.
func TestParseWriteBytes(t *testing.T) {
	io := "rchar: 6976\nwchar: 512\nsyscr: 10\nsyscw: 3\nread_bytes: 4096\nwrite_bytes: 1589248\ncancelled_write_bytes: 8192\n"
	if got := parseWriteBytes([]byte(io)); got != 1589248 {
		t.Errorf("write_bytes %d, want 1589248", got)
	}
	for _, bad := range []string{"", "rchar: 1\nwchar: 2\n", "write_bytes: lots\n", "cancelled_write_bytes: 8192\n"} {
		if got := parseWriteBytes([]byte(bad)); got != 0 {
			t.Errorf("%q: %d, want 0", bad, got)
		}
	}
	if m := medians([]authFigures{{Tokens: 8, DiskKB: 9}, {Tokens: 8, DiskKB: 1}, {Tokens: 8, DiskKB: 4}}); m[0].DiskKB != 4 {
		t.Errorf("median disk KB %v, want 4", m[0].DiskKB)
	}
}
