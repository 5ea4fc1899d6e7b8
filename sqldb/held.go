package sqldb

import "context"

// Held is a storage wing's database as the wing's store holds it: each
// `*/sqlstore` Store embeds it (so s.DB is the wing's database), and its
// Close closes the database only when the store opened it (OpenHeld,
// HoldBeside), never one handed to the store (Hold).
type Held struct {
	DB    *DB
	owned bool
}

// Hold holds db, opened by the caller, who closes it.
func Hold(db *DB) Held { return Held{DB: db} }

// OpenHeld opens wing w (OpenWing) and holds it: Close closes it. It fails
// like OpenWing.
func OpenHeld(ctx context.Context, dsn, dataDir string, w Wing) (Held, error) {
	db, err := OpenWing(ctx, dsn, dataDir, w)
	if err != nil {
		return Held{}, err
	}
	return Held{DB: db, owned: true}, nil
}

// HoldBeside opens wing w on the backend db is on (DB.Beside), with db's
// clock, and holds it: Close closes it. It fails like OpenWing.
func HoldBeside(ctx context.Context, db *DB, w Wing) (Held, error) {
	wdb, err := db.Beside(ctx, w)
	if err != nil {
		return Held{}, err
	}
	wdb.Now = db.Now
	return Held{DB: wdb, owned: true}, nil
}

// Close closes the database if the store opened it (once); a database
// handed to Hold stays open. It fails like DB.Close.
func (h *Held) Close() error {
	if !h.owned {
		return nil
	}
	h.owned = false
	return h.DB.Close()
}
