package issuer_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/ledger"
)

var seq int

// msg builds an 0100 as the network forwards it: the PAN in DE2.
func msg(pan string, amount int64) *iso8583.Message {
	seq++
	m := iso8583.New(iso8583.AuthorizationRequest)
	m.SetTransmissionTime(time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC))
	m.SetLocalTime(time.Date(2026, 3, 14, 17, 0, 0, 0, time.UTC))
	_ = m.SetString(iso8583.DEPAN, pan)
	_ = m.SetString(iso8583.DEProcessingCode, "000000")
	_ = m.SetNumber(iso8583.DEAmount, amount)
	_ = m.SetNumber(iso8583.DECurrency, 156)
	_ = m.SetSTAN(iso8583.STAN(seq))
	_ = m.SetString(iso8583.DEAcquirer, "48021000")
	_ = m.SetString(iso8583.DERRN, fmt.Sprintf("%012d", seq))
	_ = m.SetString(iso8583.DETerminal, "T0000001")
	_ = m.SetString(iso8583.DEMerchant, "898310054110001")
	return m
}

func reversal(orig *iso8583.Message) *iso8583.Message {
	seq++
	m := iso8583.New(iso8583.ReversalRequest)
	m.Copy(orig, iso8583.DEPAN, iso8583.DEProcessingCode, iso8583.DEAmount, iso8583.DECurrency, iso8583.DEAcquirer,
		iso8583.DERRN, iso8583.DETerminal, iso8583.DEMerchant)
	m.SetTransmissionTime(time.Now())
	_ = m.SetSTAN(iso8583.STAN(seq))
	stan, _ := orig.String(iso8583.DESTAN)
	de7, _ := orig.String(iso8583.DETransmission)
	_ = m.SetString(iso8583.DEOriginal, "0100"+stan+de7+"00048021000"+"00000000000")
	return m
}

func hosts(t testing.TB) (map[string]*issuer.Host, ledger.Store) {
	t.Helper()
	banks, err := bank.Default()
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC) }
	led := ledger.NewMemStore(now)
	out := map[string]*issuer.Host{}
	for _, id := range []string{"icbc", "cmb", "boc"} {
		h, err := issuer.NewHost(context.Background(), issuer.HostConfig{Banks: banks, BankID: id, Ledger: led, Secret: []byte("s"), Now: now})
		if err != nil {
			t.Fatal(err)
		}
		out[id] = h
	}
	return out, led
}

func rc(m *iso8583.Message) string {
	if m == nil {
		return "no answer"
	}
	v, _ := m.String(iso8583.DEResponseCode)
	return v
}

func TestHostAuthorization(t *testing.T) {
	hs, _ := hosts(t)
	ctx := context.Background()
	icbc := hs["icbc"]
	tests := []struct {
		name string
		host string
		msg  func() *iso8583.Message
		want string
	}{
		{"approved", "icbc", func() *iso8583.Message { return msg("6222020000000007", 12345) }, "00"},
		{"insufficient funds", "icbc", func() *iso8583.Message { return msg("6222020000000007", 500_001) }, "51"},
		{"over the per-transaction limit", "icbc", func() *iso8583.Message { return msg("6253300000000005", 5_000_001) }, "61"},
		{"not this bank's card", "icbc", func() *iso8583.Message { return msg("6217000000000000004", 100) }, "14"},
		{"no such card", "icbc", func() *iso8583.Message { return msg("6222020000000015", 100) }, "14"},
		{"expired card", "cmb", func() *iso8583.Message { return msg("6214830000015189", 100) }, "54"},
		{"card blocked by the bank", "boc", func() *iso8583.Message { return msg("6216610000020001", 100) }, "57"},
		{"card reported lost", "icbc", func() *iso8583.Message { return msg("6253300000020003", 100) }, "41"},
		{"refund", "icbc", func() *iso8583.Message {
			m := msg("6222020000000007", 100)
			_ = m.SetString(iso8583.DEProcessingCode, "200000")
			return m
		}, "12"},
		{"zero amount", "icbc", func() *iso8583.Message { return msg("6222020000000007", 0) }, "13"},
		{"other currency", "icbc", func() *iso8583.Message {
			m := msg("6222020000000007", 100)
			_ = m.SetNumber(iso8583.DECurrency, 840)
			return m
		}, "13"},
		{"missing DE11", "icbc", func() *iso8583.Message {
			m := msg("6222020000000007", 100)
			m.Unset(iso8583.DESTAN)
			return m
		}, "30"},
		{"unsupported MTI", "icbc", func() *iso8583.Message {
			m := msg("6222020000000007", 100)
			m.MTI = iso8583.AuthorizationAdvice
			return m
		}, "40"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := hs[tc.host].Handle(ctx, tc.msg())
			if got := rc(resp); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			code, has := resp.String(iso8583.DEAuthID)
			if tc.want == "00" && len(code) != 6 {
				t.Errorf("got auth code %q, want 6 characters", code)
			}
			if tc.want != "00" && has {
				t.Error("a decline carries an auth code")
			}
		})
	}
	t.Run("a repeat gets the same answer and no second hold", func(t *testing.T) {
		m := msg("6222020000000007", 700)
		first := icbc.Handle(ctx, m)
		again := icbc.Handle(ctx, m)
		a, _ := first.String(iso8583.DEAuthID)
		b, _ := again.String(iso8583.DEAuthID)
		if rc(first) != "00" || rc(again) != "00" || a != b {
			t.Fatalf("got %s %s then %s %s, want the same approval twice", rc(first), a, rc(again), b)
		}
	})
	t.Run("a repeated decline stays declined", func(t *testing.T) {
		held := msg("6222020000000007", 100_000)
		if got := rc(icbc.Handle(ctx, held)); got != "00" {
			t.Fatalf("got %s, want 00", got)
		}
		m := msg("6222020000000007", 400_000)
		if got := rc(icbc.Handle(ctx, m)); got != "51" {
			t.Fatalf("got %s, want 51", got)
		}
		// Money is freed meanwhile; the repeat still gets the first answer.
		if got := rc(icbc.Handle(ctx, reversal(held))); got != "00" {
			t.Fatalf("got %s for the reversal, want 00", got)
		}
		if got := rc(icbc.Handle(ctx, m)); got != "51" {
			t.Fatalf("got %s for the repeat, want 51 again", got)
		}
	})
}

