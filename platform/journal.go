package platform

import (
	"path/filepath"

	"github.com/tapwallet/tapwallet/fault"
	issuerstore "github.com/tapwallet/tapwallet/issuer/sqlstore"
	"github.com/tapwallet/tapwallet/journal"
	netstore "github.com/tapwallet/tapwallet/netswitch/sqlstore"
	tspstore "github.com/tapwallet/tapwallet/tsp/sqlstore"
)

// The process's one journal (issue 16): with every role here on SQLite
// (soleNetwork), the parties that journal their hot path — the switch's
// records, the token service's key uses, each bank's holds — append to
// one shared file, DATA/tapwallet.journal (or STEM-tapwallet.journal
// beside sqlite:STEM.db), each as a stream of its own named as its
// journal was (network.journal, tsp.journal, issuer_<bankid>.journal: a
// data folder written by the per-party journals is taken in). An
// authorization then waits for the group commits of one file, not of
// four. The file is a disk the process offers, not shared data: each
// party encodes and decodes its own records.
//
// When every issuer host is in this process too, the key use, the
// switch's record before the issuer is asked and the issuer's hold are
// written without waiting for the disk (journal.Log.Write): none reaches
// anyone outside the process before the switch's append of its answer
// (FinishAuth) returns, and that append — later on the same file — makes
// them durable with it.

// openJournal opens the shared journal when this process runs every role
// on SQLite; nothing otherwise. It fails like journal.OpenShared
// (fault.Conflict journal_locked while another process has the data
// folder's journal open).
func (p *Platform) openJournal(cfg Config) error {
	if !soleNetwork(cfg) {
		return nil
	}
	path := journal.Beside(cfg.DSN, cfg.DataDir, journal.SharedName)
	if path == "" {
		return nil
	}
	s, err := journal.OpenShared(path, journal.Options{})
	if fault.CodeOf(err) == journal.CodeLocked {
		return fault.E(fault.Conflict, journal.CodeLocked, "another process with every role (tapwallet serve?) has this data folder's journal %s open: run one per data folder, or stop it first", filepath.Base(path))
	}
	if err != nil {
		return err
	}
	p.net.journal = s
	p.net.deferWrites = len(cfg.IssuersAt) == 0 && cfg.IssuersBase == "" && len(cfg.IssuerBanks) == 0
	return nil
}

// closeJournal closes the shared journal, after the stores on it.
func (p *Platform) closeJournal() {
	if p.net.journal != nil {
		p.net.journal.Close()
		p.net.journal = nil
	}
}

// tspJournal are the token service store's options for the shared
// journal.
func (p *Platform) tspJournal() []tspstore.Option {
	if p.net.journal == nil {
		return nil
	}
	opts := []tspstore.Option{tspstore.OnJournal(p.net.journal)}
	if p.net.deferWrites {
		opts = append(opts, tspstore.DeferUses())
	}
	return opts
}

// netJournal are the network store's options for the shared journal.
func (p *Platform) netJournal() []netstore.Option {
	if p.net.journal == nil {
		return nil
	}
	opts := []netstore.Option{netstore.OnJournal(p.net.journal)}
	if p.net.deferWrites {
		opts = append(opts, netstore.DeferIntents())
	}
	return opts
}

// bankJournal are a bank wing's options for the shared journal.
func (p *Platform) bankJournal() []issuerstore.Option {
	if p.net.journal == nil {
		return nil
	}
	opts := []issuerstore.Option{issuerstore.OnJournal(p.net.journal)}
	if p.net.deferWrites {
		opts = append(opts, issuerstore.DeferHolds())
	}
	return opts
}
