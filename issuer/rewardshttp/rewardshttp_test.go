package rewardshttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/issuer/linkmac"
	"github.com/tapwallet/tapwallet/issuer/rewardshttp"
	"github.com/tapwallet/tapwallet/issuer/rewardstest"
	"github.com/tapwallet/tapwallet/ledger"
)

var secret = []byte("network-issuer secret")

// serve runs ICBC's host behind the handler, with a cleared purchase of
// 88.00 at a restaurant (264 points) on the debit card.
func serve(t *testing.T) (*httptest.Server, string, ledger.Store) {
	t.Helper()
	banks, err := bank.Default()
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return rewardstest.T0 }
	led := ledger.NewMemStore(now)
	h, err := issuer.NewHost(context.Background(), issuer.HostConfig{Banks: banks, BankID: "icbc", Ledger: led, Secret: []byte("s"), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	purchase := rewardstest.Cleared(t, h, now, rewardstest.Debit, rewardstest.DebitPAR, "5812", 8800)
	srv := httptest.NewServer(rewardshttp.Handler(issuer.RewardsHosts{"icbc": h}, secret, nil))
	t.Cleanup(srv.Close)
	return srv, purchase, led
}

// TestRoundTrip: points and pay with points through the client, paid
// once when asked twice; a purchase never posted is the bank's 404.
func TestRoundTrip(t *testing.T) {
	srv, purchase, _ := serve(t)
	ctx := context.Background()
	c := &rewardshttp.Client{At: map[string]string{"icbc": srv.URL}, Secret: secret}
	p, err := c.Points(ctx, "icbc", rewardstest.DebitPAR)
	if err != nil || p.Balance != 264 || p.FenPerPoint != 1 || p.Bank != "icbc" || p.Expiring != 264 {
		t.Fatalf("points: got %+v %v, want 264", p, err)
	}
	req := bank.PayWithPoints{Bank: "icbc", PAR: rewardstest.DebitPAR, Purchase: purchase, Points: 100}
	got, err := c.PayWithPoints(ctx, req)
	if err != nil || got.Points != 100 || got.Credit != 100 || got.Balance != 164 || got.Again {
		t.Fatalf("pay: got %+v %v", got, err)
	}
	got, err = c.PayWithPoints(ctx, req)
	if err != nil || got.Credit != 100 || !got.Again {
		t.Fatalf("pay again: got %+v %v, want the first payment again", got, err)
	}
	_, err = c.PayWithPoints(ctx, bank.PayWithPoints{Bank: "icbc", PAR: rewardstest.DebitPAR, Purchase: "T0000001|999999|0314090000"})
	if fault.KindOf(err) != fault.NotFound || fault.CodeOf(err) != issuer.CodeNoPurchase {
		t.Fatalf("unknown purchase: got %v, want not found purchase_not_found", err)
	}
	if _, err := c.Points(ctx, "ccb", rewardstest.DebitPAR); fault.CodeOf(err) != rewardshttp.CodeNoAddress {
		t.Fatalf("a bank without an address: got %v", err)
	}
	wrong := &rewardshttp.Client{At: map[string]string{"icbc": srv.URL}, Secret: []byte("another")}
	if _, err := wrong.Points(ctx, "icbc", rewardstest.DebitPAR); fault.KindOf(err) != fault.Unauthorized {
		t.Fatalf("wrong secret: got %v, want unauthorized", err)
	}
}

// TestBadInput: the handler's answers to what it refuses, each a JSON
// error with the status of its kind.
func TestBadInput(t *testing.T) {
	srv, _, _ := serve(t)
	post := func(path, body, mac string) (int, linkmac.Fault) {
		t.Helper()
		r, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader([]byte(body)))
		r.Header.Set(rewardshttp.MACHeader, mac)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var f linkmac.Fault
		if err := json.Unmarshal(b, &f); err != nil && resp.StatusCode != 200 {
			t.Fatalf("%s: the error is not JSON: %s", path, b)
		}
		return resp.StatusCode, f
	}
	sign := func(b string) string { return linkmac.Sign(secret, []byte(b)) }
	pay := `{"bank":"icbc","par":"` + rewardstest.DebitPAR + `","purchase":"T0000001|999999|0314090000","points":5}`
	for _, c := range []struct {
		name, path, body, mac string
		status                int
		code                  string
	}{
		{"wrong MAC", rewardshttp.PayPath, pay, sign(pay + " "), 401, "unauthorized"},
		{"no MAC", rewardshttp.PointsPath, `{"bank":"icbc","par":"X"}`, "", 401, "unauthorized"},
		{"unknown field", rewardshttp.PayPath, `{"bank":"icbc","par":"X","purchase":"p","pan":"6222020000000007"}`, "", 400, rewardshttp.CodeBadRequest},
		{"data after", rewardshttp.PointsPath, `{"bank":"icbc","par":"X"} {}`, "", 400, rewardshttp.CodeBadRequest},
		{"wrong type", rewardshttp.PayPath, `{"bank":"icbc","par":"X","purchase":"p","points":"5"}`, "", 400, rewardshttp.CodeBadRequest},
		{"unknown purchase", rewardshttp.PayPath, pay, sign(pay), 404, issuer.CodeNoPurchase},
		{"bank not hosted", rewardshttp.PointsPath, `{"bank":"ccb","par":"X"}`, "", 404, issuer.CodeNoRewardsHost},
		{"bad PAR", rewardshttp.PointsPath, `{"bank":"icbc","par":"a b"}`, "", 400, issuer.CodeBadRewards},
		{"no such route", rewardshttp.Path + "balance", `{}`, "", 404, rewardshttp.CodeNoRoute},
	} {
		mac := c.mac
		if mac == "" && c.status != 401 {
			mac = sign(c.body)
		}
		status, f := post(c.path, c.body, mac)
		if status != c.status || f.Code != c.code {
			t.Errorf("%s: got %d %+v, want %d %s", c.name, status, f, c.status, c.code)
		}
	}
}
