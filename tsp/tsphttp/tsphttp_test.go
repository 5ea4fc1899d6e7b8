package tsphttp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/id"
	"github.com/tapwallet/tapwallet/lostphone/taptest"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/qpboc"
	"github.com/tapwallet/tapwallet/se"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/tsp/tsphttp"
	"github.com/tapwallet/tapwallet/tsp/tsptest"
)

// side is one way to reach a token service: in process or over HTTP.
type side struct {
	req   tsp.Requestor
	check tsp.TokenCheck
}

// sides runs fn on a fresh token service in process, and on another
// reached through Handler and Client over a real HTTP server.
func sides(t *testing.T, fn func(t *testing.T, svc *tsp.Service, s side)) {
	t.Run("in-process", func(t *testing.T) {
		svc := tsptest.NewService(t, tsptest.NewFake())
		fn(t, svc, side{svc, svc})
	})
	t.Run("http", func(t *testing.T) {
		svc := tsptest.NewService(t, tsptest.NewFake())
		srv := httptest.NewServer(tsphttp.Handler(svc, "link secret"))
		t.Cleanup(srv.Close)
		c := &tsphttp.Client{URL: srv.URL, Secret: "link secret"}
		fn(t, svc, side{c, c})
	})
}

func addCard(ctx context.Context, r tsp.Requestor, d tsp.Device, pan string) (tsp.AddCardResult, error) {
	return r.AddCard(ctx, tsp.AddCardRequest{Device: d, PAN: pan, Expiry: "1230", CVN2: "123"})
}

