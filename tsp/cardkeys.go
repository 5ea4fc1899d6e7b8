package tsp

import (
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/emv"
)

// EMVKeys names the algorithm of the token service's card keys (TDES, or
// SM4 for SM4 cards). The keys are derived the UnionPay way, inside the key
// store (keystore.Store.VerifyARQC and KeyBatch): the token's card master
// key by EMV option A from the token range's issuer master key (with the
// token number and PSN), then one PBOC 3.0 session key per key index, the
// index standing in the ATC position. The phone only ever holds the
// session keys.
type EMVKeys struct{ Alg emv.Alg }

// LUK computes a limited-use key from an issuer master key in clear, as
// the key store does inside: for test harnesses that play the phone's
// side with a known key (applettest); the token service never calls it.
func (k EMVKeys) LUK(imk []byte, token card.Token, psn string, index int) ([]byte, error) {
	mk, err := emv.MasterKey(k.Alg, emv.OptionA, imk, token.Digits(), psn)
	if err != nil {
		return nil, err
	}
	defer clear(mk)
	return emv.SessionKeyPBOC(k.Alg, mk, []byte{byte(index >> 8), byte(index)})
}
