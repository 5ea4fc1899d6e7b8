package kernel_test

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/applet/applettest"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/kernel"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/nfc"
	"github.com/tapwallet/tapwallet/qpboc"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// tapTime is the fixed time of the golden taps (the terminal's local time).
var tapTime = time.Date(2026, 3, 14, 17, 26, 53, 0, time.FixedZone("CST", 8*3600))

func fixedConfig() kernel.Config {
	cfg := kernel.DefaultConfig()
	cfg.Now = func() time.Time { return tapTime }
	cfg.UN = func() []byte { return []byte{0x11, 0x22, 0x33, 0x44} }
	return cfg
}

func newKernel(t testing.TB, cfg kernel.Config) *kernel.Kernel {
	t.Helper()
	k, err := kernel.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newPhone(t testing.TB, keys int, cards ...applet.PaymentCard) *applettest.Phone {
	t.Helper()
	if len(cards) == 0 {
		cards = []applet.PaymentCard{applettest.DebitCard(), applettest.CreditCard()}
	}
	p, err := applettest.NewPhone(t.TempDir(), keys, cards...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tapOnce serves card over a real NFC link on loopback and runs one tap.
func tapOnce(t testing.TB, k *kernel.Kernel, card nfc.Card, amount money.Amount) (*kernel.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l := listen(t)
	served := make(chan error, 1)
	go func() { served <- nfc.DialAndServe(ctx, l.Addr().String(), card, nfc.Config{}) }()
	r, err := l.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := k.Run(ctx, r, kernel.Transaction{Amount: amount})
	r.Close()
	if serr := <-served; serr != nil {
		t.Errorf("phone side: got %v, want the link closed cleanly", serr)
	}
	return res, err
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s: got\n%s\nwant\n%s", name, got, want)
	}
}

// TestTapGolden runs full taps with fixed keys, date and unpredictable
// number and compares their APDU traces (and the authorization request)
// with the golden files.
func TestTapGolden(t *testing.T) {
	amount := money.Fen(1234)
	t.Run("see phone", func(t *testing.T) {
		ph := newPhone(t, 3)
		res, err := tapOnce(t, newKernel(t, fixedConfig()), ph.Card, amount)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != kernel.SeePhone || res.Message != kernel.MessageSeePhone {
			t.Errorf("outcome: got %v %q, want see phone", res.Outcome, res.Message)
		}
		if res.Chip != nil {
			t.Errorf("see phone gave chip data %v, want none", res.Chip)
		}
		golden(t, "tap-see-phone.trace", res.Trace.String())
	})
	t.Run("paid", func(t *testing.T) {
		ph := newPhone(t, 3)
		ph.Finger.OK = true
		k := newKernel(t, fixedConfig())
		res, err := tapOnce(t, k, ph.Card, amount)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != kernel.Online {
			t.Fatalf("outcome: got %v (%s), want online", res.Outcome, res.Reason)
		}
		req, err := k.AuthorizationRequest(res, tapTime)
		if err != nil {
			t.Fatal(err)
		}
		packed, err := req.Pack()
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		sb.WriteString(res.Trace.String())
		fmt.Fprintf(&sb, "\n%s\n%X\n", req.Describe(), packed)
		golden(t, "tap-paid.trace", sb.String())
	})
	t.Run("no keys", func(t *testing.T) {
		ph := newPhone(t, 0)
		ph.Finger.OK = true
		res, err := tapOnce(t, newKernel(t, fixedConfig()), ph.Card, amount)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != kernel.NeedsSync {
			t.Errorf("outcome: got %v, want needs sync", res.Outcome)
		}
		golden(t, "tap-no-keys.trace", res.Trace.String())
	})
}

func TestTapResult(t *testing.T) {
	ph := newPhone(t, 3)
	ph.Finger.OK = true
	res, err := tapOnce(t, newKernel(t, fixedConfig()), ph.Card, money.Fen(1234))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"token", res.Token.Digits(), applettest.DebitToken},
		{"expiry", res.Expiry, card.Expiry{Year: 2030, Month: 12}},
		{"PSN", res.PSN, "00"},
		{"ATC", res.ATC, 1},
		{"label", res.Label, "ICBC 1239"},
		{"track 2", res.Track2(), applettest.DebitToken + "D3012220" + "00000000000"},
		{"APDUs", res.Stats.APDUs, 4},
		{"trace steps", len(res.Trace), 4},
		{"CTQ", fmt.Sprintf("%X", res.Chip[qpboc.TagCTQ]), "0880"},
		{"CVM results", fmt.Sprintf("%X", res.Chip[qpboc.TagCVMResults]), "1F0002"},
		{"DF name", fmt.Sprintf("%X", res.Chip[qpboc.TagDFName]), "A000000333010101"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if res.Stats.Bytes() == 0 || res.Stats.Air <= 0 || res.Stats.Compute <= 0 {
		t.Errorf("stats: got %+v, want bytes, air time and compute time recorded", res.Stats)
	}
	if want := nfc.AirTime(res.Stats.Sent); res.Stats.Air < want {
		t.Errorf("air time: got %v, want at least the commands' %v", res.Stats.Air, want)
	}
	// Nothing printable of the result shows the token.
	for _, s := range []string{fmt.Sprintf("%v", res.Token), res.Trace.String()} {
		if strings.Contains(s, applettest.DebitToken) || strings.Contains(s, "0000001239") {
			t.Errorf("token digits in %q", s)
		}
	}
}

// TestChargeSeePhoneThenPaid: the first tap has no fingerprint, the
// terminal shows "verify on your phone and tap again", the second tap pays.
func TestChargeSeePhoneThenPaid(t *testing.T) {
	ph := newPhone(t, 3)
	k := newKernel(t, fixedConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l := listen(t)
	shown := make(chan string, 10)
	type out struct {
		res *kernel.Result
		see []*kernel.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, see, err := k.Charge(ctx, l, kernel.Transaction{Amount: money.Fen(500)}, func(m string) { shown <- m })
		done <- out{res, see, err}
	}()
	if m := <-shown; !strings.HasPrefix(m, "present phone") {
		t.Errorf("first message: got %q, want present phone", m)
	}
	if err := nfc.DialAndServe(ctx, l.Addr().String(), ph.Card, nfc.Config{}); err != nil {
		t.Fatal(err)
	}
	if m := <-shown; m != kernel.MessageSeePhone {
		t.Errorf("after the first tap: got %q, want %q", m, kernel.MessageSeePhone)
	}
	ph.Finger.OK = true
	if err := nfc.DialAndServe(ctx, l.Addr().String(), ph.Card, nfc.Config{}); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.res.Outcome != kernel.Online || len(o.see) != 1 {
		t.Errorf("got outcome %v after %d see-phone taps, want online after 1", o.res.Outcome, len(o.see))
	}
}

func TestChargeTimeout(t *testing.T) {
	k := newKernel(t, fixedConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	l := listen(t)
	_, _, err := k.Charge(ctx, l, kernel.Transaction{Amount: money.Fen(1)}, nil)
	if !fault.Has(err, fault.Unavailable, "no_tap") {
		t.Errorf("got %v, want unavailable no_tap", err)
	}
}

// scripted is a card that answers from a table by the command's INS
// (A4 twice: PPSE then AID), for the kernel's checks.
type scripted struct {
	answers map[string][]byte // command name → answer with SW
	n       int
}

func (s *scripted) ATR() []byte { return applet.ATR() }
func (s *scripted) Reset()      {}
func (s *scripted) Process(cmd []byte) []byte {
	name := map[byte]string{0xA4: "select", 0xA8: "gpo", 0xB2: "record"}[cmd[1]]
	if name == "select" {
		s.n++
		if s.n > 1 {
			name = "aid"
		} else {
			name = "ppse"
		}
	}
	if a, ok := s.answers[name]; ok {
		return a
	}
	return []byte{0x6D, 0x00}
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// retag returns a response APDU with the value of tag replaced by v
// (removed when v is nil), in whatever template it sits.
func retag(t *testing.T, resp []byte, tag emv.Tag, v []byte) []byte {
	t.Helper()
	objs, err := emv.Decode(resp[:len(resp)-2])
	if err != nil {
		t.Fatal(err)
	}
	var edit func([]emv.TLV) []emv.TLV
	edit = func(objs []emv.TLV) []emv.TLV {
		var out []emv.TLV
		for _, o := range objs {
			switch {
			case o.Tag == tag && v == nil:
				continue
			case o.Tag == tag:
				o = emv.New(tag, v)
			case o.Children != nil:
				o = emv.NewConstructed(o.Tag, edit(o.Children)...)
			}
			out = append(out, o)
		}
		return out
	}
	b, err := emv.Encode(edit(objs)...)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, resp[len(resp)-2:]...)
}

func TestKernelChecks(t *testing.T) {
	// The answers of a real phone, to alter one thing at a time.
	ph := newPhone(t, 3)
	ph.Finger.OK = true
	res, err := tapOnce(t, newKernel(t, fixedConfig()), ph.Card, money.Fen(100))
	if err != nil || len(res.Trace) != 4 {
		t.Fatalf("reference tap: %v, %d steps", err, len(res.Trace))
	}
	ppse, aid, gpo, record := res.Trace[0].Response, res.Trace[1].Response, res.Trace[2].Response, res.Trace[3].Response
	sw := func(h string) []byte { return unhex(h) }
	tests := []struct {
		name    string
		answers map[string][]byte
		outcome kernel.Outcome
		code    string
	}{
		{"ok", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": gpo, "record": record}, kernel.Online, ""},
		{"no PPSE", map[string][]byte{"ppse": sw("6A82")}, 0, "no_application"},
		{"PPSE not an FCI", map[string][]byte{"ppse": sw("70009000")}, 0, "card_answer"},
		{"unsupported AID", map[string][]byte{"ppse": retag(t, ppse, 0x4F, unhex("A000000003101001"))}, 0, "no_application"},
		{"FCI of another AID", map[string][]byte{"ppse": ppse, "aid": retag(t, aid, 0x84, unhex("A000000333010102"))}, 0, "card_answer"},
		{"bad PDOL", map[string][]byte{"ppse": ppse, "aid": retag(t, aid, 0x9F38, unhex("9F"))}, 0, "card_answer"},
		{"see phone", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": sw("6986")}, kernel.SeePhone, ""},
		{"no keys", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": sw("6984")}, kernel.NeedsSync, ""},
		{"GPO refused", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": sw("6985")}, 0, "card_answer"},
		{"no cryptogram", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": retag(t, gpo, 0x9F26, nil)}, 0, "card_answer"},
		{"no ATC", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": retag(t, gpo, 0x9F36, nil)}, 0, "card_answer"},
		{"no CTQ", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": retag(t, gpo, 0x9F6C, nil)}, 0, "card_answer"},
		{"short cryptogram", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": retag(t, gpo, 0x9F26, unhex("11223344"))}, 0, "card_answer"},
		{"IAD of the wrong layout", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": retag(t, gpo, 0x9F10, unhex("0011"))}, 0, "card_answer"},
		{"bad AFL", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": retag(t, gpo, 0x94, unhex("080100"))}, 0, "card_answer"},
		{"AAC", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": retag(t, gpo, 0x9F27, unhex("00")), "record": record}, kernel.Declined, ""},
		{"TC", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": retag(t, gpo, 0x9F27, unhex("40")), "record": record}, 0, "card_answer"},
		{"no CDCVM in CTQ", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": retag(t, gpo, 0x9F6C, unhex("0800")), "record": record}, kernel.Declined, ""},
		{"record refused", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": gpo, "record": sw("6A83")}, 0, "card_answer"},
		{"token in 5A differs", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": gpo, "record": retag(t, record, 0x5A, unhex("6288010000001247"))}, 0, "card_answer"},
		{"no track 2", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": gpo, "record": retag(t, record, 0x57, nil)}, 0, "card_answer"},
		{"track 2 without separator", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": gpo, "record": retag(t, record, 0x57, unhex("62880100000012393012220000"))}, 0, "card_answer"},
		{"no expiry", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": gpo, "record": retag(t, record, 0x5F24, nil)}, 0, "card_answer"},
		{"expiry differs from track 2", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": gpo, "record": retag(t, record, 0x5F24, unhex("311231"))}, 0, "card_answer"},
		{"expired", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": gpo, "record": retag(t, retag(t, record, 0x5F24, unhex("251231")), 0x57, unhex("6288010000001239D251222000000000000F"))}, 0, "card_expired"},
		{"PSN not digits", map[string][]byte{"ppse": ppse, "aid": aid, "gpo": gpo, "record": retag(t, record, 0x5F34, unhex("AB"))}, 0, "card_answer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tapOnce(t, newKernel(t, fixedConfig()), &scripted{answers: tc.answers}, money.Fen(100))
			if tc.code != "" {
				if fault.CodeOf(err) != tc.code {
					t.Errorf("got error %v (code %s), want code %s", err, fault.CodeOf(err), tc.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want outcome %v", err, tc.outcome)
			}
			if res.Outcome != tc.outcome {
				t.Errorf("outcome: got %v (%s), want %v", res.Outcome, res.Reason, tc.outcome)
			}
		})
	}
}

func TestNewRejectsBadTerminal(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*kernel.Config)
	}{
		{"long terminal id", func(c *kernel.Config) { c.TerminalID = "T000000001" }},
		{"MCC letters", func(c *kernel.Config) { c.MCC = "54A1" }},
		{"empty merchant", func(c *kernel.Config) { c.MerchantName = "" }},
		{"non-ASCII city", func(c *kernel.Config) { c.City = "上海" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := kernel.DefaultConfig()
			tc.edit(&cfg)
			_, err := kernel.New(cfg)
			if fault.CodeOf(err) != "bad_terminal" {
				t.Errorf("got %v, want bad_terminal", err)
			}
		})
	}
}

func TestAuthorizationRequestNeedsOnline(t *testing.T) {
	k := newKernel(t, fixedConfig())
	_, err := k.AuthorizationRequest(&kernel.Result{Outcome: kernel.SeePhone}, tapTime)
	if fault.CodeOf(err) != "not_online" {
		t.Errorf("got %v, want not_online", err)
	}
}

func TestTapLinkDropped(t *testing.T) {
	k := newKernel(t, fixedConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l := listen(t)
	go func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err == nil {
			c.Close()
		}
	}()
	r, err := l.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = k.Run(ctx, r, kernel.Transaction{Amount: money.Fen(1)})
	if fault.CodeOf(err) != "nfc_link" || !errors.Is(err, nfc.ErrLinkClosed) {
		t.Errorf("got %v, want nfc_link wrapping nfc.ErrLinkClosed", err)
	}
}

func TestMaskHex(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"status only", "6986", "6986"},
		{"record", "70145A0862880100000012395F24033012315F340100" + "9000",
			"70145A08628801******12395F2403******5F3401009000"},
		{"track 2", "700C570A6288010000001239D30F9000", "700C570A628801******1239D***9000"},
		{"expiry value also elsewhere", "700C9F3603301231" + "5F2403301231" + "9000", "700C9F36033012315F2403******9000"},
		{"not BER-TLV", "5A0862889000", "[4 bytes that do not parse] 9000"},
		{"short number starred", "70045A0212349000", "70045A02****9000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := kernel.MaskHex(unhex(tc.in)); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// t0Card answers like a T=0 card: the first answer to each command is
// 6CXX (wrong Le), and a long answer comes in parts behind 61XX.
type t0Card struct {
	inner   nfc.Card
	pending []byte
	wrongLe bool
}

func (c *t0Card) ATR() []byte { return c.inner.ATR() }
func (c *t0Card) Reset()      { c.inner.Reset() }
func (c *t0Card) Process(cmd []byte) []byte {
	if cmd[1] == 0xC0 { // GET RESPONSE
		n := min(len(c.pending), 16)
		part := c.pending[:n]
		c.pending = c.pending[n:]
		if len(c.pending) > 0 {
			return append(append([]byte(nil), part...), 0x61, byte(len(c.pending)))
		}
		return append(append([]byte(nil), part...), 0x90, 0x00)
	}
	le := cmd[len(cmd)-1]
	if !c.wrongLe && le == 0 {
		c.wrongLe = true
		return []byte{0x6C, 0x00}
	}
	c.wrongLe = false
	resp := c.inner.Process(cmd)
	data, sw := resp[:len(resp)-2], resp[len(resp)-2:]
	if sw[0] != 0x90 || len(data) <= 16 {
		return resp
	}
	c.pending = append([]byte(nil), data[16:]...)
	return append(append([]byte(nil), data[:16]...), 0x61, byte(len(c.pending)))
}

func TestTapT0Card(t *testing.T) {
	ph := newPhone(t, 3)
	ph.Finger.OK = true
	res, err := tapOnce(t, newKernel(t, fixedConfig()), &t0Card{inner: ph.Card}, money.Fen(1234))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != kernel.Online || res.Token.Digits() != applettest.DebitToken {
		t.Errorf("got %v with token %v, want online with the debit token", res.Outcome, res.Token)
	}
	var getResponses int
	for _, s := range res.Trace {
		if s.Name == "GET RESPONSE" {
			getResponses++
		}
	}
	if getResponses == 0 {
		t.Errorf("trace has no GET RESPONSE; want the long answers fetched in parts")
	}
}
