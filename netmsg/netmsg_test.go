package netmsg_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netmsg"
)

// golden is the documented 0100 (iso8583/testdata/auth_0100.hex).
func golden(t testing.TB) *iso8583.Message {
	t.Helper()
	raw, err := os.ReadFile("../iso8583/testdata/auth_0100.hex")
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.Join(strings.Fields(string(raw)), ""))
	if err != nil {
		t.Fatal(err)
	}
	m, err := iso8583.Unpack(b)
	if err != nil {
		t.Fatal(err)
	}
	// A Luhn-valid number in place of the golden's DE2.
	if err := m.SetString(iso8583.DEPAN, luhnValid); err != nil {
		t.Fatal(err)
	}
	return m
}

var luhnValid = "622202000000000001" + string(card.LuhnDigit("622202000000000001"))

func str(m *iso8583.Message, de int) string {
	v, _ := m.String(de)
	return v
}

func TestDecodeAuthorizationAtNetwork(t *testing.T) {
	m := golden(t)
	got, err := netmsg.Decode(m, netmsg.Network)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	a, ok := got.(*netmsg.Authorization)
	if !ok {
		t.Fatalf("got %T, want *netmsg.Authorization", got)
	}
	if a.Token.Digits() != str(m, iso8583.DEPAN) || !a.PAN.IsZero() {
		t.Errorf("card: got token %v pan %v, want DE2 as the token and no PAN", a.Token, a.PAN)
	}
	wantAmt, _ := m.Amount()
	if a.Amount != wantAmt || a.Amount.Currency != money.CNY {
		t.Errorf("amount: got %v, want %v", a.Amount, wantAmt)
	}
	stan, _ := m.STAN()
	if a.STAN != stan || a.Terminal != str(m, iso8583.DETerminal) || a.Transmission != str(m, iso8583.DETransmission) {
		t.Errorf("identity: got %v %q %q", a.STAN, a.Terminal, a.Transmission)
	}
	if a.ID() != netmsg.ID(str(m, iso8583.DETerminal), str(m, iso8583.DESTAN), str(m, iso8583.DETransmission)) {
		t.Errorf("ID: got %q", a.ID())
	}
	if a.STANText() != str(m, iso8583.DESTAN) || a.STANText() != stan.String() {
		t.Errorf("STANText: got %q, want DE11 %q", a.STANText(), str(m, iso8583.DESTAN))
	}
	if h := (netmsg.Header{STAN: 42}); h.STANText() != "000042" {
		t.Errorf("STANText of a header made without DE11's text: got %q, want 000042", h.STANText())
	}
	if a.ChipErr != nil || len(a.Chip) == 0 {
		t.Errorf("chip: got %d tags, err %v; want the golden's tags", len(a.Chip), a.ChipErr)
	}
	if !a.Contactless() || a.ProcessingCode != "000000" || a.RRN != str(m, iso8583.DERRN) || a.Raw != m {
		t.Errorf("got contactless %v pc %q rrn %q", a.Contactless(), a.ProcessingCode, a.RRN)
	}
}

