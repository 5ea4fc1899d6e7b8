package clearinghttp_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/clearing/clearfile"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/issuer/clearinghttp"
	"github.com/tapwallet/tapwallet/ledger"
)

var secret = []byte("network-issuer shared secret")

// bankOf hosts one bank on an in-memory ledger, approves an 0100 of a
// card of it and returns the host, its ledger and the clearing file
// presenting that authorization.
func bankOf(t *testing.T, id string) (*issuer.Host, ledger.Store, clearfile.File) {
	t.Helper()
	banks, err := bank.Default()
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC) }
	led := ledger.NewMemStore(now)
	h, err := issuer.NewHost(context.Background(), issuer.HostConfig{Banks: banks, BankID: id, Ledger: led, Secret: []byte("s"), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	holders := banks.Holders(id)
	var pan string
	for _, c := range holders.Cards() {
		if c.Usable() && c.Product == bank.Debit && c.Balance.Minor > 5000 && c.Expiry.MMYY()[2:] >= "27" {
			pan = c.PAN.Digits()
			break
		}
	}
	m := iso8583.New(iso8583.AuthorizationRequest)
	m.SetTransmissionTime(now())
	m.SetLocalTime(now())
	for de, v := range map[int]string{iso8583.DEPAN: pan, iso8583.DEProcessingCode: "000000", iso8583.DEAcquirer: "48021000",
		iso8583.DERRN: "000000000001", iso8583.DETerminal: "T0000001", iso8583.DEMerchant: "898310054110001"} {
		_ = m.SetString(de, v)
	}
	_ = m.SetNumber(iso8583.DEAmount, 1250)
	_ = m.SetNumber(iso8583.DECurrency, 156)
	_ = m.SetSTAN(iso8583.STAN(1))
	resp := h.Handle(context.Background(), m)
	if rc, _ := resp.String(iso8583.DEResponseCode); rc != "00" {
		t.Fatalf("authorization answered %q, want 00", rc)
	}
	de7, _ := m.String(iso8583.DETransmission)
	f := clearfile.File{Header: clearfile.Header{Date: "20260314", Party: id, CreatedAt: now()}, Details: []clearfile.Detail{{
		Seq: 1, LocalDate: "20260314", LocalTime: "090000", RRN: "000000000001", STAN: "000001", Terminal: "T0000001",
		Merchant: "898310054110001", PANLast4: pan[len(pan)-4:], Amount: 1250, Currency: 156, AuthCode: "123456",
		Bank: id, Acquirer: "48021000", Transmission: de7}}}
	return h, led, f
}

// TestRemoteClearing: the network hands two banks their files, one over
// HTTP to the issuer process hosting it, one to the host beside it; each
// posts its own hold, and a second run posts nothing more.
func TestRemoteClearing(t *testing.T) {
	remote, remoteLed, remoteFile := bankOf(t, "icbc")
	local, localLed, localFile := bankOf(t, "cmb")
	srv := httptest.NewServer(clearinghttp.Handler(issuer.ClearingHosts{"icbc": remote}, secret))
	defer srv.Close()
	c := &clearinghttp.Client{At: map[string]string{"icbc": srv.URL}, Secret: secret, Local: issuer.ClearingHosts{"cmb": local}}
	ctx := context.Background()
	for run, want := range []clearfile.Outcome{clearfile.Posted, clearfile.AlreadyPosted} {
		for _, b := range []struct {
			id  string
			f   clearfile.File
			led ledger.Store
		}{{"icbc", remoteFile, remoteLed}, {"cmb", localFile, localLed}} {
			ack, err := c.PostClearing(ctx, b.id, b.f)
			if err != nil {
				t.Fatalf("run %d, %s: %v", run+1, b.id, err)
			}
			if ack.Party != b.id || len(ack.Postings) != 1 || ack.Postings[0].Outcome != want || ack.Postings[0].Held != 1250 {
				t.Errorf("run %d, %s: got %+v, want one posting %s of a hold of 1250", run+1, b.id, ack, want)
			}
			posted, err := b.led.Transfers(ctx, ledger.Filter{Flags: ledger.PostPending})
			if err != nil {
				t.Fatal(err)
			}
			if len(posted) != 1 || posted[0].Amount != 1250 {
				t.Errorf("run %d, %s: the bank's ledger holds %d posts (%+v), want one of 1250", run+1, b.id, len(posted), posted)
			}
		}
	}
}

// TestRemoteClearingRefused: a forged file, a file of a bank the process
// does not host, a damaged file and a bank without an address each get a
// specific error, and nothing is posted.
func TestRemoteClearingRefused(t *testing.T) {
	h, led, f := bankOf(t, "icbc")
	srv := httptest.NewServer(clearinghttp.Handler(issuer.ClearingHosts{"icbc": h}, secret))
	defer srv.Close()
	ctx := context.Background()
	forger := &clearinghttp.Client{At: map[string]string{"icbc": srv.URL}, Secret: []byte("guessed")}
	if _, err := forger.PostClearing(ctx, "icbc", f); !fault.Has(err, fault.Unauthorized, "unauthorized") {
		t.Errorf("wrong secret: got %v, want unauthorized", err)
	}
	other := f
	other.Header.Party = "boc"
	other.Details = []clearfile.Detail{f.Details[0]}
	other.Details[0].Bank = "boc"
	c := &clearinghttp.Client{At: map[string]string{"boc": srv.URL, "icbc": srv.URL}, Secret: secret}
	if _, err := c.PostClearing(ctx, "boc", other); !fault.Has(err, fault.Unavailable, "issuer_unavailable") {
		t.Errorf("bank not hosted there: got %v, want issuer_unavailable", err)
	}
	if _, err := c.PostClearing(ctx, "abc", f); !fault.Has(err, fault.Unavailable, "issuer_unavailable") {
		t.Errorf("bank without an address: got %v, want issuer_unavailable", err)
	}
	// A damaged file with a good MAC (the network's bug, not a forgery).
	body, _ := f.Marshal()
	body = bytes.Replace(body, []byte("|1250|"), []byte("|12x0|"), 1)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+clearinghttp.Path, bytes.NewReader(body))
	req.Header.Set(clearinghttp.MACHeader, macHex(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(buf.String(), "bad_clearing_file") {
		t.Errorf("damaged file: got %d %s, want 400 bad_clearing_file", resp.StatusCode, buf.String())
	}
	resp, err = http.Get(srv.URL + clearinghttp.Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("GET: got %d, want 400", resp.StatusCode)
	}
	posted, err := led.Transfers(ctx, ledger.Filter{Flags: ledger.PostPending})
	if err != nil {
		t.Fatal(err)
	}
	if len(posted) != 0 {
		t.Errorf("refused files posted %d transfers", len(posted))
	}
}

func macHex(body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// TestForgedAck: an answer without the shared secret's MAC is refused.
func TestForgedAck(t *testing.T) {
	_, _, f := bankOf(t, "icbc")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"date":"20260314","party":"icbc","expired_holds_released":0,"postings":[{"seq":1,"outcome":"posted","held":1250}]}`)
	}))
	defer srv.Close()
	c := &clearinghttp.Client{At: map[string]string{"icbc": srv.URL}, Secret: secret}
	if _, err := c.PostClearing(context.Background(), "icbc", f); !fault.Has(err, fault.Internal, "bad_clearing_ack") {
		t.Errorf("got %v, want bad_clearing_ack", err)
	}
}
