// Package sam is the gate's secure access module (the PSAM of a Chinese
// transit gate), in software: it holds its city operator's purchase and
// maintenance master keys, has its own terminal number and transaction
// sequence counter, and works offline. For each purchase it diversifies
// the card's purchase key from the card number, derives the session key
// from the card's random and counter, computes MAC1 and checks the card's
// MAC2; it also signs APPLICATION BLOCK for cards on the hot list. Keys go
// in; MACs come out.
package sam

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/keystore"
)

// Counter keeps the SAM's transaction sequence number durably: Next
// returns the next number, never one that reached a card before (even
// across restarts). A number handed out but never sent to a card may be
// handed out again after a power cut (the gate's journal reserves its
// numbers without a sync of their own: the sync of the tap's pending entry,
// before any number reaches a card, covers the reservation).
type Counter interface {
	Next() (uint32, error)
}

// MemoryCounter is a Counter in memory (tests and benchmarks).
type MemoryCounter struct {
	mu sync.Mutex
	n  uint32
}

// Next returns 1, 2, 3, …
func (c *MemoryCounter) Next() (uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n, nil
}

// SAM is a secure access module for one city's cards.
type SAM struct {
	alg         emv.Alg
	purchase    keystore.Secret // redacted in every printed form
	maintenance keystore.Secret
	terminal    [6]byte
	counter     Counter
}

// New returns a SAM holding a city's purchase and maintenance master keys
// (the other master keys are never given to a gate), with its terminal
// number and counter. It fails with fault.Invalid "bad_sam_key" for keys
// that are not 16 bytes or an unknown algorithm.
func New(alg emv.Alg, keys epurse.MasterKeys, terminal [6]byte, counter Counter) (*SAM, error) {
	if (alg != emv.TDES && alg != emv.SM4) || keys.Purchase.Len() != 16 || keys.Maintenance.Len() != 16 {
		return nil, fault.E(fault.Invalid, "bad_sam_key", "a SAM needs 16-byte purchase and maintenance keys and TDES or SM4")
	}
	if counter == nil {
		counter = &MemoryCounter{}
	}
	return &SAM{alg: alg, purchase: keystore.NewSecret(keys.Purchase.Reveal()), maintenance: keystore.NewSecret(keys.Maintenance.Reveal()),
		terminal: terminal, counter: counter}, nil
}

// Terminal returns the SAM's terminal number.
func (s *SAM) Terminal() [6]byte { return s.terminal }

// Alg returns the SAM's algorithm.
func (s *SAM) Alg() emv.Alg { return s.alg }

// Purchase is a purchase the SAM has opened: what the card said at
// INITIALIZE and what the SAM chose. Keeping it (the gate's pending record
// does) is enough to check the card's MAC2 again later.
type Purchase struct {
	Card     epurse.CardNumber
	Type     byte // epurse.TypePurchase or TypeCAPP
	Amount   uint32
	ATC      uint16  // the card's offline counter
	Random   [4]byte // the card's random
	Seq      uint32  // the SAM's transaction sequence number
	DateTime [7]byte // BCD, China time
}

// Open starts a purchase: it takes the next sequence number and returns
// the purchase with MAC1 for DEBIT FOR (CAPP) PURCHASE. It fails with the
// counter's error, or fault.Internal if the keys cannot be used.
func (s *SAM) Open(card epurse.CardNumber, typ byte, amount uint32, atc uint16, random [4]byte, at time.Time) (Purchase, [4]byte, error) {
	seq, err := s.counter.Next()
	if err != nil {
		return Purchase{}, [4]byte{}, err
	}
	p := Purchase{Card: card, Type: typ, Amount: amount, ATC: atc, Random: random, Seq: seq, DateTime: epurse.DateTime(at)}
	sk, err := s.sessionKey(p)
	if err != nil {
		return Purchase{}, [4]byte{}, err
	}
	mac1, err := epurse.SessionMAC(s.alg, sk, epurse.PurchaseMAC1Data(amount, typ, s.terminal, p.DateTime))
	if err != nil {
		return Purchase{}, [4]byte{}, fault.Wrap(err, fault.Internal, "sam_crypto", "compute MAC1")
	}
	return p, mac1, nil
}

func (s *SAM) sessionKey(p Purchase) ([]byte, error) {
	dpk, err := epurse.Diversify(s.alg, s.purchase.Reveal(), p.Card)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "sam_crypto", "diversify the purchase key")
	}
	sk, err := epurse.PurchaseSessionKey(s.alg, dpk, p.Random, p.ATC, p.Seq)
	clear(dpk)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "sam_crypto", "derive the session key")
	}
	return sk, nil
}

// CheckMAC2 reports whether the card's MAC2 proves it debited the
// purchase's amount. It fails with fault.Internal if the keys cannot be
// used.
func (s *SAM) CheckMAC2(p Purchase, mac2 [4]byte) (bool, error) {
	sk, err := s.sessionKey(p)
	if err != nil {
		return false, err
	}
	want, err := epurse.SessionMAC(s.alg, sk, binary.BigEndian.AppendUint32(nil, p.Amount))
	if err != nil {
		return false, fault.Wrap(err, fault.Internal, "sam_crypto", "compute MAC2")
	}
	return epurse.Equal4(want, mac2), nil
}

// BlockMAC returns the MAC of APPLICATION BLOCK (84 1E 00 p2) for a card
// that answered GET CHALLENGE with challenge. It fails with
// fault.Internal if the keys cannot be used.
func (s *SAM) BlockMAC(card epurse.CardNumber, challenge [4]byte, p2 byte) ([4]byte, error) {
	damk, err := epurse.Diversify(s.alg, s.maintenance.Reveal(), card)
	if err != nil {
		return [4]byte{}, fault.Wrap(err, fault.Internal, "sam_crypto", "diversify the maintenance key")
	}
	defer clear(damk)
	m, err := epurse.MaintenanceMAC(s.alg, damk, challenge, p2)
	if err != nil {
		return [4]byte{}, fault.Wrap(err, fault.Internal, "sam_crypto", "compute the block MAC")
	}
	return m, nil
}