func TestDecodeAtIssuerReadsPAN(t *testing.T) {
	m := golden(t)
	// The golden's DE2 is a token number; at an issuer DE2 is read as a PAN.
	got, err := netmsg.Decode(m, netmsg.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	a := got.(*netmsg.Authorization)
	if a.PAN.Digits() != str(m, iso8583.DEPAN) {
		t.Errorf("got PAN %v, want DE2", a.PAN)
	}
	if m.Has(iso8583.DETokenData) && a.TokenData.Token == "" {
		t.Errorf("DE123 present but not read")
	}
}

// TestChipSharesDE55: DE55's tags are read, their values DE55's bytes;
// chip data that does not decode is ChipErr (fault.Invalid ChipCode).
func TestChipSharesDE55(t *testing.T) {
	m := golden(t)
	icc, _ := m.Value(iso8583.DEICC)
	got, _ := netmsg.Decode(m, netmsg.Network)
	a := got.(*netmsg.Authorization)
	want, err := netmsg.DecodeChip(icc)
	if err != nil || a.ChipErr != nil || len(a.Chip) != len(want) {
		t.Fatalf("got %d tags, err %v; want %d", len(a.Chip), a.ChipErr, len(want))
	}
	for tag, v := range want {
		if !bytes.Equal(a.Chip[tag], v) || &a.Chip[tag][0] != &v[0] {
			t.Errorf("tag %s is %X, want %X, DE55's own bytes", tag, a.Chip[tag], v)
		}
	}
	bad := m.Clone()
	if err := bad.SetBytes(iso8583.DEICC, []byte{0x9f, 0x26, 0x09, 1}); err != nil {
		t.Fatal(err)
	}
	for _, side := range []netmsg.Side{netmsg.Network, netmsg.Issuer} {
		got, _ = netmsg.Decode(bad, side)
		if a := got.(*netmsg.Authorization); !fault.Has(a.ChipErr, fault.Invalid, netmsg.ChipCode) {
			t.Errorf("side %d, DE55 truncated: ChipErr %v, want %s", side, a.ChipErr, netmsg.ChipCode)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name   string
		mangle func(m *iso8583.Message)
		code   string
		rc     iso8583.ResponseCode
	}{
		{"no DE41", func(m *iso8583.Message) { m.Unset(iso8583.DETerminal) }, netmsg.MissingCode, iso8583.FormatError},
		{"no DE55", func(m *iso8583.Message) { m.Unset(iso8583.DEICC) }, netmsg.MissingCode, iso8583.FormatError},
		{"reversal without DE90", func(m *iso8583.Message) { m.MTI = iso8583.ReversalRequest }, netmsg.MissingCode, iso8583.FormatError},
		{"reversal with a DE90 of a reversal", func(m *iso8583.Message) {
			m.MTI = iso8583.ReversalRequest
			_ = m.SetString(iso8583.DEOriginal, "0400"+strings.Repeat("0", 38))
		}, netmsg.BadOriginalCode, iso8583.FormatError},
		{"an advice", func(m *iso8583.Message) { m.MTI = iso8583.AuthorizationAdvice }, netmsg.UnknownCode, iso8583.FunctionNotSupported},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := golden(t)
			c.mangle(m)
			_, err := netmsg.Decode(m, netmsg.Network)
			if !fault.Has(err, fault.Invalid, c.code) {
				t.Fatalf("got %v, want fault.Invalid %q", err, c.code)
			}
			if c.rc == iso8583.FormatError && !errors.Is(err, iso8583.ErrFormat) {
				t.Errorf("got %v, want it to match iso8583.ErrFormat", err)
			}
			if rc := netmsg.ResponseCode(err); rc != c.rc {
				t.Errorf("ResponseCode: got %s, want %s", rc, c.rc)
			}
			if strings.Contains(err.Error(), str(m, iso8583.DEPAN)) {
				t.Errorf("error text names the card number: %v", err)
			}
		})
	}
}

func TestDecodeBadChipAndCard(t *testing.T) {
	m := golden(t)
	_ = m.SetBytes(iso8583.DEICC, []byte{0x9f, 0x26, 0x08, 0x01})                       // truncated TLV
	_ = m.SetString(iso8583.DEPAN, luhnValid[:18]+string('0'+(luhnValid[18]-'0'+1)%10)) // fails Luhn: zero token
	got, err := netmsg.Decode(m, netmsg.Network)
	if err != nil {
		t.Fatalf("Decode: %v (bad chip data and card numbers are the party's to answer)", err)
	}
	a := got.(*netmsg.Authorization)
	if !fault.Has(a.ChipErr, fault.Invalid, netmsg.ChipCode) {
		t.Errorf("ChipErr: got %v, want %q", a.ChipErr, netmsg.ChipCode)
	}
	if !a.Token.IsZero() {
		t.Errorf("token: got %v, want zero for a number failing Luhn", a.Token)
	}
}

