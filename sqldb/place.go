package sqldb

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/tapwallet/tapwallet/fault"
)

// Place names where the storage wings of a deployment live, without
// opening anything: DSN "" or "sqlite:" puts each wing in its own file
// NAME.db in Dir; "sqlite:PATH" puts STEM-NAME.db beside PATH;
// "postgres://…" gives each wing its own schema of that database (see
// OpenWing). It is what the assembly (platform) and the tools
// (cmd/tapwallet) hold in place of a database: each party opens its own
// wing there.
type Place struct {
	DSN string
	Dir string // the data folder (SQLite)
}

// NewPlace checks that dsn names a backend this kernel speaks and that a
// SQLite place has a data folder, creating the folder (mode 0700) if it is
// missing; it opens no database. It fails with fault.Invalid "db_dsn" or
// "db_open", or fault.Unavailable when the folder cannot be made.
func NewPlace(dsn, dir string) (Place, error) {
	pl := Place{DSN: dsn, Dir: dir}
	switch {
	case pl.Dialect() == Postgres:
	case dsn == "" || dsn == "sqlite:":
		if dir == "" {
			return Place{}, fault.E(fault.Invalid, "db_open", "no data folder and no database given")
		}
		if err := makeFolder(dir); err != nil {
			return Place{}, err
		}
	case strings.HasPrefix(dsn, "sqlite:"):
	default:
		return Place{}, fault.E(fault.Invalid, "db_dsn", "database DSN must start with sqlite: or postgres://")
	}
	return pl, nil
}

// Dialect returns the backend the place's DSN names.
func (pl Place) Dialect() Dialect {
	if strings.HasPrefix(pl.DSN, "postgres://") || strings.HasPrefix(pl.DSN, "postgresql://") {
		return Postgres
	}
	return SQLite
}

// Open opens the wing w at the place (OpenWing). It fails like OpenWing.
func (pl Place) Open(ctx context.Context, w Wing) (*DB, error) {
	return OpenWing(ctx, pl.DSN, pl.Dir, w)
}

// Place returns where db lives: the DSN it was opened with and, on SQLite,
// the folder of its file — the place of the wings beside it.
func (db *DB) Place() Place {
	pl := Place{DSN: db.dsn}
	if db.path != "" {
		pl.Dir = filepath.Dir(db.path)
	}
	return pl
}

// Beside opens the storage wing w at the place of db (Place) — on SQLite
// the wing's file in db's folder, on PostgreSQL its schema beside db's —
// for tests and tools that hold one party's database and need another's.
// It fails like OpenWing.
func (db *DB) Beside(ctx context.Context, w Wing) (*DB, error) {
	return db.Place().Open(ctx, w)
}