func TestHostReversal(t *testing.T) {
	hs, led := hosts(t)
	ctx := context.Background()
	icbc := hs["icbc"]
	holdOf := func(m *iso8583.Message) (ledger.Transfer, error) {
		de7, _ := m.String(iso8583.DETransmission)
		stan, _ := m.String(iso8583.DESTAN)
		return led.LookupTransfer(ctx, issuer.HoldID("icbc", de7, stan, "T0000001"))
	}
	t.Run("voids the hold, twice answers 00", func(t *testing.T) {
		m := msg("6222020000000007", 3000)
		if got := rc(icbc.Handle(ctx, m)); got != "00" {
			t.Fatalf("got %s, want 00", got)
		}
		for i := 0; i < 2; i++ {
			if got := rc(icbc.Handle(ctx, reversal(m))); got != "00" {
				t.Fatalf("reversal %d: got %s, want 00", i+1, got)
			}
		}
		if h, err := holdOf(m); err != nil || h.Status != ledger.StatusVoided {
			t.Fatalf("got hold %v %v, want voided", h.Status, err)
		}
	})
	t.Run("after clearing", func(t *testing.T) {
		m := msg("6222020000000007", 3000)
		icbc.Handle(ctx, m)
		h, _ := holdOf(m)
		if r, err := led.CreateTransfer(ctx, ledger.Post("post|"+h.ID, h.ID, 0, "")); err != nil || r != ledger.OK {
			t.Fatalf("post: %v %v", r, err)
		}
		if got := rc(icbc.Handle(ctx, reversal(m))); got != "12" {
			t.Fatalf("got %s for reversing a cleared authorization, want 12", got)
		}
	})
	t.Run("unknown original, remembered", func(t *testing.T) {
		m := msg("6222020000000007", 3000)
		if got := rc(icbc.Handle(ctx, reversal(m))); got != "25" {
			t.Fatalf("got %s, want 25", got)
		}
		if got := rc(icbc.Handle(ctx, m)); got != "05" {
			t.Fatalf("got %s for the late original, want 05", got)
		}
		if _, err := holdOf(m); err == nil {
			t.Fatal("the late original placed a hold")
		}
	})
	t.Run("bad DE90", func(t *testing.T) {
		r := reversal(msg("6222020000000007", 3000))
		v, _ := r.String(iso8583.DEOriginal)
		_ = r.SetString(iso8583.DEOriginal, "0800"+v[4:])
		if got := rc(icbc.Handle(ctx, r)); got != "30" {
			t.Fatalf("got %s, want 30", got)
		}
	})
}

// countingMeter records the response codes a host tells its meter.
type countingMeter struct {
	mu    sync.Mutex
	codes []string
}

