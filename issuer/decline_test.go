package issuer_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/ledger"
)

// reasons is a slog handler that keeps the typed decline reasons a host
// logs.
type reasons struct {
	mu  sync.Mutex
	got []error
}

func (r *reasons) Enabled(context.Context, slog.Level) bool { return true }
func (r *reasons) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *reasons) WithGroup(string) slog.Handler            { return r }
func (r *reasons) Handle(_ context.Context, rec slog.Record) error {
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "reason" {
			err, _ := a.Value.Any().(error)
			r.mu.Lock()
			r.got = append(r.got, err)
			r.mu.Unlock()
		}
		return true
	})
	return nil
}

// TestDeclineReasons: each decline carries the issuer's typed reason,
// found with errors.Is against the exported constant, and logs as the
// bare code.
func TestDeclineReasons(t *testing.T) {
	banks, err := bank.Default()
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC) }
	log := &reasons{}
	h, err := issuer.NewHost(context.Background(), issuer.HostConfig{Banks: banks, BankID: "icbc", Ledger: ledger.NewMemStore(now),
		Secret: []byte("s"), Now: now, Log: slog.New(log)})
	if err != nil {
		t.Fatal(err)
	}
	var debit string
	for _, c := range banks.Holders("icbc").Cards() {
		if debit == "" && c.Usable() && c.Product == bank.Debit && !c.Expiry.Expired(now()) {
			debit = c.PAN.Digits()
		}
	}
	tests := []struct {
		name string
		pan  string
		amt  int64
		want issuer.Decline
		rc   string
	}{
		{"not a card number", "1234", 100, issuer.DeclineBadPAN, "14"},
		{"not a card of the bank", notIssued(debit), 100, issuer.DeclineCardNotFound, "14"},
		{"more than the balance", debit, 4_999_999, issuer.DeclineInsufficientFunds, "51"},
		{"above the limit", debit, 5_000_001, issuer.DeclinePerTransactionLimit, "61"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log.got = nil
			if got := rc(h.Handle(context.Background(), msg(tt.pan, tt.amt))); got != tt.rc {
				t.Fatalf("got rc %s, want %s", got, tt.rc)
			}
			if len(log.got) != 1 || !errors.Is(log.got[0], tt.want) {
				t.Fatalf("got reasons %v, want %s", log.got, tt.want)
			}
			var d issuer.Decline
			if !errors.As(log.got[0], &d) || d.LogValue().String() != string(tt.want) {
				t.Errorf("logged as %v, want the bare code %s", d.LogValue(), tt.want)
			}
		})
	}
}

// notIssued is a card number of the bank's BIN that it did not issue: the
// account digits of pan changed, with a good Luhn check digit.
func notIssued(pan string) string {
	b := []byte(pan[:len(pan)-1])
	b[len(b)-2] = '0' + (b[len(b)-2]-'0'+5)%10
	sum := 0
	for i := len(b) - 1; i >= 0; i-- {
		d := int(b[i] - '0')
		if (len(b)-1-i)%2 == 0 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return string(b) + string(rune('0'+(10-sum%10)%10))
}
