package sqlstore

import (
	"context"

	"github.com/tapwallet/tapwallet/ledger"
)

// EncodeHolds is encodeHolds, for the replay tests.
func EncodeHolds(ts []ledger.Transfer) []byte { return encodeHolds(ts) }

// DecodeHolds is decodeHolds, for the record tests.
func DecodeHolds(b []byte) ([]ledger.Transfer, error) { return decodeHolds(b) }

// WithoutIDFilter has j read SQL for every id not in memory, as before it
// had a filter of ids, for the benchmarks.
func WithoutIDFilter(j *Journaled) {
	j.mu.Lock()
	j.ids = nil
	j.mu.Unlock()
}

// ApplyHolds is Store.applyHolds (the write-behind's transaction), for
// its benchmark.
func ApplyHolds(ctx context.Context, s *Store, ts []ledger.Transfer) error {
	_, err := s.applyHolds(ctx, ts)
	return err
}
