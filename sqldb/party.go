package sqldb

import (
	"context"
	"path/filepath"
	"strings"
)

// Party opens the database of one more party of the platform beside db,
// as real parties keep their own: on SQLite the file NAME.db in the folder
// of db's file (STEM-NAME.db when db's file is not tapwallet.db), with
// every migration applied, so that the party's writes do not wait on the
// write lock of the others' file; on PostgreSQL db itself, every party in
// the one database. The caller closes what Party opened when it is not db.
// It fails like Open.
func (db *DB) Party(ctx context.Context, name string) (*DB, error) {
	if db.dialect == Postgres {
		return db, nil
	}
	dir, base := filepath.Split(db.path)
	file := name + ".db"
	if base != "tapwallet.db" {
		ext := filepath.Ext(base)
		file = strings.TrimSuffix(base, ext) + "-" + name + ext
	}
	p, err := Open(ctx, "sqlite:"+filepath.Join(dir, file), "")
	if err != nil {
		return nil, err
	}
	p.Now = db.Now
	return p, nil
}