// TestRequestorBehaviour: the same calls give the same results and the
// same typed errors (fault kind and code) in process and over HTTP.
func TestRequestorBehaviour(t *testing.T) {
	sides(t, func(t *testing.T, svc *tsp.Service, s side) {
		ctx := context.Background()
		d := tsptest.NewDevice(t)
		res, err := addCard(ctx, s.req, d, tsptest.PAN("622999", 1))
		if err != nil || res.Card == nil || len(res.Card.KeyBatch) == 0 || res.Card.Token.State != tsp.Active || res.Card.BankName != "Test Bank" {
			t.Fatalf("add card: got %+v, %v, want an active token with its keys", res, err)
		}
		first := res.Card.Token.Number.Digits()
		if _, err := addCard(ctx, s.req, d, tsptest.PAN("622999", 1)); !fault.Has(err, fault.Conflict, tsp.CodeCardOnPhone) {
			t.Errorf("same card twice: got %v, want %s", err, tsp.CodeCardOnPhone)
		}
		if _, err := addCard(ctx, s.req, d, "6229990000000000"); !fault.Has(err, fault.Invalid, "bad_luhn") {
			t.Errorf("bad Luhn: got %v (%s), want invalid bad_luhn", err, fault.CodeOf(err))
		}
		if _, err := addCard(ctx, s.req, d, tsptest.PAN("622997", 1)); !fault.Has(err, fault.Declined, "idv_declined") {
			t.Errorf("declined card: got %v, want idv_declined", err)
		}
		// Step-up: the code arrives in the outbox.
		step, err := addCard(ctx, s.req, d, tsptest.PAN("622998", 2))
		if err != nil || step.BindingID == "" {
			t.Fatalf("step-up card: got %+v, %v, want a binding", step, err)
		}
		msgs, err := s.req.Outbox(ctx, d.AccountID)
		if err != nil || len(msgs) != 1 || msgs[0].BindingID != step.BindingID {
			t.Fatalf("outbox: got %+v, %v", msgs, err)
		}
		m := msgs[0].Message
		code := m[strings.Index(m, " is ")+4 : strings.Index(m, " is ")+10]
		if _, err := s.req.ConfirmOTP(ctx, d, step.BindingID, "99999x"); !fault.Has(err, fault.Invalid, "wrong_otp") {
			t.Errorf("wrong code: got %v, want wrong_otp", err)
		}
		p, err := s.req.ConfirmOTP(ctx, d, step.BindingID, code)
		if err != nil || p == nil || p.Token.State != tsp.Active {
			t.Fatalf("confirm: got %+v, %v", p, err)
		}
		second := p.Token.Number.Digits()
		if _, err := s.req.ConfirmOTP(ctx, d, "bind_nope", code); !fault.Has(err, fault.NotFound, tsp.CodeBindingNotFound) {
			t.Errorf("unknown binding: got %v, want %s", err, tsp.CodeBindingNotFound)
		}
		// List, default, suspend, resume, remove.
		if err := s.req.SetDefault(ctx, d, second); err != nil {
			t.Fatal(err)
		}
		cards, err := s.req.Cards(ctx, d.ID)
		if err != nil || len(cards) != 2 || cards[0].Number.Digits() != second || !cards[0].Default || cards[1].Default || cards[0].BankName != "Test Bank" {
			t.Fatalf("cards: got %+v, %v, want the second card first and default", cards, err)
		}
		if err := s.req.SetDefault(ctx, tsptest.NewDevice(t), second); !fault.Has(err, fault.NotFound, tsp.CodeCardNotFound) {
			t.Errorf("another device's default: got %v, want %s", err, tsp.CodeCardNotFound)
		}
		if err := s.req.Suspend(ctx, first, "bank", "check"); err != nil {
			t.Fatal(err)
		}
		if err := s.req.Resume(ctx, first, "bank", "checked"); err != nil {
			t.Fatal(err)
		}
		if err := s.req.RemoveCard(ctx, d, first, "account:"+d.AccountID); err != nil {
			t.Fatal(err)
		}
		if err := s.req.Resume(ctx, first, "bank", "again"); !fault.Has(err, fault.Conflict, tsp.DeclineTokenDeleted) {
			t.Errorf("resume a removed card: got %v, want %s", err, tsp.DeclineTokenDeleted)
		}
		// Sync: fresh keys for the live card; a card not on the device fails.
		sync, err := s.req.Replenish(ctx, d, []tsp.TokenLog{{Token: second, ATC: 0, Unused: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}})
		if err != nil || len(sync) != 1 || sync[0].Keys != 10 || len(sync[0].KeyBatch) == 0 {
			t.Fatalf("sync: got %+v, %v, want 10 fresh keys", sync, err)
		}
		if _, err := s.req.Replenish(ctx, tsptest.NewDevice(t), []tsp.TokenLog{{Token: second}}); !fault.Has(err, fault.NotFound, tsp.CodeCardNotFound) {
			t.Errorf("sync of another device's card: got %v, want %s", err, tsp.CodeCardNotFound)
		}
		// Wallet off and on.
		off, err := s.req.DeviceOff(ctx, tsp.DeviceSwitch{DeviceID: d.ID, Actor: "portal:" + d.AccountID, Reason: "lost"})
		if err != nil || len(off) != 1 || off[0] != second {
			t.Fatalf("device off: got %v, %v, want %s suspended", off, err, second)
		}
		if _, err := addCard(ctx, s.req, d, tsptest.PAN("622999", 3)); !fault.Has(err, fault.Forbidden, tsp.CodeWalletOff) {
			t.Errorf("add while off: got %v, want %s", err, tsp.CodeWalletOff)
		}
		if _, err := s.req.DeviceOff(ctx, tsp.DeviceSwitch{DeviceID: d.ID}); !fault.Has(err, fault.Invalid, "actor_missing") {
			t.Errorf("device off without an actor: got %v, want actor_missing", err)
		}
		on, err := s.req.DeviceOn(ctx, tsp.DeviceSwitch{DeviceID: d.ID, Actor: "portal:x", Tokens: off})
		if err != nil || len(on) != 1 || on[0] != second {
			t.Fatalf("device on: got %v, %v, want %s resumed", on, err, second)
		}
		// The 8-cards rule.
		for i := 10; i < 17; i++ {
			if _, err := addCard(ctx, s.req, d, tsptest.PAN("622999", i)); err != nil {
				t.Fatalf("card %d: %v", i, err)
			}
		}
		if _, err := addCard(ctx, s.req, d, tsptest.PAN("622999", 20)); !fault.Has(err, fault.Limit, tsp.CodeCardLimit) {
			t.Errorf("ninth card: got %v, want %s", err, tsp.CodeCardLimit)
		}
		if err := s.req.Notify(ctx, d.AccountID, "[tapwallet] Your code is 123456."); err != nil {
			t.Fatal(err)
		}
		if msgs, _ := s.req.Outbox(ctx, d.AccountID); len(msgs) == 0 || msgs[0].Message != "[tapwallet] Your code is 123456." {
			t.Errorf("outbox after notify: got %+v, want the message first", msgs)
		}
		if err := s.req.Notify(ctx, d.AccountID, " "); !fault.Has(err, fault.Invalid, "message_missing") {
			t.Errorf("empty message: got %v, want message_missing", err)
		}
	})
}

