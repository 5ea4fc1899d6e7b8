package epurse

import (
	"bytes"
	"encoding/json"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
)

// InsReadBinary is READ BINARY (00 B0), which package apdu does not name.
const InsReadBinary byte = 0xB0

// Personalisation is what the operator writes into a new purse (a new
// card, or a card moved from another phone): identity, keys diversified
// for this card, limits, and — for a moved card — its balance, counters,
// log and trip record. The operator seals it to the phone's device key;
// only the secure element opens it (se.Element.PersonaliseApplet).
type Personalisation struct {
	City       string   `json:"city"`
	AID        []byte   `json:"aid"`
	Alg        string   `json:"alg"`
	Number     string   `json:"number"`
	KeyVersion byte     `json:"key_version"`
	DPK        []byte   `json:"dpk"`  // purchase key
	DLK        []byte   `json:"dlk"`  // load key
	DTK        []byte   `json:"dtk"`  // TAC key
	DAMK       []byte   `json:"damk"` // application maintenance key
	Balance    int64    `json:"balance"`
	Cap        int64    `json:"cap"`
	Overdraft  int64    `json:"overdraft"`
	OnlineATC  uint16   `json:"online_atc"`
	OfflineATC uint16   `json:"offline_atc"`
	Public     []byte   `json:"public"`
	Log        [][]byte `json:"log,omitempty"`
	Trip       []byte   `json:"trip,omitempty"`
}

// AAD is the associated data that binds sealed personalisation to a card.
func AAD(city, number string) []byte { return []byte("tapwallet transit perso " + city + " " + number) }

// Build checks personalisation and returns the purse's initial state (the
// applet data). It fails with fault.Invalid "bad_perso".
func Build(p Personalisation) ([]byte, error) {
	bad := func(what string) error {
		return fault.E(fault.Invalid, "bad_perso", "the transit card personalisation has %s", what)
	}
	if _, err := emv.ParseAlg(p.Alg); err != nil {
		return nil, bad("an unknown algorithm")
	}
	if p.City == "" || len(p.AID) < 5 || len(p.AID) > 16 {
		return nil, bad("no city or a bad AID")
	}
	n, err := ParseCardNumber(p.Number)
	if err != nil {
		return nil, bad("a bad card number")
	}
	for _, k := range [][]byte{p.DPK, p.DLK, p.DTK, p.DAMK} {
		if len(k) != 16 {
			return nil, bad("a key that is not 16 bytes")
		}
	}
	if p.Cap <= 0 || p.Overdraft < 0 || p.Balance > p.Cap || p.Balance < -p.Overdraft {
		return nil, bad("a balance outside its limits")
	}
	pub, err := ParsePublic(p.Public)
	if err != nil || pub.Number != n {
		return nil, bad("public information that does not match the card")
	}
	trip := p.Trip
	if trip == nil {
		trip = make([]byte, TripSize)
	}
	if _, err := ParseTrip(trip); err != nil {
		return nil, bad("a bad trip record")
	}
	for _, r := range p.Log {
		if len(r) != LogRecordSize {
			return nil, bad("a bad log record")
		}
	}
	if len(p.Log) > LogRecords {
		p.Log = p.Log[:LogRecords]
	}
	mgmt := make([]byte, ManagementSize)
	mgmt[0] = 0x02 // electronic purse
	od := uint32(p.Overdraft)
	mgmt[1], mgmt[2], mgmt[3] = byte(od>>16), byte(od>>8), byte(od)
	c := uint32(p.Cap)
	mgmt[4], mgmt[5], mgmt[6], mgmt[7] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
	alg, _ := emv.ParseAlg(p.Alg)
	mgmt[8], mgmt[9] = p.KeyVersion, AlgID(alg)
	st := state{City: p.City, AID: bytes.Clone(p.AID), Alg: alg.String(), Number: p.Number, KeyVersion: p.KeyVersion,
		DPK: p.DPK, DLK: p.DLK, DTK: p.DTK, DAMK: p.DAMK, Balance: p.Balance, Cap: p.Cap, Overdraft: p.Overdraft,
		OnlineATC: p.OnlineATC, OfflineATC: p.OfflineATC, Public: bytes.Clone(p.Public), Management: mgmt,
		Log: p.Log, Trip: trip}
	return json.Marshal(st)
}

// BuildJSON is Build over the JSON form of a Personalisation (what the
// secure element opens). It fails with fault.Invalid "bad_perso".
func BuildJSON(plain []byte) ([]byte, error) {
	var p Personalisation
	if err := json.Unmarshal(plain, &p); err != nil {
		return nil, fault.E(fault.Invalid, "bad_perso", "the transit card personalisation is not valid JSON")
	}
	return Build(p)
}

// Install writes a purse straight into a store, for tests, benchmarks and
// the operator's own tools; phones are personalised sealed, through
// se.Element.PersonaliseApplet with BuildJSON. It fails like Build or
// with the store's error.
func Install(store Store, p Personalisation) (*Purse, error) {
	b, err := Build(p)
	if err != nil {
		return nil, err
	}
	if err := store.SetAppletData(AppletName(p.City), b); err != nil {
		return nil, err
	}
	return Open(store, p.City)
}
