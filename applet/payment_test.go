package applet_test

import (
	"bytes"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/apdu"
	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/applet/applettest"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/qpboc"
	"github.com/tapwallet/tapwallet/se"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// phone is a payment applet in a dispatcher over a real secure element.
type phone struct {
	el     *se.Element
	finger *applettest.Finger
	pay    *applet.Payment
	d      *applet.Dispatcher
	events []applet.Event
}

// newPhone makes a phone with cards, each with keys limited-use keys.
func newPhone(t testing.TB, keys int, cards ...applet.PaymentCard) *phone {
	t.Helper()
	el, err := se.Open(filepath.Join(t.TempDir(), "se.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cards {
		if keys > 0 {
			if _, err := applettest.InstallKeys(el, applettest.IMK, c, 1, keys, time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	ph := &phone{el: el, finger: &applettest.Finger{}}
	ph.pay = applet.NewPayment(el, ph.finger, cards...)
	ph.pay.OnEvent = func(e applet.Event) { ph.events = append(ph.events, e) }
	ph.d = applet.NewDispatcher(ph.pay)
	return ph
}

func (ph *phone) send(t testing.TB, cmd string) apdu.Response {
	t.Helper()
	raw := ph.d.Process(unhex(t, cmd))
	r, err := apdu.ParseResponse(raw)
	if err != nil {
		t.Fatalf("%s: response %X does not parse: %v", cmd, raw, err)
	}
	return r
}

const (
	selectPPSE   = "00A404000E325041592E5359532E444446303100"
	selectDebit  = "00A4040008A00000033301010100"
	selectCredit = "00A4040008A00000033301010200"
	readRecord   = "00B2010C00"
)

// pdolData is the GPO data for 12.34 CNY on 2026-03-14, UN 11223344, at
// "TAPWALLET MART".
func pdolData(t testing.TB) []byte {
	t.Helper()
	return applet.PDOL.Build(map[emv.Tag][]byte{
		qpboc.TagTTQ:                qpboc.StoreTTQ(),
		qpboc.TagAmount:             unhex(t, "000000001234"),
		qpboc.TagAmountOther:        unhex(t, "000000000000"),
		qpboc.TagCountry:            unhex(t, "0156"),
		qpboc.TagTVR:                unhex(t, "0000000000"),
		qpboc.TagCurrency:           unhex(t, "0156"),
		qpboc.TagDate:               unhex(t, "260314"),
		qpboc.TagType:               {0x00},
		qpboc.TagUN:                 unhex(t, "11223344"),
		emv.TagMerchantNameLocation: []byte("TAPWALLET MART"),
	})
}

func gpo(t testing.TB, data []byte) string {
	c := apdu.GetProcessingOptions(data)
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func tags(t testing.TB, data []byte) map[emv.Tag][]byte {
	t.Helper()
	objs, err := emv.Decode(data)
	if err != nil {
		t.Fatalf("answer %X: %v", data, err)
	}
	out := map[emv.Tag][]byte{}
	var walk func([]emv.TLV)
	walk = func(os []emv.TLV) {
		for _, o := range os {
			if o.Children != nil {
				walk(o.Children)
			} else if _, seen := out[o.Tag]; !seen {
				out[o.Tag] = o.Value
			}
		}
	}
	walk(objs)
	return out
}

func TestPaymentTap(t *testing.T) {
	ph := newPhone(t, 3, applettest.DebitCard(), applettest.CreditCard())
	ph.finger.OK = true

	r := ph.send(t, selectPPSE)
	if r.SW != apdu.SWSuccess {
		t.Fatalf("SELECT PPSE: got %v, want 9000", r.SW)
	}
	objs, _ := emv.Decode(r.Data)
	dir, _ := emv.Find(objs, emv.TagFCIIssuerDiscretion)
	if len(dir.Children) != 2 {
		t.Fatalf("PPSE entries: got %d, want 2", len(dir.Children))
	}
	for i, want := range []struct{ aid, prio string }{{"A000000333010101", "01"}, {"A000000333010102", "02"}} {
		e := tags(t, mustEncode(t, dir.Children[i]))
		if got := hex.EncodeToString(e[emv.TagAID]); !strings.EqualFold(got, want.aid) {
			t.Errorf("entry %d AID: got %s, want %s", i, got, want.aid)
		}
		if got := hex.EncodeToString(e[emv.TagPriority]); got != want.prio {
			t.Errorf("entry %d priority: got %s, want %s", i, got, want.prio)
		}
	}

	r = ph.send(t, selectDebit)
	fci := tags(t, r.Data)
	if r.SW != apdu.SWSuccess || !bytes.Equal(fci[emv.TagPDOL], applet.PDOL.Bytes()) {
		t.Fatalf("SELECT AID: got %v PDOL %X, want 9000 and %X", r.SW, fci[emv.TagPDOL], applet.PDOL.Bytes())
	}

	data := pdolData(t)
	r = ph.send(t, gpo(t, data))
	if r.SW != apdu.SWSuccess {
		t.Fatalf("GPO: got %v, want 9000", r.SW)
	}
	got := tags(t, r.Data)
	for _, tag := range []emv.Tag{qpboc.TagAIP, qpboc.TagAFL, qpboc.TagATC, qpboc.TagCryptogram, qpboc.TagCID, qpboc.TagIAD, qpboc.TagCTQ} {
		if _, ok := got[tag]; !ok {
			t.Errorf("GPO answer lacks %s", tag)
		}
	}
	if !bytes.Equal(got[qpboc.TagCID], []byte{0x80}) || !bytes.Equal(got[qpboc.TagATC], []byte{0, 1}) {
		t.Errorf("CID, ATC: got %X, %X, want 80, 0001", got[qpboc.TagCID], got[qpboc.TagATC])
	}
	iad, err := qpboc.ParseIAD(got[qpboc.TagIAD])
	if err != nil || iad.KeyIndex != 1 || !iad.CDCVM() || iad.CVN != qpboc.CVNTDES {
		t.Errorf("IAD: got %+v (%v), want key 1, CDCVM, CVN 11", iad, err)
	}
	if got[qpboc.TagCTQ][1]&qpboc.CTQCDCVM == 0 {
		t.Errorf("CTQ %X: CDCVM bit not set", got[qpboc.TagCTQ])
	}

	// The cryptogram verifies with the key derived independently from
	// the issuer master key: MK option A, PBOC session key of index 1.
	mk, err := emv.MasterKey(emv.TDES, emv.OptionA, applettest.IMK, applettest.DebitToken, "00")
	if err != nil {
		t.Fatal(err)
	}
	sk, err := emv.SessionKeyPBOC(emv.TDES, mk, []byte{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	vals, _ := applet.PDOL.Split(data)
	vals[qpboc.TagAIP], vals[qpboc.TagATC], vals[qpboc.TagIAD] = got[qpboc.TagAIP], got[qpboc.TagATC], got[qpboc.TagIAD]
	arqcData, err := qpboc.ARQCData(vals)
	if err != nil {
		t.Fatal(err)
	}
	good, err := emv.VerifyCryptogram(emv.TDES, sk, arqcData, emv.PadMethod1, got[qpboc.TagCryptogram])
	if err != nil || !good {
		t.Errorf("ARQC %X does not verify with the independently derived key (%v)", got[qpboc.TagCryptogram], err)
	}

	r = ph.send(t, readRecord)
	rec := tags(t, r.Data)
	if r.SW != apdu.SWSuccess {
		t.Fatalf("READ RECORD: got %v, want 9000", r.SW)
	}
	wantRec := map[emv.Tag]string{
		qpboc.TagTrack2: "6288010000001239D3012220" + "00000000000F",
		0x5A:            "6288010000001239",
		qpboc.TagExpiry: "301231",
		qpboc.TagPSN:    "00",
	}
	for tag, want := range wantRec {
		if got := strings.ToUpper(hex.EncodeToString(rec[tag])); got != want {
			t.Errorf("record %s: got %s, want %s", tag, got, want)
		}
	}

	if len(ph.events) != 1 || ph.events[0].Kind != applet.Paid || ph.events[0].Amount != 1234 ||
		ph.events[0].Currency != 156 || ph.events[0].Merchant != "TAPWALLET MART" || ph.events[0].ATC != 1 {
		t.Errorf("events: got %+v, want one paid 1234 156 TAPWALLET MART ATC 1", ph.events)
	}
	if ph.finger.OK {
		t.Errorf("fingerprint still verified after the payment; want it used up")
	}
	if n := ph.el.KeysLeft(applettest.DebitToken); n != 2 {
		t.Errorf("keys left: got %d, want 2", n)
	}
}

func mustEncode(t testing.TB, o emv.TLV) []byte {
	t.Helper()
	b, err := emv.Encode(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPaymentSeePhone(t *testing.T) {
	ph := newPhone(t, 2, applettest.DebitCard())
	ph.send(t, selectPPSE)
	ph.send(t, selectDebit)
	r := ph.send(t, gpo(t, pdolData(t)))
	if r.SW != applet.SWSeePhone || len(r.Data) != 0 {
		t.Fatalf("GPO without fingerprint: got %v with %d bytes, want 6986 and no data", r.SW, len(r.Data))
	}
	if n, c := ph.el.KeysLeft(applettest.DebitToken), ph.el.Counter(applettest.DebitToken); n != 2 || c != 1 {
		t.Errorf("after see phone: keys %d, next counter %d; want 2 and 1 (nothing used)", n, c)
	}
	if len(ph.events) != 1 || ph.events[0].Kind != applet.SeePhone {
		t.Errorf("events: got %+v, want one see phone", ph.events)
	}
	if r := ph.send(t, readRecord); r.SW != apdu.SWConditionsNotSatisfied {
		t.Errorf("READ RECORD after see phone: got %v, want 6985", r.SW)
	}
	// The second tap, after the fingerprint, goes through.
	ph.finger.OK = true
	ph.d.Reset()
	ph.send(t, selectPPSE)
	ph.send(t, selectDebit)
	if r := ph.send(t, gpo(t, pdolData(t))); r.SW != apdu.SWSuccess {
		t.Errorf("GPO with fingerprint: got %v, want 9000", r.SW)
	}
}

func TestPaymentKeysRunOut(t *testing.T) {
	ph := newPhone(t, 2, applettest.DebitCard())
	ph.finger.Sticky = true
	ph.finger.OK = true
	for i, want := range []struct {
		sw  apdu.StatusWord
		key uint16
	}{{0x9000, 1}, {0x9000, 2}, {applet.SWNoKeys, 0}, {applet.SWNoKeys, 0}} {
		ph.d.Reset()
		ph.send(t, selectDebit)
		r := ph.send(t, gpo(t, pdolData(t)))
		if r.SW != want.sw {
			t.Fatalf("tap %d: got %v, want %v", i+1, r.SW, want.sw)
		}
		if want.sw != 0x9000 {
			if len(r.Data) != 0 {
				t.Errorf("tap %d: got %d data bytes with %v, want none", i+1, len(r.Data), r.SW)
			}
			continue
		}
		iad, err := qpboc.ParseIAD(tags(t, r.Data)[qpboc.TagIAD])
		if err != nil || iad.KeyIndex != want.key {
			t.Errorf("tap %d: key index got %d (%v), want %d", i+1, iad.KeyIndex, err, want.key)
		}
	}
	if got := ph.events[len(ph.events)-1].Kind; got != applet.NoKeys {
		t.Errorf("last event: got %v, want no keys", got)
	}
}

func TestPaymentSelectNextOccurrence(t *testing.T) {
	second := applettest.DebitCard()
	second.Token, second.Label = applettest.CreditToken, "CMB 4562"
	ph := newPhone(t, 1, applettest.DebitCard(), second)
	ph.finger.OK = true
	label := func(r apdu.Response) string { return string(tags(t, r.Data)[0x50]) }
	if r := ph.send(t, selectDebit); label(r) != "ICBC 1239" {
		t.Errorf("first occurrence: got %q, want the default card ICBC 1239", label(r))
	}
	if r := ph.send(t, "00A4040208A00000033301010100"); label(r) != "CMB 4562" {
		t.Errorf("next occurrence: got %q, want CMB 4562", label(r))
	}
	r := ph.send(t, gpo(t, pdolData(t)))
	if r.SW != apdu.SWSuccess {
		t.Fatalf("GPO: got %v, want 9000", r.SW)
	}
	if ph.events[0].Token != applettest.CreditToken {
		t.Errorf("paid with %s, want the second card", ph.events[0].Token)
	}
	if r := ph.send(t, "00A4040208A00000033301010100"); r.SW != apdu.SWFileNotFound {
		t.Errorf("third occurrence: got %v, want 6A82", r.SW)
	}
}

func TestPaymentStatusWords(t *testing.T) {
	good := gpo(t, pdolData(t))
	short := gpo(t, pdolData(t)[:10])
	badAmount := pdolData(t)
	copy(badAmount[4:], []byte{0xAA})
	tests := []struct {
		name   string
		finger bool
		cmds   []string
		want   apdu.StatusWord
	}{
		{"GPO before SELECT AID", true, []string{selectPPSE, good}, 0x6985},
		{"GPO wrong length", true, []string{selectDebit, short}, 0x6700},
		{"GPO without template 83", true, []string{selectDebit, "80A8000003820100" + "00"}, 0x6A80},
		{"GPO bad TLV", true, []string{selectDebit, "80A80000028305" + "00"}, 0x6A80},
		{"GPO P1", true, []string{selectDebit, strings.Replace(good, "80a80000", "80a80100", 1)}, 0x6A86},
		{"GPO CLA 00", true, []string{selectDebit, strings.Replace(good, "80a80000", "00a80000", 1)}, 0x6E00},
		{"GPO non-BCD amount", true, []string{selectDebit, gpo(t, badAmount)}, 0x6A80},
		{"GPO twice", true, []string{selectDebit, good, good}, 0x6985},
		{"READ RECORD before GPO", true, []string{selectDebit, readRecord}, 0x6985},
		{"READ RECORD record 2", true, []string{selectDebit, good, "00B2020C00"}, 0x6A83},
		{"READ RECORD SFI 2", true, []string{selectDebit, good, "00B2011400"}, 0x6A83},
		{"READ RECORD P2 not by SFI", true, []string{selectDebit, good, "00B2010800"}, 0x6A86},
		{"READ RECORD record 0", true, []string{selectDebit, good, "00B2000C00"}, 0x6A86},
		{"READ RECORD", true, []string{selectDebit, good, readRecord}, 0x9000},
		{"GET DATA ATC", true, []string{selectDebit, "80CA9F3600"}, 0x9000},
		{"GET DATA unknown tag", true, []string{selectDebit, "80CA9F1300"}, 0x6A88},
		{"GET DATA after PPSE only", true, []string{selectPPSE, "80CA9F3600"}, 0x6985},
		{"GET DATA after see phone", false, []string{selectDebit, good, "80CA9F3600"}, 0x9000},
		{"GENERATE AC", true, []string{selectDebit, "80AE8000020000"}, 0x6D00},
		{"unknown INS", true, []string{selectDebit, "80EE0000"}, 0x6D00},
		{"CLA 90", true, []string{selectDebit, "90A8000002830000"}, 0x6E00},
		{"PPSE next occurrence", true, []string{"00A404020E325041592E5359532E444446303100"}, 0x6A82},
		{"unknown AID", true, []string{"00A4040008A00000033301019900"}, 0x6A82},
		{"no fingerprint", false, []string{selectDebit, good}, applet.SWSeePhone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ph := newPhone(t, 2, applettest.DebitCard())
			ph.finger.OK = tc.finger
			var r apdu.Response
			for _, c := range tc.cmds {
				r = ph.send(t, c)
			}
			if r.SW != tc.want {
				t.Errorf("got %v, want %v", r.SW, tc.want)
			}
			if tc.want != 0x9000 && len(r.Data) != 0 {
				t.Errorf("got %d data bytes with %v, want none", len(r.Data), r.SW)
			}
		})
	}
}

func TestPaymentNoCards(t *testing.T) {
	ph := newPhone(t, 0)
	if r := ph.send(t, selectPPSE); r.SW != apdu.SWFileNotFound {
		t.Errorf("PPSE of a phone with no cards: got %v, want 6A82", r.SW)
	}
}

func TestPaymentNoKeysAtAll(t *testing.T) {
	ph := newPhone(t, 0, applettest.DebitCard())
	ph.finger.OK = true
	ph.send(t, selectDebit)
	if r := ph.send(t, gpo(t, pdolData(t))); r.SW != applet.SWNoKeys {
		t.Errorf("GPO of a card without keys: got %v, want %v", r.SW, applet.SWNoKeys)
	}
	if !ph.finger.OK {
		t.Errorf("the fingerprint was used up by a tap that could not pay")
	}
}

func TestPPSEFitsWithEightCards(t *testing.T) {
	var cards []applet.PaymentCard
	for i := 0; i < 8; i++ {
		c := applettest.CreditCard()
		c.Label = "BANKNAME 1234567" // 16 characters: too long for 8 entries
		cards = append(cards, c)
	}
	ph := newPhone(t, 0, cards...)
	r := ph.send(t, selectPPSE)
	if r.SW != apdu.SWSuccess || len(r.Data) > 256 {
		t.Fatalf("PPSE with 8 cards: got %v with %d bytes, want 9000 and at most 256", r.SW, len(r.Data))
	}
	objs, _ := emv.Decode(r.Data)
	dir, _ := emv.Find(objs, emv.TagFCIIssuerDiscretion)
	if len(dir.Children) != 8 {
		t.Errorf("entries: got %d, want 8", len(dir.Children))
	}
}

// Issue 9 item 10: after "see phone" (6986) or "no key" (6984) the card
// stays selected: GET DATA answers, and a GPO may come again.
func TestPaymentStaysSelectedAfterRefusal(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys int
		want apdu.StatusWord
	}{{"see phone", 2, applet.SWSeePhone}, {"no keys", 0, applet.SWNoKeys}} {
		t.Run(tc.name, func(t *testing.T) {
			ph := newPhone(t, tc.keys, applettest.DebitCard())
			ph.send(t, selectPPSE)
			ph.send(t, selectDebit)
			if r := ph.send(t, gpo(t, pdolData(t))); r.SW != tc.want {
				t.Fatalf("GPO: got %v, want %v", r.SW, tc.want)
			}
			r := ph.send(t, "80CA9F3600")
			if r.SW != apdu.SWSuccess || !bytes.Equal(tags(t, r.Data)[qpboc.TagATC], []byte{0, 0}) {
				t.Errorf("GET DATA 9F36 after %v: got %v %X, want 9000 with ATC 0000", tc.want, r.SW, r.Data)
			}
			if tc.keys == 0 {
				return
			}
			ph.finger.OK = true // the fingerprint, then the terminal asks again
			if r := ph.send(t, gpo(t, pdolData(t))); r.SW != apdu.SWSuccess {
				t.Errorf("GPO again after the fingerprint: got %v, want 9000", r.SW)
			}
		})
	}
}

// Issue 9 item 9: a consent for one amount and currency does not pay
// another request: it is "see phone", no key or counter used.
func TestPaymentConsentCoversOneRequest(t *testing.T) {
	ph := newPhone(t, 2, applettest.DebitCard())
	ph.finger.OK = true
	ph.finger.For = &applet.Request{Amount: 1234, Currency: 156}
	eur := applet.PDOL.Build(map[emv.Tag][]byte{
		qpboc.TagAmount: unhex(t, "000000000000"), qpboc.TagAmountOther: unhex(t, "000000000000"),
		qpboc.TagCurrency: unhex(t, "0978"), qpboc.TagCountry: unhex(t, "0250"), qpboc.TagUN: unhex(t, "01020304"),
	})
	ph.send(t, selectDebit)
	if r := ph.send(t, gpo(t, eur)); r.SW != applet.SWSeePhone {
		t.Fatalf("GPO for 0.00 EUR with a consent for 12.34 CNY: got %v, want 6986", r.SW)
	}
	if n, c := ph.el.KeysLeft(applettest.DebitToken), ph.el.Counter(applettest.DebitToken); n != 2 || c != 1 {
		t.Errorf("after the other request: keys %d, next counter %d; want 2 and 1", n, c)
	}
	if got := ph.finger.Asked; len(got) != 1 || got[0].Amount != 0 || got[0].Currency != 978 {
		t.Errorf("consent asked for %+v, want one 0.00 EUR request", got)
	}
	if e := ph.events[0]; e.Kind != applet.SeePhone || e.Amount != 0 || e.Currency != 978 {
		t.Errorf("event: got %+v, want see phone for 0 978", e)
	}
	if r := ph.send(t, gpo(t, pdolData(t))); r.SW != apdu.SWSuccess {
		t.Errorf("GPO for the consented 12.34 CNY: got %v, want 9000", r.SW)
	}
}

// Issue 9 item 13: the terminal's outcome reaches the phone as an event;
// a refused GPO is reported as the terminal's error.
func TestPaymentOutcome(t *testing.T) {
	put := func(o qpboc.Outcome) string {
		b, err := apdu.Command{CLA: 0x80, INS: apdu.InsPutData, P1: 0xFF, P2: 0x71, Data: o.Bytes()}.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(b)
	}
	declined := put(qpboc.Outcome{ARC: "51", IssuerAuth: unhex(t, "0102030405060708 3531"), Message: "DECLINED"})
	ph := newPhone(t, 2, applettest.DebitCard())
	ph.finger.OK = true
	if r := ph.send(t, declined); r.SW != apdu.SWConditionsNotSatisfied {
		t.Errorf("outcome with nothing selected: got %v, want 6985", r.SW)
	}
	ph.send(t, selectDebit)
	ph.send(t, gpo(t, pdolData(t)))
	if r := ph.send(t, declined); r.SW != apdu.SWSuccess {
		t.Fatalf("outcome after the payment: got %v, want 9000", r.SW)
	}
	if len(ph.events) != 2 {
		t.Fatalf("events: got %+v, want paid then outcome", ph.events)
	}
	if e := ph.events[1]; e.Kind != applet.Outcome || e.ARC != "51" || e.Message != "DECLINED" || !e.IssuerAuth || e.Token != applettest.DebitToken {
		t.Errorf("outcome event: got %+v, want ARC 51 DECLINED with issuer authentication for the debit card", e)
	}
	for name, c := range map[string]string{
		"not a template": "80DAFF71048A023531",
		"other tag":      strings.Replace(declined, "80daff71", "80dadf71", 1),
		"ARC of 3":       "80DAFF7107FF71058A03353135",
		"terminal error": put(qpboc.Outcome{Message: "card read error"}),
	} {
		r := ph.send(t, c)
		want := map[string]apdu.StatusWord{"not a template": 0x6A80, "other tag": 0x6A88, "ARC of 3": 0x6A80, "terminal error": 0x9000}[name]
		if r.SW != want {
			t.Errorf("%s: got %v, want %v", name, r.SW, want)
		}
	}

	ph = newPhone(t, 2, applettest.DebitCard())
	ph.finger.OK = true
	ph.send(t, selectDebit)
	if r := ph.send(t, gpo(t, pdolData(t)[:50])); r.SW != apdu.SWWrongLength {
		t.Fatalf("short GPO: got %v, want 6700", r.SW)
	}
	if len(ph.events) != 1 || ph.events[0].Kind != applet.Refused || ph.events[0].SW != apdu.SWWrongLength {
		t.Errorf("events: got %+v, want one refused 6700", ph.events)
	}
}
