package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/issuer/sqlstore"
)

// TestReserveRefund: refunds of one original are counted up to its limit,
// a repeat is counted once, a clash is told apart, and 16 refunds racing
// for one original never come to more than it — in the bank's own wing
// (moved from sqldb's IssuerReversals).
func TestReserveRefund(t *testing.T) {
	backends(t, func(t *testing.T, dsn, dir string) {
		ctx := context.Background()
		s, err := sqlstore.Open(ctx, dsn, dir, "icbc")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		at := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
		for _, tt := range []struct {
			name   string
			r      issuer.Refund
			want   issuer.Reserve
			limit  int64
			reason string
		}{
			{"first", issuer.Refund{BankID: "icbc", ID: "r1", OriginalID: "o1", Amount: 600, At: at}, issuer.Reserved, 1000, ""},
			{"repeat", issuer.Refund{BankID: "icbc", ID: "r1", OriginalID: "o1", Amount: 600, At: at}, issuer.Repeated, 1000, ""},
			{"same id, other amount", issuer.Refund{BankID: "icbc", ID: "r1", OriginalID: "o1", Amount: 601, At: at}, issuer.Clashes, 1000, ""},
			{"same id, other original", issuer.Refund{BankID: "icbc", ID: "r1", OriginalID: "o2", Amount: 600, At: at}, issuer.Clashes, 1000, ""},
			{"too much", issuer.Refund{BankID: "icbc", ID: "r2", OriginalID: "o1", Amount: 401, At: at}, issuer.Exceeds, 1000, ""},
			{"the rest", issuer.Refund{BankID: "icbc", ID: "r3", OriginalID: "o1", Amount: 400, At: at}, issuer.Reserved, 1000, ""},
			{"too much, tried again", issuer.Refund{BankID: "icbc", ID: "r2", OriginalID: "o1", Amount: 401, At: at}, issuer.Exceeds, 1000, ""},
			{"another bank, same ids", issuer.Refund{BankID: "ccb", ID: "r1", OriginalID: "o1", Amount: 600, At: at}, issuer.Reserved, 1000, ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.ReserveRefund(ctx, tt.r, tt.limit)
				if err != nil || got != tt.want {
					t.Errorf("got %d %v, want %d", got, err, tt.want)
				}
			})
		}
		t.Run("racing", func(t *testing.T) {
			var wg sync.WaitGroup
			var mu sync.Mutex
			total := int64(0)
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := issuer.Refund{BankID: "icbc", ID: fmt.Sprintf("race-%d", i), OriginalID: "race", Amount: 300, At: at}
					got, err := s.ReserveRefund(ctx, r, 1000)
					if err != nil {
						t.Errorf("refund %d: %v", i, err)
						return
					}
					if got == issuer.Reserved {
						mu.Lock()
						total += r.Amount
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if total != 900 {
				t.Errorf("got %d counted, want 900 (three refunds of 300 fit in 1000)", total)
			}
		})
	})
}
