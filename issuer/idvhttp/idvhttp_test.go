package idvhttp_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/issuer/idvhttp"
)

var secret = []byte("network-issuer shared secret")

// hostICBC serves the ID&V of icbc alone (its card holders only) and
// returns the server, the directory and the handler's log.
func hostICBC(t *testing.T) (*httptest.Server, *bank.Directory, *bytes.Buffer) {
	t.Helper()
	banks, err := bank.Default()
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC) }
	idv := &issuer.IDV{Directory: banks.Directory(), Holders: map[string]*bank.Holders{"icbc": banks.Holders("icbc")}, Now: now}
	var log bytes.Buffer
	srv := httptest.NewServer(idvhttp.Handler(idv, secret, slog.New(slog.NewTextHandler(&log, nil))))
	t.Cleanup(srv.Close)
	return srv, banks.Directory(), &log
}

func req(t *testing.T, pan, exp, cvn2 string) bank.IDVRequest {
	t.Helper()
	p, err := card.ParsePAN(pan)
	if err != nil {
		t.Fatal(err)
	}
	e, err := card.ParseExpiry(exp)
	if err != nil {
		t.Fatal(err)
	}
	return bank.IDVRequest{PAN: p, Expiry: e, CVN2: cvn2, RiskScore: 12, RiskVerdict: "green", RiskReasons: []string{"r1"}}
}

// TestIDVOverHTTP: a bank's verdicts and errors cross the wire as the
// in-process IDV gives them, the card number in none of the texts.
func TestIDVOverHTTP(t *testing.T) {
	srv, dir, log := hostICBC(t)
	c := &idvhttp.Client{Directory: dir, At: map[string]string{"icbc": srv.URL, "boc": srv.URL}, Secret: secret}
	ctx := context.Background()
	for _, tc := range []struct {
		name, pan, exp, cvn2 string
		want                 bank.Decision
		kind                 fault.Kind
		code                 string
	}{
		{"green", "6222020000000007", "1230", "123", bank.Green, "", ""},
		{"step-up", "6222020000000010744", "0331", "665", bank.StepUp, "", ""},
		{"red wrong cvn2", "6222020000000007", "1230", "999", bank.Red, fault.Invalid, bank.CodeWrongCVN2},
		{"red lost", "6253300000020003", "0331", "319", bank.Red, fault.Declined, bank.CodeCardBlocked},
		{"bank not hosted", "6216610000000000008", "0631", "291", bank.Red, fault.NotFound, idvhttp.CodeNotHosted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := c.Verify(ctx, req(t, tc.pan, tc.exp, tc.cvn2))
			if v.Decision != tc.want {
				t.Fatalf("decision %q (%v), want %q", v.Decision, err, tc.want)
			}
			if tc.code == "" {
				if err != nil || v.BankID != "icbc" || v.TokenRange == 0 || v.BankName == "" {
					t.Fatalf("verdict %+v, %v; want icbc's with its token range", v, err)
				}
				return
			}
			if fault.KindOf(err) != tc.kind || fault.CodeOf(err) != tc.code || v.Reason != tc.code {
				t.Fatalf("got %+v, %v (kind %s code %s); want %s %s", v, err, fault.KindOf(err), fault.CodeOf(err), tc.kind, tc.code)
			}
			if strings.Contains(err.Error(), tc.pan) || strings.Contains(fault.MessageOf(err), tc.pan) {
				t.Errorf("the error %q carries the card number", err)
			}
		})
	}
	if !strings.Contains(log.String(), "bank=icbc") || !strings.Contains(log.String(), "decision=otp") {
		t.Errorf("the issuer's log does not show the verdicts: %s", log)
	}
	for _, pan := range []string{"6222020000000007", "6222020000000010744", "6253300000020003", "6216610000000000008"} {
		if strings.Contains(log.String(), pan) {
			t.Errorf("the issuer's log carries a card number: %s", log)
		}
	}
}

