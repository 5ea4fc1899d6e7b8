package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/ledger/ledgertest"
	"github.com/tapwallet/tapwallet/money"
)

func TestMemStoreRules(t *testing.T) {
	clock := ledgertest.NewClock()
	ledgertest.Run(t, ledger.NewMemStore(clock.Now), clock)
}

func TestMemStoreProperty(t *testing.T) {
	clock := ledgertest.NewClock()
	ledgertest.Property(t, ledger.NewMemStore(clock.Now), clock)
}

func TestResultErr(t *testing.T) {
	cases := []struct {
		r    ledger.Result
		kind fault.Kind // "" for no error
	}{
		{ledger.OK, ""},
		{ledger.Exists, ""},
		{ledger.ExceedsCredits, fault.Declined},
		{ledger.ExceedsDebits, fault.Declined},
		{ledger.PendingTransferNotFound, fault.NotFound},
		{ledger.DebitAccountNotFound, fault.NotFound},
		{ledger.ExistsWithDifferentFields, fault.Conflict},
		{ledger.PendingTransferAlreadyPosted, fault.Conflict},
		{ledger.PendingTransferExpired, fault.Conflict},
		{ledger.OverflowsDebits, fault.Limit},
		{ledger.AmountMustNotBeZero, fault.Invalid},
	}
	for _, tc := range cases {
		t.Run(string(tc.r), func(t *testing.T) {
			err := tc.r.Err()
			if tc.kind == "" {
				if err != nil || !tc.r.Applied() {
					t.Fatalf("got %v (applied %v), want no error and applied", err, tc.r.Applied())
				}
				return
			}
			if tc.r.Applied() {
				t.Fatalf("applied: got true, want false")
			}
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != tc.kind || fe.Code != string(tc.r) {
				t.Fatalf("got %v, want a %s error with code %s", err, tc.kind, tc.r)
			}
		})
	}
}

func TestAvailable(t *testing.T) {
	cases := []struct {
		name string
		a    ledger.Account
		want int64
	}{
		{"debit card", ledger.Account{Flags: ledger.DebitsMustNotExceedCredits, CreditsPosted: 1000, DebitsPosted: 300, DebitsPending: 200, CreditsPending: 50}, 500},
		{"credit line", ledger.Account{Code: ledger.CodeCreditLine, Flags: ledger.DebitsMustNotExceedCredits, CreditsPosted: 5000, DebitsPosted: 4000}, 1000},
		{"cash", ledger.Account{Flags: ledger.CreditsMustNotExceedDebits, DebitsPosted: 300, CreditsPosted: 100, CreditsPending: 50}, 150},
		{"no flags", ledger.Account{DebitsPosted: 300}, -300},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.Available(); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestHoldPostVoid(t *testing.T) {
	h := ledger.Hold("auth-1", "cust", "settle", money.Fen(1234), ledger.HoldTimeout, "rrn")
	if h.Flags != ledger.Pending || h.Amount != 1234 || h.Currency != money.CNY || h.Timeout != ledger.HoldTimeout || h.Money() != money.Fen(1234) {
		t.Errorf("hold: got %+v, want a pending 12.34 CNY for 7 days", h)
	}
	if p := ledger.Post("clear-1", "auth-1", 0, ""); p.Flags != ledger.PostPending || p.PendingID != "auth-1" {
		t.Errorf("post: got %+v, want a post of auth-1", p)
	}
	if v := ledger.Void("rev-1", "auth-1", ""); v.Flags != ledger.VoidPending || v.PendingID != "auth-1" {
		t.Errorf("void: got %+v, want a void of auth-1", v)
	}
}

func TestCodeValid(t *testing.T) {
	for _, c := range []ledger.Code{ledger.CodeCustomerDebit, ledger.CodeCreditLine, ledger.CodeCreditLimit, ledger.CodeBankSettlement,
		ledger.CodeNetworkSettlement, ledger.CodeBankCash, ledger.CodePromotion, ledger.CodeFeeIncome} {
		if !c.Valid() {
			t.Errorf("%s: got invalid, want valid", c)
		}
	}
	if ledger.Code("savings").Valid() || ledger.Code("").Valid() {
		t.Errorf("unknown codes: got valid, want invalid")
	}
}

// BenchmarkHoldRules measures the rules of one card hold
// (CreateTransfersIn over MemStore: what the journaled ledger runs in
// memory for each authorization), allocations included.
func BenchmarkHoldRules(b *testing.B) {
	ctx := context.Background()
	s := ledger.NewMemStore(ledgertest.NewClock().Now)
	const customers = 1000
	accounts := []ledger.Account{{ID: "settle", Currency: money.CNY, Code: ledger.CodeBankSettlement}, {ID: "cash", Currency: money.CNY, Code: ledger.CodeBankCash}}
	for i := range customers {
		accounts = append(accounts, ledger.Account{ID: fmt.Sprintf("acct-%06d", i), Currency: money.CNY, Code: ledger.CodeCustomerDebit, Flags: ledger.DebitsMustNotExceedCredits})
	}
	if _, err := s.CreateAccounts(ctx, accounts); err != nil {
		b.Fatal(err)
	}
	for i := range customers {
		if _, err := s.CreateTransfer(ctx, ledger.Transfer{ID: fmt.Sprintf("fund%d", i), DebitAccountID: "cash", CreditAccountID: accounts[2+i].ID, Amount: 1 << 50, Currency: money.CNY}); err != nil {
			b.Fatal(err)
		}
	}
	ids := make([]string, 1<<16)
	for i := range ids {
		ids[i] = fmt.Sprintf("bank-07|12%08d|%06d|TERM%04d", i/7, i%1_000_000, i%10_000)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		h := ledger.Hold(ids[n%len(ids)]+fmt.Sprint(n/len(ids)), accounts[2+n%customers].ID, "settle", money.New(1234, money.CNY), ledger.HoldTimeout, "rrn 634012345678")
		n++
		if r, err := s.CreateTransfer(ctx, h); err != nil || r != ledger.OK {
			b.Fatalf("hold: got %s (%v), want ok", r, err)
		}
	}
}
