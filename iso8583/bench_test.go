package iso8583

import (
	"bytes"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/money"
)

// benchAuth is an 0100 as the acquirer sends it: 17 elements and 60 bytes
// of chip data.
func benchAuth(tb testing.TB) *Message {
	m := New(AuthorizationRequest)
	now := time.Date(2026, 12, 6, 10, 11, 12, 0, time.UTC)
	for _, err := range []error{
		m.SetString(DEPAN, "6288990000001234"), m.SetString(DEProcessingCode, "000000"),
		m.SetAmount(money.New(1234, 156)), m.SetSTAN(4321), m.SetString(DEMCC, "5411"),
		m.SetString(DEPOSEntryMode, "072"), m.SetString(DEPOSCondition, "00"), m.SetString(DEAcquirer, "12345678"),
		m.SetString(DERRN, "000000004321"), m.SetString(DETerminal, "T0000001"), m.SetString(DEMerchant, "M00000000000001"),
		m.SetString(DEMerchantName, "SHOP                     SHANGHAI     CN"),
		m.SetBytes(DEICC, bytes.Repeat([]byte{0x9f}, 60)),
	} {
		if err != nil {
			tb.Fatal(err)
		}
	}
	m.SetTransmissionTime(now)
	m.SetLocalTime(now)
	return m
}

// sink keeps the messages a benchmark makes, so that they are made on the
// heap as the links' messages are (a copy the compiler sees die is put on
// the stack).
var sink *Message

// BenchmarkCodec: an 0100 built, packed and unpacked; its answer (the
// elements echoed, DE38 and DE55 set) built and packed — what a link's two
// ends do per authorization.
func BenchmarkCodec(b *testing.B) {
	packed, err := benchAuth(b).Pack()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("build", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = benchAuth(b)
		}
	})
	b.Run("pack", func(b *testing.B) {
		m := benchAuth(b)
		b.ReportAllocs()
		buf := make([]byte, 0, 512)
		for b.Loop() {
			if buf, err = m.AppendPack(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unpack", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Unpack(packed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("answer", func(b *testing.B) {
		req, _ := Unpack(packed)
		b.ReportAllocs()
		for b.Loop() {
			resp, err := NewResponse(req, Approved)
			if err != nil {
				b.Fatal(err)
			}
			_ = resp.SetString(DEAuthID, "123456")
			_ = resp.SetBytes(DEICC, []byte{0x91, 0x0a, 1, 2, 3, 4, 5, 6, 7, 8, 0x30, 0x30})
			if _, err := resp.Pack(); err != nil {
				b.Fatal(err)
			}
			sink = resp
		}
	})
}

// BenchmarkTokenData: DE123 read at an issuer.
func BenchmarkTokenData(b *testing.B) {
	m := New(AuthorizationRequest)
	if err := m.SetTokenData(TokenData{Token: "6288990000001234", PAR: "PAR0001", RequestorID: "40010030273", Assurance: "01", RiskScore: "07"}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.TokenData(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkForward: an 0100 copied and given the elements the switch adds
// before forwarding it to the issuer (DE2 the card number, DE123).
func BenchmarkForward(b *testing.B) {
	req := benchAuth(b)
	td := TokenData{Token: "6288990000001234", PAR: "PAR0001", RequestorID: "40010030273", Assurance: "01", RiskScore: "07"}
	b.ReportAllocs()
	for b.Loop() {
		fwd := req.Clone()
		_ = fwd.SetString(DEPAN, "6212340000005678")
		if err := fwd.SetTokenData(td); err != nil {
			b.Fatal(err)
		}
		sink = fwd
	}
}
