package sqldb

import (
	"net/url"
	"sync/atomic"
)

// sqliteVFS names the SQLite VFS files are opened through ("" for SQLite's
// own, the default); set by SetSQLiteVFS.
var sqliteVFS atomic.Pointer[string]

// SetSQLiteVFS makes the SQLite files opened after it go through the VFS
// registered under name ("" restores SQLite's own). It is process-wide and
// is for tests that put a file layer of their own under SQLite — the
// simulated power loss of sqldb/powerloss; nothing in the platform calls it.
func SetSQLiteVFS(name string) { sqliteVFS.Store(&name) }

// vfsParam is the DSN parameter that selects the VFS, or "".
func vfsParam() string {
	if p := sqliteVFS.Load(); p != nil && *p != "" {
		return "&vfs=" + url.QueryEscape(*p)
	}
	return ""
}
