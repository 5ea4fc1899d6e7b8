package tsp

import (
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/emv"
)

// EMVKeys derives limited-use keys the UnionPay way: the token's card master
// key by EMV option A from the token range's issuer master key (with the
// token number and PSN), then one PBOC 3.0 session key per key index, the
// index standing in the ATC position. The network derives the same key again
// to check a cryptogram; the phone only ever holds the session keys.
type EMVKeys struct{ Alg emv.Alg }

// LUK returns the limited-use key with the given index (1-65535).
func (k EMVKeys) LUK(imk []byte, token card.Token, psn string, index int) ([]byte, error) {
	mk, err := emv.MasterKey(k.Alg, emv.OptionA, imk, token.Digits(), psn)
	if err != nil {
		return nil, err
	}
	defer clear(mk)
	return emv.SessionKeyPBOC(k.Alg, mk, []byte{byte(index >> 8), byte(index)})
}
