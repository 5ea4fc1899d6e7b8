package epurse

import (
	"bytes"
	"time"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/keystore"
)

// MasterKeys are an operator's master keys for its city's cards; every
// card key is diversified from them with the card number ([Diversify]).
// The gate's SAM holds Purchase and Maintenance; the operator's host holds
// all four. Each is a keystore.Secret: no printed or JSON form of the
// struct shows a key.
type MasterKeys struct {
	Purchase    keystore.Secret // MPK: purchase (MAC1, MAC2)
	Load        keystore.Secret // MLK: load (MAC1, MAC2 of a load)
	TAC         keystore.Secret // MTK: transaction authorisation codes
	Maintenance keystore.Secret // MAMK: application block
}

// KeyNames are the key-store names of a city's master keys, in the order
// Purchase, Load, TAC, Maintenance.
func KeyNames(city string) [4]string {
	p := "transit-" + city + "-"
	return [4]string{p + "purchase", p + "load", p + "tac", p + "maintenance"}
}

// CardKeys are one card's diversified keys, as keystore.Secrets (printed
// redacted); the crypto functions take their bytes (Reveal) for one use.
type CardKeys struct {
	DPK, DLK, DTK, DAMK keystore.Secret
}

// Card returns the keys of one card. It fails if a master key is not 16
// bytes or the algorithm is unknown.
func (m MasterKeys) Card(a emv.Alg, n CardNumber) (CardKeys, error) {
	var k CardKeys
	for _, d := range []struct {
		master keystore.Secret
		card   *keystore.Secret
		what   string
	}{{m.Purchase, &k.DPK, "purchase"}, {m.Load, &k.DLK, "load"}, {m.TAC, &k.DTK, "TAC"}, {m.Maintenance, &k.DAMK, "maintenance"}} {
		b, err := Diversify(a, d.master.Reveal(), n)
		if err != nil {
			return CardKeys{}, fault.Wrap(err, fault.Internal, "transit_keys", "diversify the %s key", d.what)
		}
		*d.card = keystore.NewSecret(b)
		clear(b)
	}
	return k, nil
}

// Alg returns a city's card algorithm.
func Alg(c *fare.City) emv.Alg {
	if c.AlgName == "sm4" {
		return emv.SM4
	}
	return emv.TDES
}

// NewPersonalisation returns the personalisation of a new card of a city:
// its keys diversified from the master keys, the product's cap and
// overdraft, zero balance and counters, public information issued now and
// valid for 10 years. It fails if the keys cannot be diversified.
func NewPersonalisation(c *fare.City, m MasterKeys, n CardNumber, now time.Time) (Personalisation, error) {
	k, err := m.Card(Alg(c), n)
	if err != nil {
		return Personalisation{}, err
	}
	pub := Public{AreaCode: c.AreaCode, CardType: 0x01, Version: 0x01, Number: n, IssuedOn: now,
		ExpiresOn: now.AddDate(10, 0, 0), DepositFen: c.Product.Deposit}
	return Personalisation{City: c.ID, AID: c.AID(), Alg: Alg(c).String(), Number: n.String(), KeyVersion: 0x01,
		DPK: bytes.Clone(k.DPK.Reveal()), DLK: bytes.Clone(k.DLK.Reveal()), DTK: bytes.Clone(k.DTK.Reveal()), DAMK: bytes.Clone(k.DAMK.Reveal()), Cap: c.Product.BalanceCap, Overdraft: c.Product.Overdraft,
		Public: pub.Marshal()}, nil
}