// TestTokenCheckBehaviour: a real tap's chip data is checked the same way
// in process and over HTTP — approved with the PAN, the ARPC made where the
// key is, the same cryptogram sent again declined as a replay, credits
// checked — and a token check of an unknown token declines alike.
func TestTokenCheckBehaviour(t *testing.T) {
	sides(t, func(t *testing.T, svc *tsp.Service, s side) {
		ctx := context.Background()
		el, err := se.Open(filepath.Join(t.TempDir(), "se.json"))
		if err != nil {
			t.Fatal(err)
		}
		d := tsp.Device{ID: id.New("ph"), AccountID: id.New("acc"), PublicKey: el.PublicKey()}
		pan := tsptest.PAN("622999", 5)
		res, err := addCard(ctx, s.req, d, pan)
		if err != nil {
			t.Fatal(err)
		}
		tok := res.Card.Token
		if _, err := el.InstallKeys(tok.Number.Digits(), res.Card.KeyBatch); err != nil {
			t.Fatal(err)
		}
		c := phone.Card{Token: tok.Number.Digits(), AID: tok.AID, Expiry: tok.Expiry.MMYY(), PSN: tok.PSN, BankName: "Test Bank"}
		chip, err := taptest.Tap(el, c, 990, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ar, err := s.check.Authorize(ctx, taptest.Request(c.Token, chip))
		if err != nil {
			t.Fatalf("authorize: %v", err)
		}
		if ar.PAN.Digits() != pan || ar.Token.Number != tok.Number || ar.KeyIndex != 1 {
			t.Errorf("authorize: got PAN ending %s, token %s, key %d, want %s, %s, 1", ar.PAN.Last4(), ar.Token.Number, ar.KeyIndex, pan[12:], tok.Number)
		}
		arqc := chip[qpboc.TagCryptogram]
		arpc, err := ar.ARPC(arqc, []byte("00"))
		if err != nil || len(arpc) != 10 || string(arpc[8:]) != "00" {
			t.Fatalf("ARPC: got %x, %v, want 8 bytes and the ARC", arpc, err)
		}
		// The token service makes the same ARPC when asked again, and none
		// for a cryptogram it did not approve.
		again, err := svc.ARPC(ctx, tsp.ARPCRequest{Token: c.Token, KeyIndex: 1, ARQC: arqc, ARC: []byte("00")})
		if err != nil || string(again) != string(arpc) {
			t.Errorf("ARPC asked again: got %x, %v, want %x", again, err, arpc)
		}
		if _, err := svc.ARPC(ctx, tsp.ARPCRequest{Token: c.Token, KeyIndex: 1, ARQC: []byte("12345678"), ARC: []byte("00")}); !fault.Has(err, fault.Forbidden, "arpc_refused") {
			t.Errorf("ARPC of another cryptogram: got %v, want arpc_refused", err)
		}
		if _, err := s.check.Authorize(ctx, taptest.Request(c.Token, chip)); !fault.Has(err, fault.Declined, tsp.DeclineATCReplay) {
			t.Errorf("the same cryptogram again: got %v (%s), want declined %s", err, fault.CodeOf(err), tsp.DeclineATCReplay)
		}
		if _, err := s.check.Authorize(ctx, taptest.Request("6288990000000001", chip)); !fault.Has(err, fault.Declined, tsp.DeclineTokenUnknown) {
			t.Errorf("unknown token: got %v, want %s", err, tsp.DeclineTokenUnknown)
		}
		cr, err := s.check.Credit(ctx, c.Token)
		if err != nil || cr.PAN.Digits() != pan {
			t.Errorf("credit: got PAN ending %s, %v, want %s", cr.PAN.Last4(), err, pan[12:])
		}
		if err := s.req.RemoveCard(ctx, d, c.Token, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.check.Credit(ctx, c.Token); !fault.Has(err, fault.Declined, tsp.DeclineTokenDeleted) {
			t.Errorf("credit to a removed card: got %v, want %s", err, tsp.DeclineTokenDeleted)
		}
	})
}

// TestLink: the link refuses a caller without the secret and bad bodies,
// and a token service that does not answer is fault.Unavailable.
func TestLink(t *testing.T) {
	svc := tsptest.NewService(t, tsptest.NewFake())
	srv := httptest.NewServer(tsphttp.Handler(svc, "link secret"))
	defer srv.Close()
	ctx := context.Background()
	if _, err := (&tsphttp.Client{URL: srv.URL, Secret: "wrong"}).Cards(ctx, "ph_1"); !fault.Has(err, fault.Unauthorized, "tsp_secret") {
		t.Errorf("wrong secret: got %v, want unauthorized tsp_secret", err)
	}
	for _, body := range []string{`{"device_id": 1}`, `{"device_id":"a"} {}`, `{"devise_id":"a"}`, `not json`} {
		resp, err := http.Post(srv.URL+tsphttp.Prefix+"cards", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("body %q without the secret: got HTTP %d, want 401", body, resp.StatusCode)
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+tsphttp.Prefix+"cards", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer link secret")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("body %q: got HTTP %d, want 400", body, resp.StatusCode)
		}
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	if _, err := (&tsphttp.Client{URL: dead.URL}).Cards(ctx, "ph_1"); !fault.Has(err, fault.Unavailable, "tsp_unreachable") {
		t.Errorf("no token service: got %v, want unavailable tsp_unreachable", err)
	}
}
