package sam_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/apdu"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/epurse/epursetest"
	"github.com/tapwallet/tapwallet/keystore"
	"github.com/tapwallet/tapwallet/sam"
)

// TestPurchaseWithCard runs a purchase between a test purse and a SAM
// built from the same city's master keys, on TDES and SM4.
func TestPurchaseWithCard(t *testing.T) {
	tests := []struct {
		city string
		alg  emv.Alg
	}{{"beijing", emv.TDES}, {"wuhan", emv.SM4}}
	for _, tt := range tests {
		t.Run(tt.city, func(t *testing.T) {
			p, _ := epursetest.Purse(t, tt.city, 11, 1000)
			info, _ := p.Info()
			term := epurse.TerminalNumber(1, 112, 1)
			s, err := sam.New(tt.alg, epursetest.MasterKeys(tt.city), term, nil)
			if err != nil {
				t.Fatal(err)
			}
			d := []byte{1, 0, 0, 1, 0x90}
			d = append(d, term[:]...)
			r := p.Process(apdu.Command{CLA: 0x80, INS: 0x50, P1: 3, P2: 2, Data: d, Ne: 15})
			if r.SW != apdu.SWSuccess {
				t.Fatalf("INITIALIZE: got %v", r.SW)
			}
			var rnd [4]byte
			copy(rnd[:], r.Data[11:15])
			at := time.Date(2016, 4, 6, 9, 0, 0, 0, epurse.China)
			pur, mac1, err := s.Open(info.Number, epurse.TypeCAPP, 400, binary.BigEndian.Uint16(r.Data[4:]), rnd, at)
			if err != nil {
				t.Fatal(err)
			}
			if pur.Seq != 1 {
				t.Errorf("first sequence number: got %d, want 1", pur.Seq)
			}
			dd := binary.BigEndian.AppendUint32(nil, pur.Seq)
			dd = append(dd, pur.DateTime[:]...)
			dd = append(dd, mac1[:]...)
			r = p.Process(apdu.Command{CLA: 0x80, INS: 0x54, P1: 1, Data: dd, Ne: 8})
			if r.SW != apdu.SWSuccess {
				t.Fatalf("DEBIT: got %v, want 9000", r.SW)
			}
			var mac2 [4]byte
			copy(mac2[:], r.Data[4:])
			if ok, err := s.CheckMAC2(pur, mac2); err != nil || !ok {
				t.Errorf("CheckMAC2: got %v, %v; want true", ok, err)
			}
			mac2[1] ^= 0x10
			if ok, _ := s.CheckMAC2(pur, mac2); ok {
				t.Errorf("CheckMAC2 of a wrong MAC2: got true, want false")
			}
			// A SAM of another city cannot make a MAC1 this card accepts.
			other, _ := sam.New(tt.alg, epursetest.MasterKeys("chongqing"), term, nil)
			r = p.Process(apdu.Command{CLA: 0x80, INS: 0x50, P1: 3, P2: 2, Data: d, Ne: 15})
			copy(rnd[:], r.Data[11:15])
			pur, mac1, _ = other.Open(info.Number, epurse.TypeCAPP, 400, binary.BigEndian.Uint16(r.Data[4:]), rnd, at)
			dd = binary.BigEndian.AppendUint32(nil, pur.Seq)
			dd = append(dd, pur.DateTime[:]...)
			dd = append(dd, mac1[:]...)
			if r = p.Process(apdu.Command{CLA: 0x80, INS: 0x54, P1: 1, Data: dd, Ne: 8}); r.SW != apdu.SWPurseMACInvalid {
				t.Errorf("DEBIT with another city's SAM: got %v, want 9302", r.SW)
			}
		})
	}
}

func TestBlock(t *testing.T) {
	p, _ := epursetest.Purse(t, "shenzhen", 12, 1000)
	info, _ := p.Info()
	s, _ := sam.New(emv.SM4, epursetest.MasterKeys("shenzhen"), epurse.TerminalNumber(1, 101, 1), nil)
	r := p.Process(apdu.Command{INS: apdu.InsGetChallenge, Ne: 4})
	var ch [4]byte
	copy(ch[:], r.Data)
	m, err := s.BlockMAC(info.Number, ch, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Process(apdu.Command{CLA: 0x84, INS: apdu.InsApplicationBlock, Data: m[:]}); r.SW != apdu.SWSuccess {
		t.Errorf("APPLICATION BLOCK: got %v, want 9000", r.SW)
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := sam.New(emv.TDES, epurse.MasterKeys{Purchase: keystore.NewSecret(make([]byte, 8)), Maintenance: keystore.NewSecret(make([]byte, 16))}, [6]byte{}, nil); err == nil {
		t.Errorf("an 8-byte key: got nil error, want bad_sam_key")
	}
}
