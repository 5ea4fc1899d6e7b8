package tsp_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/phone/phonetest"
	"github.com/tapwallet/tapwallet/platform"
	"github.com/tapwallet/tapwallet/qpboc"
	"github.com/tapwallet/tapwallet/tsp"
)

// The tests here run the token check end to end: a real platform (wallet
// API over HTTP, the card network's switch over TCP, the issuers), phones
// whose profile folders hold their secure elements, and a store terminal's
// 0100 built with netswitch/nettest.

// network is a running platform with an acquirer's link to its switch.
type network struct {
	p    *platform.Platform
	link *isolink.Client
	term *nettest.Terminal
	last atomic.Pointer[iso8583.Message] // the last 0100 sent
}

func startNet(t *testing.T) *network {
	t.Helper()
	// These tests add the one test card to many accounts and pay with it
	// in bursts: risk signals (one card, many accounts; velocity) that the
	// risk engine's own tests cover. Here the token service's checks are
	// the subject, so the engine is off.
	p, err := platform.Start(context.Background(), platform.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", ArgonTime: 1,
		Log: slog.New(slog.DiscardHandler), RiskOff: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &network{p: p, link: dial(t, p), term: nettest.NewTerminal("T0000042", "898310054110042", "TAPWALLET MART")}
}

func dial(t *testing.T, p *platform.Platform) *isolink.Client {
	t.Helper()
	c, err := isolink.Dial(context.Background(), p.ISOAddr, isolink.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// phoneWithCard signs up, registers a phone in a profile folder and adds
// the test card 6222020000000007 (green ID&V) to it.
func (n *network) phoneWithCard(t *testing.T, email string) (*phone.Phone, phone.Card) {
	t.Helper()
	ctx := context.Background()
	ph := phonetest.Registered(t, filepath.Join(t.TempDir(), "phone"), n.p.URL, email, "password-123", "test phone")
	res, err := ph.AddCard(ctx, "6222020000000007", "1230", "123")
	if err != nil || res.Card == nil {
		t.Fatalf("add card: got %v, want a card", err)
	}
	return ph, *res.Card
}

// answer makes the phone's card answer a terminal asking for amount, with
// its secure element (its next key and counter), as the payment applet
// does; cdcvm is the fingerprint result the card puts in its CVR and CTQ.
func answer(t *testing.T, ph *phone.Phone, c phone.Card, amount int64, cdcvm bool) map[emv.Tag][]byte {
	t.Helper()
	tags, err := nettest.AnswerSE(ph.SE, c.Token, c.AID, nettest.TerminalData(amount, time.Now()), cdcvm)
	if err != nil {
		t.Fatal(err)
	}
	return tags
}

// send sends the terminal's 0100 for the chip data over link and returns
// the response code.
func (n *network) send(t *testing.T, link *isolink.Client, c phone.Card, amount int64, tags map[emv.Tag][]byte) string {
	t.Helper()
	m, err := n.term.Authorization(c.Token, "", amount, tags, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	n.last.Store(m)
	resp, err := link.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("send 0100: %v", err)
	}
	rc, _ := resp.ResponseCode()
	return string(rc)
}

// reason returns the reason the card network recorded for the 0100 it
// answered last on the terminal (its response code when approved).
func (n *network) reason(t *testing.T) string {
	t.Helper()
	m := n.last.Load()
	a, err := n.p.Records.Auth(context.Background(), netswitch.AuthID(field(m, iso8583.DETerminal), field(m, iso8583.DESTAN), field(m, iso8583.DETransmission)))
	if err != nil {
		t.Fatalf("the network's record: %v", err)
	}
	return string(a.ResponseCode) + " " + string(a.Reason)
}

func field(m *iso8583.Message, de int) string {
	v, _ := m.String(de)
	return v
}

// TestCDCVMWithoutCTQ: a DE55 without 9F6C takes the fingerprint result
// from the CVR in the IAD (covered by the ARQC); a CTQ that contradicts the
// CVR is declined 55 cdcvm_conflict; a malformed CTQ 30.
func TestCDCVMWithoutCTQ(t *testing.T) {
	n := startNet(t)
	ph, c := n.phoneWithCard(t, "cvr@example.com")
	tests := []struct {
		name   string
		cdcvm  bool   // what the card's CVR says
		ctq    []byte // the 9F6C sent; nil: left out of DE55
		keep   bool   // send the card's own CTQ
		rc     string
		reason string
	}{
		{"no CTQ, CVR says verified", true, nil, false, "00", ""},
		{"no CTQ, CVR says not verified", false, nil, false, string(iso8583.CDCVMMissing), tsp.DeclineCDCVM},
		{"CTQ and CVR say verified", true, nil, true, "00", ""},
		{"CTQ and CVR say not verified", false, nil, true, string(iso8583.CDCVMMissing), tsp.DeclineCDCVM},
		{"CTQ says not verified, CVR says verified", true, qpboc.CTQ(false), false, string(iso8583.CDCVMMissing), tsp.DeclineCDCVMConflict},
		{"CTQ says verified, CVR says not verified", false, qpboc.CTQ(true), false, string(iso8583.CDCVMMissing), tsp.DeclineCDCVMConflict},
		{"CTQ of 1 byte", true, []byte{0x80}, false, string(iso8583.FormatError), tsp.DeclineChipData},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tags := answer(t, ph, c, 1200, tc.cdcvm)
			switch {
			case tc.keep:
			case tc.ctq == nil:
				delete(tags, qpboc.TagCTQ)
			default:
				tags[qpboc.TagCTQ] = tc.ctq
			}
			if _, ok := tags[qpboc.TagCTQ]; ok && tc.ctq == nil && !tc.keep {
				t.Fatal("9F6C is still in the chip data")
			}
			if rc := n.send(t, n.link, c, 1200, tags); rc != tc.rc {
				t.Fatalf("got response code %s, want %s", rc, tc.rc)
			}
			if got := n.reason(t); got != tc.rc+" "+tc.reason {
				t.Errorf("the network recorded %q, want %q", got, tc.rc+" "+tc.reason)
			}
		})
	}
}

// cloneOf copies a phone's profile folder — its secure element with the
// keys and counters, its session, its cards — and opens the copy.
func cloneOf(t *testing.T, n *network, ph *phone.Phone) *phone.Phone {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	if err := os.CopyFS(dir, os.DirFS(ph.Dir)); err != nil {
		t.Fatal(err)
	}
	clone, err := phone.Open(dir, n.p.URL)
	if err != nil {
		t.Fatal(err)
	}
	return clone
}

// state returns the token's state as the token service keeps it.
func state(t *testing.T, n *network, c phone.Card) tsp.State {
	t.Helper()
	tok, err := n.p.Tokens.Store.Token(context.Background(), c.Token)
	if err != nil {
		t.Fatal(err)
	}
	return tok.State
}

// get reads an API route with the phone's session.
func get(t *testing.T, n *network, ph *phone.Phone, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", n.p.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+ph.Profile.Session)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestClonedProfile copies a phone's profile folder and pays with both
// copies: the first payment of a copy is indistinguishable from the
// owner's, but the first time the two key histories meet — the same key and
// counter with another cryptogram — the token is suspended at once, the
// owner gets an alert and the account a security event, and every later
// authorization of either copy is declined 78.
func TestClonedProfile(t *testing.T) {
	n := startNet(t)
	ctx := context.Background()
	for _, first := range []string{"clone", "owner"} {
		t.Run(first+" pays first", func(t *testing.T) {
			owner, c := n.phoneWithCard(t, first+"@example.com")
			if rc := n.send(t, n.link, c, 100, answer(t, owner, c, 100, true)); rc != "00" {
				t.Fatalf("the owner's payment before the copy: got %s, want 00", rc)
			}
			clone := cloneOf(t, n, owner)
			a, b := clone, owner
			if first == "owner" {
				a, b = owner, clone
			}
			if rc := n.send(t, n.link, c, 2500, answer(t, a, c, 2500, true)); rc != "00" {
				t.Fatalf("%s's payment: got %s, want 00 (nobody can tell it yet)", first, rc)
			}
			if st := state(t, n, c); st != tsp.Active {
				t.Fatalf("after one payment of one copy the token is %s, want active", st)
			}
			// The other copy pays with the same key and counter, for
			// another amount: the first disagreement.
			if rc := n.send(t, n.link, c, 3300, answer(t, b, c, 3300, true)); rc != string(iso8583.SuspectedFraud) {
				t.Fatalf("the other copy's payment: got %s, want 59", rc)
			}
			if got := n.reason(t); got != "59 "+tsp.DeclineCloned {
				t.Errorf("the network recorded %q, want 59 %s", got, tsp.DeclineCloned)
			}
			if st := state(t, n, c); st != tsp.Suspended {
				t.Fatalf("after the disagreement the token is %s, want suspended", st)
			}
			for name, ph := range map[string]*phone.Phone{"owner": owner, "clone": clone} {
				if rc := n.send(t, n.link, c, 100, answer(t, ph, c, 100, true)); rc != string(iso8583.Blocked) {
					t.Errorf("the %s's next payment: got %s, want 78", name, rc)
				}
			}
			msgs, err := owner.OTPMessages(ctx)
			if err != nil || len(msgs) == 0 || !strings.Contains(msgs[0], "ending 0007 was suspended") || !strings.Contains(msgs[0], "copy of your phone") {
				t.Errorf("the owner's messages: got %q (%v), want the clone alert first", msgs, err)
			}
			if ev := get(t, n, owner, "/v1/events"); !strings.Contains(ev, tsp.EventTokenCloned) {
				t.Errorf("the account's security events lack %s: %s", tsp.EventTokenCloned, ev)
			}
			evs, err := n.p.Tokens.Store.TokenEvents(ctx, c.Token)
			if err != nil || len(evs) == 0 || evs[len(evs)-1].To != string(tsp.Suspended) || evs[len(evs)-1].Actor != "tsp:authorize" ||
				!strings.Contains(evs[len(evs)-1].Reason, "clone suspected") {
				t.Errorf("token events: got %+v (%v), want the last a suspension by tsp:authorize for a clone", evs, err)
			}
		})
	}
	t.Run("both copies at the same moment", func(t *testing.T) {
		owner, c := n.phoneWithCard(t, "race@example.com")
		clone := cloneOf(t, n, owner)
		tags := []map[emv.Tag][]byte{answer(t, owner, c, 700, true), answer(t, clone, c, 800, true)}
		links := []*isolink.Client{n.link, dial(t, n.p)}
		rcs := make([]string, 2)
		var wg sync.WaitGroup
		for i := range 2 {
			m, err := n.term.Authorization(c.Token, "", []int64{700, 800}[i], tags[i], time.Now())
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				if resp, err := links[i].Send(ctx, m); err == nil {
					rc, _ := resp.ResponseCode()
					rcs[i] = string(rc)
				}
			})
		}
		wg.Wait()
		got := rcs[0] + " " + rcs[1]
		if got != "00 59" && got != "59 00" {
			t.Errorf("got %s, want one 00 and one 59", got)
		}
		if st := state(t, n, c); st != tsp.Suspended {
			t.Errorf("the token is %s, want suspended", st)
		}
	})
	t.Run("the same cryptogram sent again is a replay, not a clone", func(t *testing.T) {
		owner, c := n.phoneWithCard(t, "replay@example.com")
		tags := answer(t, owner, c, 900, true)
		if rc := n.send(t, n.link, c, 900, tags); rc != "00" {
			t.Fatalf("got %s, want 00", rc)
		}
		// A new 0100 (new STAN and RRN) carrying the very same chip data.
		if rc := n.send(t, n.link, c, 900, tags); rc != string(iso8583.SuspectedFraud) {
			t.Fatalf("the replay: got %s, want 59", rc)
		}
		if got := n.reason(t); got != "59 "+tsp.DeclineATCReplay {
			t.Errorf("the network recorded %q, want 59 %s", got, tsp.DeclineATCReplay)
		}
		if st := state(t, n, c); st != tsp.Active {
			t.Errorf("after a replay the token is %s, want active", st)
		}
		if rc := n.send(t, n.link, c, 900, answer(t, owner, c, 900, true)); rc != "00" {
			t.Errorf("the owner's next payment: got %s, want 00", rc)
		}
	})
	t.Run("a copy's payment found at the owner's sync", func(t *testing.T) {
		owner, c := n.phoneWithCard(t, "sync@example.com")
		clone := cloneOf(t, n, owner)
		if rc := n.send(t, n.link, c, 500, answer(t, clone, c, 500, true)); rc != "00" {
			t.Fatalf("the clone's payment: got %s, want 00", rc)
		}
		s, err := owner.Sync(ctx)
		if err != nil || len(s) != 1 || !s[0].Suspended {
			t.Fatalf("the owner's sync: got %+v (%v), want the card suspended", s, err)
		}
		msgs, err := owner.OTPMessages(ctx)
		if err != nil || len(msgs) == 0 || !strings.Contains(msgs[0], "copy of your phone") {
			t.Errorf("the owner's messages: got %q (%v), want the clone alert", msgs, err)
		}
		if rc := n.send(t, n.link, c, 500, answer(t, clone, c, 500, true)); rc != string(iso8583.Blocked) {
			t.Errorf("the clone after the sync: got %s, want 78", rc)
		}
	})
}
