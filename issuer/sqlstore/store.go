// Package sqlstore is a bank's storage wing: its own database
// (sqldb.OpenWing, wing issuer_<bankid>: the file issuer_<bankid>.db on
// SQLite, the schema issuer_<bankid> on PostgreSQL) holding the bank's
// ledger (ledger/sqlstore's tables, group-committed) and its issuer host's
// own tables: the reversals of originals it never saw and the refunds it
// took. Each bank has its own; nothing of one bank is in another's.
package sqlstore

import (
	"context"
	"embed"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/journal"
	"github.com/tapwallet/tapwallet/ledger"
	lsql "github.com/tapwallet/tapwallet/ledger/sqlstore"
	"github.com/tapwallet/tapwallet/sqldb"
)

//go:embed migrations/*.sql
var own embed.FS

// WingName returns the name of a bank's wing: issuer_ and the bank's id,
// each '-' of the id written '_'.
func WingName(bankID string) string { return "issuer_" + strings.ReplaceAll(bankID, "-", "_") }

// Wing returns a bank's storage wing, for sqldb.OpenWing: the ledger's
// migrations and the issuer host's.
func Wing(bankID string) sqldb.Wing {
	return sqldb.Wing{Name: WingName(bankID), Migrations: union{lsql.Migrations, own}, Dir: "migrations"}
}

// Store is one bank's wing: its ledger (Ledger: group-committed on SQL,
// or with Journaled its holds on the bank's journal) and its issuer host's
// reversals and refunds.
type Store struct {
	DB     *sqldb.DB
	Ledger ledger.Store
	bank   string
	batch  *lsql.Batch     // Ledger on SQL
	jl     *lsql.Journaled // Ledger with its holds journaled
}

// Option changes how Open opens the wing.
type Option func(*options)

type options struct {
	journaled  bool
	shared     *journal.Shared // OnJournal
	deferHolds bool            // DeferHolds
}

// Journaled puts the card holds of the bank's ledger on a journal beside
// the wing's SQLite file (DATA/issuer_<bankid>.journal, or
// STEM-issuer_<bankid>.journal beside sqlite:STEM.db; see
// ledger/sqlstore.Journaled), written behind to the ledger's tables; on
// PostgreSQL it does nothing. Only for the one process placing the bank's
// holds (the platform with every role): issuer hosts of one bank in
// several processes sharing a database keep the SQL path.
func Journaled() Option { return func(o *options) { o.journaled = true } }

// OnJournal puts the bank's journal (Journaled's) in the process's shared
// journal file s (journal.OpenShared), as the stream issuer_<bankid>.journal
// (or STEM-issuer_<bankid>.journal), taking in a journal of its own left
// there.
func OnJournal(s *journal.Shared) Option { return func(o *options) { o.shared = s } }

// DeferHolds has a Journaled wing on a shared journal (OnJournal) write
// its card holds without waiting for the disk
// (ledger/sqlstore.Journaled.DeferHolds): only for the process with every
// role, whose switch alone hears the hold and appends its answer before
// the terminal is told. Ignored without OnJournal.
func DeferHolds() Option { return func(o *options) { o.deferHolds = true } }

var (
	_ issuer.ReversalStore = (*Store)(nil)
	_ issuer.RefundStore   = (*Store)(nil)
)

// Open opens (creating and migrating as needed) a bank's wing on the
// backend dsn names ("" for DATA/issuer_<bankid>.db, "sqlite:PATH",
// "postgres://…"). Close closes it. On SQLite without Journaled, the holds
// a journaled store left in the bank's journal are applied first
// (ledger/sqlstore.ReplayLeft). It fails like sqldb.OpenWing, like
// ledger/sqlstore.OpenJournaled (its journal's replay), and with
// fault.Conflict "ledger_store_busy" without Journaled while a journaled
// store has the bank's journal open.
func Open(ctx context.Context, dsn, dataDir, bankID string, opts ...Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	db, err := sqldb.OpenWing(ctx, dsn, dataDir, Wing(bankID))
	if err != nil {
		return nil, err
	}
	path := lsql.JournalBeside(dsn, dataDir, WingName(bankID))
	if o.journaled && path != "" {
		jl, err := lsql.OpenJournaled(ctx, lsql.New(db), path, journal.Options{Shared: o.shared})
		if err != nil {
			db.Close()
			return nil, err
		}
		if o.deferHolds && o.shared != nil {
			jl.DeferHolds()
		}
		return &Store{DB: db, Ledger: jl, bank: bankID, jl: jl}, nil
	}
	if path != "" {
		// The holds a journaled store left (it stopped before writing them
		// behind) go to SQL first; a journaled store open now refuses us.
		if err := lsql.ReplayLeftShared(ctx, lsql.New(db), journal.Beside(dsn, dataDir, journal.SharedName), path); err != nil {
			db.Close()
			return nil, err
		}
	}
	b := lsql.NewBatch(lsql.New(db))
	return &Store{DB: db, Ledger: b, bank: bankID, batch: b}, nil
}

// OpenBeside opens a bank's wing on the backend db is on
// (sqldb.DB.Beside: the file issuer_<bankid>.db in db's folder, or the
// schema beside db's), with db's clock — for tests and tools that hold
// another party's database. It fails like Open.
func OpenBeside(ctx context.Context, db *sqldb.DB, bankID string) (*Store, error) {
	wdb, err := db.Beside(ctx, Wing(bankID))
	if err != nil {
		return nil, err
	}
	wdb.Now = db.Now
	b := lsql.NewBatch(lsql.New(wdb))
	return &Store{DB: wdb, Ledger: b, bank: bankID, batch: b}, nil
}