// TestIDVRefused: a wrong secret, no address and a malformed body are
// refused with their codes, never with the card number.
func TestIDVRefused(t *testing.T) {
	srv, dir, _ := hostICBC(t)
	ctx := context.Background()
	green := req(t, "6222020000000007", "1230", "123")

	wrong := &idvhttp.Client{Directory: dir, At: map[string]string{"icbc": srv.URL}, Secret: []byte("another secret")}
	if v, err := wrong.Verify(ctx, green); v.Decision != bank.Red || fault.KindOf(err) != fault.Unauthorized || fault.CodeOf(err) != idvhttp.CodeUnauthorized {
		t.Errorf("wrong secret: %+v, %v; want Red unauthorized", v, err)
	}
	none := &idvhttp.Client{Directory: dir, At: map[string]string{}, Secret: secret}
	if v, err := none.Verify(ctx, green); v.Decision != bank.Red || fault.KindOf(err) != fault.Unavailable || fault.CodeOf(err) != idvhttp.CodeNoAddress {
		t.Errorf("no address: %+v, %v; want Red %s", v, err, idvhttp.CodeNoAddress)
	}
	down := &idvhttp.Client{Directory: dir, At: map[string]string{"icbc": "http://127.0.0.1:1"}, Secret: secret}
	if _, err := down.Verify(ctx, green); fault.KindOf(err) != fault.Unavailable || fault.CodeOf(err) != idvhttp.CodeUnreachable || strings.Contains(err.Error(), "6222020000000007") {
		t.Errorf("nobody listening: %v; want %s", err, idvhttp.CodeUnreachable)
	}

	for name, body := range map[string]string{
		"unknown field": `{"pan":"6222020000000007","expiry":"1230","cvn2":"123","extra":1}`,
		"trailing data": `{"pan":"6222020000000007","expiry":"1230","cvn2":"123"} {}`,
		"not a pan":     `{"pan":"6222020000000008","expiry":"1230","cvn2":"123"}`,
		"bad expiry":    `{"pan":"6222020000000007","expiry":"13/30","cvn2":"123"}`,
		"not json":      `pan=6222020000000007`,
	} {
		t.Run(name, func(t *testing.T) {
			m := hmac.New(sha256.New, secret)
			m.Write([]byte(body))
			r, _ := http.NewRequest(http.MethodPost, srv.URL+idvhttp.Path, strings.NewReader(body))
			r.Header.Set(idvhttp.MACHeader, hex.EncodeToString(m.Sum(nil)))
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(out), `"code":"bad_idv_request"`) {
				t.Errorf("HTTP %d %s; want 400 bad_idv_request", resp.StatusCode, out)
			}
			if strings.Contains(string(out), "622202000000000") {
				t.Errorf("the answer carries the card number: %s", out)
			}
		})
	}
	resp, err := http.Get(srv.URL + idvhttp.Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Allow") != http.MethodPost {
		t.Errorf("GET: HTTP %d, want 400 with Allow: POST", resp.StatusCode)
	}
}

// TestIDVLocal: a bank without an address is asked in process.
func TestIDVLocal(t *testing.T) {
	banks, err := bank.Default()
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC) }
	local := &issuer.IDV{Directory: banks.Directory(), Holders: map[string]*bank.Holders{"boc": banks.Holders("boc")}, Now: now}
	c := &idvhttp.Client{Directory: banks.Directory(), At: map[string]string{}, Secret: secret, Local: local}
	if v, err := c.Verify(context.Background(), req(t, "6216610000000000008", "0631", "291")); err != nil || v.Decision != bank.Green || v.BankID != "boc" {
		t.Errorf("local boc: %+v, %v; want Green", v, err)
	}
	if name, _, ok := c.Bank("boc"); !ok || name == "" {
		t.Errorf("Bank(boc) = %q, %v", name, ok)
	}
}