func TestDecodeReversalPartial(t *testing.T) {
	m := golden(t)
	m.MTI = iso8583.ReversalRequest
	_ = m.SetString(iso8583.DEOriginal, "0100"+"000123"+"0314090000"+strings.Repeat("0", 22))
	_ = m.SetString(iso8583.DEReplacement, "000000000500000000000500C00000000C00000000")
	got, err := netmsg.Decode(m, netmsg.Network)
	if err != nil {
		t.Fatal(err)
	}
	r := got.(*netmsg.Reversal)
	if r.Original != (netmsg.Original{STAN: "000123", Transmission: "0314090000"}) || !r.Partial || r.Remaining != 500 {
		t.Fatalf("got original %+v partial %v remaining %d", r.Original, r.Partial, r.Remaining)
	}
	if r.OriginalID() != netmsg.ID(r.Terminal, "000123", "0314090000") {
		t.Errorf("OriginalID: got %q", r.OriginalID())
	}
}

func TestMux(t *testing.T) {
	var seen []string
	mux := &netmsg.Mux{Side: netmsg.Network,
		Authorization: func(_ context.Context, a *netmsg.Authorization) *iso8583.Message {
			seen = append(seen, "auth "+a.STAN.String())
			return netmsg.Answer(a.Raw, iso8583.Approved)
		},
	}
	ctx := context.Background()
	rc := func(resp *iso8583.Message) iso8583.ResponseCode {
		t.Helper()
		if resp == nil {
			t.Fatal("no answer")
		}
		c, _ := resp.ResponseCode()
		return c
	}
	m := golden(t)
	if got := rc(mux.Handle(ctx, m)); got != iso8583.Approved || len(seen) != 1 {
		t.Errorf("0100: got %s (%v), want 00 from the handler", got, seen)
	}
	bad := golden(t)
	bad.Unset(iso8583.DEMerchant)
	if got := rc(mux.Handle(ctx, bad)); got != iso8583.FormatError || len(seen) != 1 {
		t.Errorf("0100 without DE42: got %s, want 30 without the handler", got)
	}
	rev := golden(t)
	rev.MTI = iso8583.ReversalRequest
	_ = rev.SetString(iso8583.DEOriginal, "0100"+"000123"+"0314090000"+strings.Repeat("0", 22))
	if got := rc(mux.Handle(ctx, rev)); got != iso8583.FunctionNotSupported {
		t.Errorf("0400 with no reversal handler: got %s, want 40", got)
	}
	echo := iso8583.New(iso8583.NetworkRequest)
	echo.SetTransmissionTime(timeZero)
	_ = echo.SetSTAN(7)
	_ = echo.SetString(iso8583.DENetworkCode, string(iso8583.EchoTest))
	if resp := mux.Handle(ctx, echo); resp == nil || resp.MTI != iso8583.NetworkResponse || rc(resp) != iso8583.Approved {
		t.Errorf("0800 echo: got %v, want 0810 00", resp)
	}
	if resp := mux.Handle(ctx, &iso8583.Message{MTI: iso8583.AuthorizationResponse}); resp != nil {
		t.Errorf("a response: got an answer %v, want none", resp.MTI)
	}
}

var timeZero = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// TestDecodeChipOwnTags checks that DecodeChip, whose room for the tags is
// reused, gives each DE55 its own tags and nothing of the one before — a
// longer one, one that failed part way, one with a tag twice.
func TestDecodeChipOwnTags(t *testing.T) {
	long := []byte{0x9f, 0x26, 0x02, 0xaa, 0xbb, 0x9f, 0x36, 0x02, 0x00, 0x01, 0x95, 0x01, 0x80}
	for _, before := range [][]byte{
		long,
		{0x9f, 0x26, 0x02, 0xaa, 0xbb, 0x9f, 0x36, 0x08, 0x01}, // truncated after a good tag
		{0x95, 0x01, 0x80, 0x95, 0x01, 0x80},                   // a tag twice
	} {
		_, _ = netmsg.DecodeChip(before)
		got, err := netmsg.DecodeChip([]byte{0x9c, 0x01, 0x00})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !bytes.Equal(got[0x9c], []byte{0}) {
			t.Errorf("after % x: got %x, want only 9C 00", before, got)
		}
	}
	got, err := netmsg.DecodeChip(long)
	if err != nil || len(got) != 3 || !bytes.Equal(got[0x9f36], []byte{0, 1}) {
		t.Errorf("got %x, %v; want the three tags", got, err)
	}
}