// Close stops the ledger's batch worker (or applies its journal to SQL
// and closes it) and closes the database.
func (s *Store) Close() error {
	var err error
	if s.jl != nil {
		err = s.jl.Close()
	} else {
		s.batch.Close()
	}
	if cerr := s.DB.Close(); err == nil {
		err = cerr
	}
	return err
}

// ledgerAlone runs fn, a transaction of the wing that writes the ledger's
// tables, alone with the journaled ledger (its holds applied to SQL before,
// its memory read again after: ledger/sqlstore.Journaled.Alone); on SQL
// it just runs fn.
func (s *Store) ledgerAlone(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.jl == nil {
		return fn(ctx)
	}
	return s.jl.Alone(ctx, fn)
}

// HostConfig fills in what the bank's issuer host keeps in this wing: its
// ledger, reversals, refunds and its cards' points (points.go).
func (s *Store) HostConfig(cfg issuer.HostConfig) issuer.HostConfig {
	cfg.Ledger, cfg.Reversals, cfg.Refunds, cfg.Points = s.Ledger, s, s, s
	return cfg
}

// RememberReversal records that the original with this identity was
// reversed at the bank before it arrived; recording it again changes
// nothing. It fails with fault.Unavailable when the database does.
func (s *Store) RememberReversal(ctx context.Context, bankID, originalID string, at time.Time) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO issuer_reversals (bank_id, original_id, at) VALUES (?, ?, ?) ON CONFLICT (bank_id, original_id) DO NOTHING`,
			bankID, originalID, sqldb.Millis(at))
		return err
	}), "remembering a reversal")
}

// Reversed returns the identities the bank remembers as reversed before
// their original arrived. It fails with fault.Unavailable when the
// database does.
func (s *Store) Reversed(ctx context.Context, bankID string) ([]string, error) {
	rows, err := s.DB.Query(ctx, `SELECT original_id FROM issuer_reversals WHERE bank_id = ?`, bankID)
	if err != nil {
		return nil, sqldb.Err(err, "reading reversals")
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, sqldb.Err(err, "reading reversals")
		}
		out = append(out, id)
	}
	return out, sqldb.Err(rows.Err(), "reading reversals")
}

// ReserveRefund counts a refund against its original in one transaction:
// a refund stored before is Repeated (Clashes if it names another original
// or amount); a new one is counted, and stored, only if the original's
// refunded total stays at most limit (the total's row is updated with that
// condition, so concurrent refunds of one original, on any number of
// hosts, cannot both fit). It fails with fault.Unavailable when the
// database does.
func (s *Store) ReserveRefund(ctx context.Context, r issuer.Refund, limit int64) (issuer.Reserve, error) {
	var out issuer.Reserve
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		var orig string
		var amount int64
		err := tx.QueryRow(ctx, `SELECT original_id, amount FROM issuer_refunds WHERE bank_id = ? AND id = ?`, r.BankID, r.ID).Scan(&orig, &amount)
		if err == nil {
			out = issuer.Repeated
			if orig != r.OriginalID || amount != r.Amount {
				out = issuer.Clashes
			}
			return nil
		}
		if !sqldb.NoRows(err) {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO issuer_refund_totals (bank_id, original_id, refunded) VALUES (?, ?, 0) ON CONFLICT (bank_id, original_id) DO NOTHING`,
			r.BankID, r.OriginalID); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `UPDATE issuer_refund_totals SET refunded = refunded + ? WHERE bank_id = ? AND original_id = ? AND refunded + ? <= ?`,
			r.Amount, r.BankID, r.OriginalID, r.Amount, limit)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			out = issuer.Exceeds
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO issuer_refunds (bank_id, id, original_id, amount, at) VALUES (?, ?, ?, ?, ?)`,
			r.BankID, r.ID, r.OriginalID, r.Amount, sqldb.Millis(r.At)); err != nil {
			return err
		}
		out = issuer.Reserved
		return nil
	})
	if err != nil && sqldb.IsUniqueViolation(err) {
		// The same refund counted by another host at the same moment: ask again.
		return s.ReserveRefund(ctx, r, limit)
	}
	return out, sqldb.Err(err, "counting a refund")
}

// Refunded returns what an original has had refunded at the bank (0 when
// nothing); it fails with fault.Unavailable when the database does.
func (s *Store) Refunded(ctx context.Context, bankID, originalID string) (int64, error) {
	var n int64
	err := s.DB.QueryRow(ctx, `SELECT refunded FROM issuer_refund_totals WHERE bank_id = ? AND original_id = ?`, bankID, originalID).Scan(&n)
	if sqldb.NoRows(err) {
		return 0, nil
	}
	return n, sqldb.Err(err, "reading refunds")
}

// union is the migrations of several file systems, each under the same
// folder, as one: their files listed together in name order.
type union []fs.FS

func (u union) Open(name string) (fs.File, error) {
	for _, f := range u {
		if file, err := f.Open(name); err == nil {
			return file, nil
		}
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func (u union) ReadDir(name string) ([]fs.DirEntry, error) {
	var out []fs.DirEntry
	for _, f := range u {
		es, err := fs.ReadDir(f, name)
		if err != nil {
			return nil, fault.Wrap(err, fault.Internal, "migrate", "read migrations")
		}
		out = append(out, es...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}
