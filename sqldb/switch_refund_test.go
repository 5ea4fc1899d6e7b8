package sqldb_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// TestReserveRefund: refunds of one original are counted up to its limit,
// a repeat is counted once, a clash is told apart, and 16 refunds racing
// for one original never come to more than it.
func TestReserveRefund(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := &sqldb.IssuerReversals{DB: db}
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

// TestPlanRefund: a refund is spread over the charges named, each part at
// most what its charge has left; planning the same refund again gives the
// same parts; a declined part frees its charge again.
func TestPlanRefund(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := &sqldb.AcquirerStore{DB: db}
		now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
		for i, amount := range []int64{2000, 5000} {
			c := netswitch.Charge{Ref: fmt.Sprintf("c%d", i), Token: "6288010000000000", Acquirer: "48021000", Terminal: "TR000021",
				STAN: fmt.Sprintf("%06d", i+1), Transmission: "0314090000", RRN: fmt.Sprintf("%012d", i+1), Merchant: "898000214111001",
				MerchantName: "SHANGHAI TRANSIT", MCC: "4111", Amount: amount, Currency: 156, At: now}
			for range 2 {
				if err := s.SaveCharge(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
		}
		got, err := s.Charge(ctx, "c1")
		if err != nil || got.Amount != 5000 || got.AuthID() != netswitch.AuthID("TR000021", "000002", "0314090000") {
			t.Fatalf("got charge %+v %v, want c1 of 5000", got, err)
		}
		stans := iso8583.NewSTANCounter(0)
		parts, err := s.PlanRefund(ctx, "r1", []string{"c1", "c0"}, 6000, stans.Next, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) != 2 || parts[0].ChargeRef != "c1" || parts[0].Message.Amount != 5000 || parts[1].ChargeRef != "c0" || parts[1].Message.Amount != 1000 {
			t.Fatalf("got parts %+v, want 5000 of c1 and 1000 of c0", parts)
		}
		again, err := s.PlanRefund(ctx, "r1", []string{"c0"}, 1, stans.Next, now.Add(time.Hour))
		if err != nil || len(again) != 2 || again[1].Message != parts[1].Message {
			t.Fatalf("got %+v %v planning again, want the same parts", again, err)
		}
		more, err := s.PlanRefund(ctx, "r2", []string{"c1", "c0"}, 5000, stans.Next, now)
		if err != nil || len(more) != 1 || more[0].Message.Amount != 1000 {
			t.Fatalf("got %+v %v, want only the 1000 left of c0", more, err)
		}
		if err := s.AnswerRefund(ctx, "r1", 0, "13", ""); err != nil {
			t.Fatal(err)
		}
		freed, err := s.PlanRefund(ctx, "r3", []string{"c1"}, 9000, stans.Next, now)
		if err != nil || len(freed) != 1 || freed[0].Message.Amount != 5000 {
			t.Fatalf("got %+v %v, want the 5000 of c1 freed by the declined part", freed, err)
		}
	})
}
