package epurse

import (
	"crypto/cipher"
	"crypto/des"
	"crypto/subtle"
	"encoding/binary"
	"fmt"

	"github.com/emmansun/gmsm/sm4"

	"github.com/tapwallet/tapwallet/emv"
)

// The cryptography of the PBOC electronic purse, shared by the card (this
// package's Purse), the gate's secure access module (package sam) and the
// operator's host (package transit). Layouts are in docs/transit.md.
//
// With TDES the card keys are 16-byte double-length keys, the session keys
// single-DES keys (8 bytes) and every MAC a DES CBC-MAC (zero ICV, ISO/IEC
// 9797-1 padding method 2: '80' then '00's) cut to its leftmost 4 bytes; the
// TAC key is the XOR of the TAC key's two halves. With SM4 every key is 16
// bytes, the 8-byte session-key input is padded to a block by method 2, and
// the MACs are SM4 CBC-MACs cut to 4 bytes; the TAC is taken with the whole
// TAC key.

// Transaction types (the "交易类型标识" of the PBOC purse).
const (
	TypeLoad     byte = 0x02 // load (圈存) of an electronic purse
	TypePurchase byte = 0x06 // purchase
	TypeCAPP     byte = 0x09 // compound (CAPP) purchase: record update and debit in one
)

// Algorithm identifiers in INITIALIZE answers.
const (
	AlgIDTDES byte = 0x00
	AlgIDSM4  byte = 0x04
)

// AlgID returns the algorithm identifier of a (0xFF for an unknown one).
func AlgID(a emv.Alg) byte {
	switch a {
	case emv.TDES:
		return AlgIDTDES
	case emv.SM4:
		return AlgIDSM4
	}
	return 0xFF
}

// AlgOf returns the algorithm of an identifier (0 for an unknown one).
func AlgOf(id byte) emv.Alg {
	switch id {
	case AlgIDTDES:
		return emv.TDES
	case AlgIDSM4:
		return emv.SM4
	}
	return 0
}

func block(a emv.Alg, key []byte) (cipher.Block, error) {
	switch {
	case a == emv.SM4 && len(key) == 16:
		return sm4.NewCipher(key)
	case a == emv.TDES && len(key) == 16:
		k := make([]byte, 24)
		copy(k, key)
		copy(k[16:], key[:8])
		return des.NewTripleDESCipher(k)
	case a == emv.TDES && len(key) == 8:
		return des.NewCipher(key)
	}
	return nil, fmt.Errorf("%w: %v key of %d bytes", emv.ErrKeyLength, a, len(key))
}

// Diversify derives a card's 16-byte key from an operator master key and
// the card's 8-byte application serial number N (PBOC key dispersion):
// TDES: E(MK)[N] || E(MK)[not N]; SM4: SM4(MK)[N || not N]. It fails for an
// unknown algorithm or a master key that is not 16 bytes.
func Diversify(a emv.Alg, master []byte, cardNo [8]byte) ([]byte, error) {
	b, err := block(a, master)
	if err != nil {
		return nil, err
	}
	in := make([]byte, 16)
	copy(in, cardNo[:])
	for i := 0; i < 8; i++ {
		in[8+i] = ^cardNo[i]
	}
	out := make([]byte, 16)
	for i := 0; i < 16; i += b.BlockSize() {
		b.Encrypt(out[i:i+b.BlockSize()], in[i:i+b.BlockSize()])
	}
	return out, nil
}

// sessionKey encrypts the 8-byte input under a 16-byte card key: the
// result is an 8-byte DES key (TDES) or a 16-byte SM4 key.
func sessionKey(a emv.Alg, key []byte, in []byte) ([]byte, error) {
	b, err := block(a, key)
	if err != nil {
		return nil, err
	}
	if a == emv.SM4 {
		padded := make([]byte, 16)
		copy(padded, in)
		padded[8] = 0x80
		b.Encrypt(padded, padded)
		return padded, nil
	}
	out := make([]byte, 8)
	b.Encrypt(out, in)
	return out, nil
}

// PurchaseSessionKey returns SESPK from the card's purchase key DPK: the
// encryption of random(4) || offline counter(2) || the terminal's
// transaction sequence number's last 2 bytes. It fails for a key that is
// not 16 bytes or an unknown algorithm.
func PurchaseSessionKey(a emv.Alg, dpk []byte, random [4]byte, offlineATC uint16, termSeq uint32) ([]byte, error) {
	in := make([]byte, 8)
	copy(in, random[:])
	binary.BigEndian.PutUint16(in[4:], offlineATC)
	binary.BigEndian.PutUint16(in[6:], uint16(termSeq))
	return sessionKey(a, dpk, in)
}

// LoadSessionKey returns SESLK from the card's load key DLK: the
// encryption of random(4) || online counter(2) || '8000'. It fails as
// PurchaseSessionKey does.
func LoadSessionKey(a emv.Alg, dlk []byte, random [4]byte, onlineATC uint16) ([]byte, error) {
	in := make([]byte, 8)
	copy(in, random[:])
	binary.BigEndian.PutUint16(in[4:], onlineATC)
	in[6] = 0x80
	return sessionKey(a, dlk, in)
}