// TestDecodeChipRefuses: a tag given twice (apart or side by side), a
// constructed tag and BER-TLV that does not decode are each a fault.Invalid
// ChipCode error naming what is wrong, never a value.
func TestDecodeChipRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		icc  []byte
		why  string
	}{
		{"a tag twice", []byte{0x95, 0x01, 0x80, 0x9c, 0x01, 0x00, 0x95, 0x01, 0x81}, "tag 95 twice"},
		{"a tag twice side by side", []byte{0x9f, 0x26, 0x01, 0xaa, 0x9f, 0x26, 0x01, 0xbb}, "tag 9F26 twice"},
		{"constructed", []byte{0x70, 0x03, 0x9c, 0x01, 0x00}, "constructed tag 70"},
		{"truncated", []byte{0x9f, 0x26, 0x08, 0x01}, "not valid BER-TLV"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := netmsg.DecodeChip(c.icc)
			if got != nil || !fault.Has(err, fault.Invalid, netmsg.ChipCode) || !strings.Contains(err.Error(), c.why) {
				t.Errorf("got %x, %v; want a %s error saying %q", got, err, netmsg.ChipCode, c.why)
			}
			if strings.Contains(err.Error(), "AA") || strings.Contains(err.Error(), "aa") {
				t.Errorf("the error names a value: %v", err)
			}
		})
	}
}

// TestChipAtIssuer: an issuer gets DE55 checked as the network does — the
// same ChipErr for a tag twice, a constructed tag, BER-TLV that does not
// decode, none for good chip data — but not mapped (Chip nil).
func TestChipAtIssuer(t *testing.T) {
	good, _ := golden(t).Value(iso8583.DEICC)
	for _, icc := range [][]byte{
		good,
		{0x95, 0x01, 0x80, 0x9c, 0x01, 0x00, 0x95, 0x01, 0x81},
		{0x70, 0x03, 0x9c, 0x01, 0x00},
		{0x9f, 0x26, 0x08, 0x01},
	} {
		m := golden(t)
		if err := m.SetBytes(iso8583.DEICC, icc); err != nil {
			t.Fatal(err)
		}
		atNetwork, _ := netmsg.Decode(m, netmsg.Network)
		atIssuer, err := netmsg.Decode(m, netmsg.Issuer)
		if err != nil {
			t.Fatal(err)
		}
		n, i := atNetwork.(*netmsg.Authorization), atIssuer.(*netmsg.Authorization)
		if i.Chip != nil || fmt.Sprint(i.ChipErr) != fmt.Sprint(n.ChipErr) || fault.CodeOf(i.ChipErr) != fault.CodeOf(n.ChipErr) {
			t.Errorf("DE55 % x at the issuer: chip %x, err %v; want none, err %v as at the network", icc, i.Chip, i.ChipErr, n.ChipErr)
		}
		if (n.ChipErr == nil) != bytes.Equal(icc, good) || (n.ChipErr == nil && len(n.Chip) == 0) {
			t.Errorf("DE55 % x at the network: chip %d tags, err %v", icc, len(n.Chip), n.ChipErr)
		}
	}
}