func (m *countingMeter) Hop(string, time.Duration) {}
func (m *countingMeter) Answered(rc string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.codes = append(m.codes, rc)
}

// TestHostDispatch: the host answers through the one MTI dispatcher
// (netmsg.Mux, issuer side) — an echo (0800) is answered, a request that
// does not decode is answered 30 whatever its type, one nobody handles
// 40 — and the meter is told every authorization's answer, the
// dispatcher's 30 included, and nothing of the other types.
func TestHostDispatch(t *testing.T) {
	banks, err := bank.Default()
	if err != nil {
		t.Fatal(err)
	}
	meter := &countingMeter{}
	now := func() time.Time { return time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC) }
	h, err := issuer.NewHost(context.Background(), issuer.HostConfig{Banks: banks, BankID: "icbc", Ledger: ledger.NewMemStore(now),
		Secret: []byte("s"), Now: now, Meter: meter})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	echo := iso8583.New(iso8583.NetworkRequest)
	echo.SetTransmissionTime(now())
	_ = echo.SetSTAN(1)
	_ = echo.SetString(iso8583.DENetworkCode, string(iso8583.EchoTest))
	if got := rc(h.Handle(ctx, echo)); got != "00" {
		t.Errorf("echo: got %s, want 00", got)
	}

	ok := msg("6222020000000007", 100)
	noAmount := msg("6222020000000007", 100)
	noAmount.Unset(iso8583.DEAmount)
	if got := rc(h.Handle(ctx, ok)); got != "00" {
		t.Fatalf("authorization: got %s, want 00", got)
	}
	if got := rc(h.Handle(ctx, noAmount)); got != "30" {
		t.Errorf("authorization without DE4: got %s, want 30", got)
	}

	rev := reversal(ok)
	_ = rev.SetString(iso8583.DEOriginal, "0200"+"000001"+"0314090000"+"00048021000"+"00000000000") // not an authorization's
	if got := rc(h.Handle(ctx, rev)); got != "30" {
		t.Errorf("reversal whose DE90 names a 0200: got %s, want 30", got)
	}
	refund := reversal(ok)
	refund.MTI = iso8583.FinancialRequest
	refund.Unset(iso8583.DEOriginal)
	if got := rc(h.Handle(ctx, refund)); got != "30" {
		t.Errorf("refund without DE90: got %s, want 30", got)
	}
	advice := msg("6222020000000007", 100)
	advice.MTI = iso8583.ReversalAdvice
	if got := rc(h.Handle(ctx, advice)); got != "40" {
		t.Errorf("reversal advice: got %s, want 40", got)
	}

	meter.mu.Lock()
	defer meter.mu.Unlock()
	if len(meter.codes) != 2 || meter.codes[0] != "00" || meter.codes[1] != "30" {
		t.Errorf("meter told %v, want [00 30]: the authorizations only, the dispatcher's 30 included", meter.codes)
	}
}

// TestAuthCode: an approval's code is the first six bytes of
// HMAC-SHA256(secret, "authcode|" + the message identity), each taken
// modulo the 34 letters and digits without I and O — the same for the same
// identity, whichever goroutine asks (the keyed HMACs are kept between
// calls) — and the 0110 of an approval carries it in DE38.
func TestAuthCode(t *testing.T) {
	hs, _ := hosts(t)
	h := hs["icbc"]
	want := func(id string) string {
		const alphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
		m := hmac.New(sha256.New, []byte("s"))
		m.Write([]byte("authcode|" + id))
		sum := m.Sum(nil)
		out := make([]byte, 6)
		for i := range out {
			out[i] = alphabet[int(sum[i])%len(alphabet)]
		}
		return string(out)
	}
	ids := []string{"", "icbc|0314090000|000001|T0000001", strings.Repeat("x", 300)}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := ids[(g+i)%len(ids)]
				if got := h.AuthCode(id); got != want(id) {
					t.Errorf("AuthCode(%q) = %s, want %s", id, got, want(id))
					return
				}
			}
		}()
	}
	wg.Wait()
	req := msg("6222020000000007", 100)
	resp := h.Handle(context.Background(), req)
	de7, _ := req.String(iso8583.DETransmission)
	stan, _ := req.String(iso8583.DESTAN)
	if code, _ := resp.String(iso8583.DEAuthID); rc(resp) != "00" || code != want(issuer.HoldID("icbc", de7, stan, "T0000001")) {
		t.Fatalf("approval: rc %s, DE38 %q; want 00 and the identity's code", rc(resp), code)
	}
}