// mac returns the leftmost 4 bytes of the CBC-MAC of data (padding
// method 2, zero ICV) under an 8-byte DES or 16-byte TDES/SM4 key.
func mac(a emv.Alg, key, data []byte) ([4]byte, error) {
	var out [4]byte
	b, err := block(a, key)
	if err != nil {
		return out, err
	}
	bs := b.BlockSize()
	n := len(data) + 1
	if n%bs != 0 {
		n += bs - n%bs
	}
	p := make([]byte, n)
	copy(p, data)
	p[len(data)] = 0x80
	h := make([]byte, bs)
	for i := 0; i < n; i += bs {
		subtle.XORBytes(h, h, p[i:i+bs])
		b.Encrypt(h, h)
	}
	copy(out[:], h)
	return out, nil
}

// SessionMAC returns a MAC (MAC1, MAC2) under a session key. It fails for
// a key of the wrong size for the algorithm.
func SessionMAC(a emv.Alg, sk, data []byte) ([4]byte, error) { return mac(a, sk, data) }

// TAC returns the transaction authorisation code of data under the card's
// TAC key DTK (TDES: a DES MAC under DTK's left half XOR its right half;
// SM4: an SM4 MAC under DTK). It fails for a key that is not 16 bytes.
func TAC(a emv.Alg, dtk, data []byte) ([4]byte, error) {
	if a == emv.TDES && len(dtk) == 16 {
		k := make([]byte, 8)
		subtle.XORBytes(k, dtk[:8], dtk[8:])
		return mac(a, k, data)
	}
	return mac(a, dtk, data)
}

// MaintenanceMAC returns the MAC of an APPLICATION BLOCK command: over the
// card's 4-byte challenge (GET CHALLENGE) and the command header and Lc
// (84 1E 00 P2 04), under the card's maintenance key DAMK (16 bytes, TDES
// or SM4 CBC-MAC as above). It fails for a key that is not 16 bytes.
func MaintenanceMAC(a emv.Alg, damk []byte, challenge [4]byte, p2 byte) ([4]byte, error) {
	data := []byte{challenge[0], challenge[1], challenge[2], challenge[3], 0x84, 0x1E, 0x00, p2, 0x04}
	return mac(a, damk, data)
}

// Equal4 compares two 4-byte codes in constant time.
func Equal4(a, b [4]byte) bool { return subtle.ConstantTimeCompare(a[:], b[:]) == 1 }

// PurchaseMAC1Data is what MAC1 of a purchase covers: amount(4) ||
// type(1) || terminal number(6) || date(4) || time(3).
func PurchaseMAC1Data(amount uint32, txType byte, terminal [6]byte, dt [7]byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, amount)
	b = append(b, txType)
	b = append(b, terminal[:]...)
	return append(b, dt[:]...)
}

// PurchaseTACData is what the TAC of a purchase covers: amount(4) ||
// type(1) || terminal number(6) || terminal sequence(4) || date(4) ||
// time(3), and — tapwallet's extension, so that clearing can trust them —
// the card's offline counter(2) and its balance after the debit (4,
// signed).
func PurchaseTACData(amount uint32, txType byte, terminal [6]byte, termSeq uint32, dt [7]byte, offlineATC uint16, balanceAfter int32) []byte {
	b := binary.BigEndian.AppendUint32(nil, amount)
	b = append(b, txType)
	b = append(b, terminal[:]...)
	b = binary.BigEndian.AppendUint32(b, termSeq)
	b = append(b, dt[:]...)
	b = binary.BigEndian.AppendUint16(b, offlineATC)
	return binary.BigEndian.AppendUint32(b, uint32(balanceAfter))
}

// LoadMAC1Data is what MAC1 of a load covers: balance before(4) ||
// amount(4) || type(1) || terminal number(6).
func LoadMAC1Data(balance int32, amount uint32, terminal [6]byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(balance))
	b = binary.BigEndian.AppendUint32(b, amount)
	b = append(b, TypeLoad)
	return append(b, terminal[:]...)
}

// LoadMAC2Data is what MAC2 of a load covers: amount(4) || type(1) ||
// terminal number(6) || date(4) || time(3).
func LoadMAC2Data(amount uint32, terminal [6]byte, dt [7]byte) []byte {
	return PurchaseMAC1Data(amount, TypeLoad, terminal, dt)
}

// LoadTACData is what the TAC of a load covers: balance after(4) ||
// online counter before the load(2) || amount(4) || type(1) || terminal
// number(6) || date(4) || time(3).
func LoadTACData(balanceAfter int32, onlineATC uint16, amount uint32, terminal [6]byte, dt [7]byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(balanceAfter))
	b = binary.BigEndian.AppendUint16(b, onlineATC)
	b = binary.BigEndian.AppendUint32(b, amount)
	b = append(b, TypeLoad)
	b = append(b, terminal[:]...)
	return append(b, dt[:]...)
}

// CloseData is what the MAC of CLOSE PURSE covers (under the TAC key):
// the host's challenge(8) || card number(8) || balance(4) || online
// counter(2) || offline counter(2).
func CloseData(challenge [8]byte, cardNo [8]byte, balance int32, onlineATC, offlineATC uint16) []byte {
	b := append(challenge[:0:0], challenge[:]...)
	b = append(b, cardNo[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(balance))
	b = binary.BigEndian.AppendUint16(b, onlineATC)
	return binary.BigEndian.AppendUint16(b, offlineATC)
}