// TestMuxReusesChipMaps: the Chip a handler gets holds its own request's
// tags and nothing of an earlier request's (the map goes back to be reused
// once the handler returned: the handler's Authorization has none after),
// whatever the DE55s before — more tags, other tags, more than a map keeps.
func TestMuxReusesChipMaps(t *testing.T) {
	var many []byte // 40 tags: a map grown past the room kept
	for i := range 40 {
		many = append(many, 0xdf, byte(0x01+i), 0x01, byte(i))
	}
	dcs := [][]byte{
		{0x9f, 0x26, 0x02, 0xaa, 0xbb, 0x9f, 0x36, 0x02, 0x00, 0x01, 0x95, 0x01, 0x80},
		{0x9c, 0x01, 0x00},
		many,
		{0x9f, 0x36, 0x02, 0x00, 0x02},
		{0x9f, 0x26, 0x02, 0xcc, 0xdd, 0x9c, 0x01, 0x20},
	}
	var last *netmsg.Authorization
	var want map[string]string
	mux := &netmsg.Mux{Side: netmsg.Network, Authorization: func(_ context.Context, a *netmsg.Authorization) *iso8583.Message {
		got := map[string]string{}
		for tag, v := range a.Chip {
			got[fmt.Sprintf("%X", uint32(tag))] = fmt.Sprintf("%X", v)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("the handler's chip %v, want %v", got, want)
		}
		last = a
		return netmsg.Answer(a.Raw, iso8583.Approved)
	}}
	for round := range 3 {
		for _, icc := range dcs {
			m := golden(t)
			if err := m.SetBytes(iso8583.DEICC, icc); err != nil {
				t.Fatal(err)
			}
			tags, err := netmsg.DecodeChip(icc)
			if err != nil {
				t.Fatal(err)
			}
			want = map[string]string{}
			for tag, v := range tags {
				want[fmt.Sprintf("%X", uint32(tag))] = fmt.Sprintf("%X", v)
			}
			if resp := mux.Handle(context.Background(), m); resp == nil {
				t.Fatalf("round %d: no answer", round)
			}
			if last == nil || last.Chip != nil {
				t.Fatalf("round %d: after the handler the Authorization still has its chip map", round)
			}
		}
	}
}

// TestMuxAuthorizationsFresh: each handler gets an Authorization read from
// its own request alone — equal to Decode's of the same message — whatever
// the requests before (the Authorization goes back to be reused once the
// handler returned): a chip that did not decode, token data at an issuer
// and none after, another amount.
func TestMuxAuthorizationsFresh(t *testing.T) {
	badChip := golden(t)
	if err := badChip.SetBytes(iso8583.DEICC, []byte{0x9f, 0x26, 0x09, 1}); err != nil {
		t.Fatal(err)
	}
	withToken := golden(t)
	if err := withToken.SetTokenData(iso8583.TokenData{Token: luhnValid, PAR: "PAR0001", RequestorID: "50110030273", Assurance: "20"}); err != nil {
		t.Fatal(err)
	}
	otherAmount := golden(t)
	if err := otherAmount.SetAmount(money.Fen(777)); err != nil {
		t.Fatal(err)
	}
	for _, side := range []netmsg.Side{netmsg.Network, netmsg.Issuer} {
		var want *netmsg.Authorization
		mux := &netmsg.Mux{Side: side, Authorization: func(_ context.Context, a *netmsg.Authorization) *iso8583.Message {
			if !reflect.DeepEqual(*a, *want) {
				t.Errorf("side %d: the handler got %+v, want %+v", side, *a, *want)
			}
			return netmsg.Answer(a.Raw, iso8583.Approved)
		}}
		for round := range 2 {
			for _, m := range []*iso8583.Message{withToken, badChip, golden(t), otherAmount, withToken, golden(t)} {
				v, err := netmsg.Decode(m, side)
				if err != nil {
					t.Fatal(err)
				}
				want = v.(*netmsg.Authorization)
				if mux.Handle(context.Background(), m) == nil {
					t.Fatalf("side %d, round %d: no answer", side, round)
				}
			}
		}
	}
}
