package transit

import (
	"context"
	"encoding/binary"

	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/fault"
)

// InitLoad is the card's answer to INITIALIZE FOR LOAD: balance(4) ||
// online counter(2) || key version(1) || algorithm(1) || random(4) ||
// MAC1(4).
type InitLoad struct {
	Balance    int32
	OnlineATC  uint16
	KeyVersion byte
	AlgID      byte
	Random     [4]byte
	MAC1       [4]byte
}

// ParseInitLoad reads the 16-byte answer. It fails with fault.Invalid
// "bad_init_load".
func ParseInitLoad(b []byte) (InitLoad, error) {
	var in InitLoad
	if len(b) != 16 {
		return in, fault.E(fault.Invalid, "bad_init_load", "the card's INITIALIZE FOR LOAD answer is %d bytes, want 16", len(b))
	}
	in.Balance = int32(binary.BigEndian.Uint32(b))
	in.OnlineATC = binary.BigEndian.Uint16(b[4:])
	in.KeyVersion, in.AlgID = b[6], b[7]
	copy(in.Random[:], b[8:12])
	copy(in.MAC1[:], b[12:16])
	return in, nil
}

// Marshal returns the 16 bytes.
func (in InitLoad) Marshal() []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(in.Balance))
	b = binary.BigEndian.AppendUint16(b, in.OnlineATC)
	b = append(b, in.KeyVersion, in.AlgID)
	b = append(b, in.Random[:]...)
	return append(b, in.MAC1[:]...)
}

func (s *Service) loadOfPhone(tx Tx, ph Phone, id string) (Load, Card, error) {
	l, err := tx.Load(id)
	if err != nil {
		return Load{}, Card{}, fault.E(fault.NotFound, "no_load", "no load %s", id)
	}
	c, err := tx.Card(l.Card)
	if err != nil || c.AccountID != ph.AccountID {
		return Load{}, Card{}, fault.E(fault.NotFound, "no_load", "no load %s", id)
	}
	return l, c, nil
}

// StartLoad takes a top-up's money from a bank card (pay) over the
// network and records the load, paid but not yet on the card; ref makes it
// idempotent (the same ref is the same load). It fails with
// fault.NotFound "no_transit_card", fault.Invalid "bad_amount" or
// "over_cap" (the balance the operator knows plus the load would pass the
// cap), or fault.Declined if the payment is declined.
func (s *Service) StartLoad(ctx context.Context, ph Phone, number string, amount int64, token, ref string) (Load, error) {
	return s.StartLoadWith(ctx, ph, number, amount, Pay{Token: token}, ref)
}

// StartLoadWith is StartLoad with the phone's payment for the card network
// (see Pay); it fails as StartLoad does.
func (s *Service) StartLoadWith(ctx context.Context, ph Phone, number string, amount int64, pay Pay, ref string) (Load, error) {
	if ref == "" || len(ref) > 64 {
		return Load{}, fault.E(fault.Invalid, "bad_ref", "a request reference of 1 to 64 characters is needed")
	}
	id := "ld_" + ref
	var l Load
	var card Card
	var exists bool
	err := s.Store.InTx(ctx, func(tx Tx) error {
		var err error
		if l, card, err = s.loadOfPhone(tx, ph, id); err == nil {
			exists = true
			return nil
		}
		card, err = tx.Card(number)
		if err != nil || card.PhoneID != ph.ID {
			return fault.E(fault.NotFound, "no_transit_card", "no transit card %s on this phone", number)
		}
		return nil
	})
	if err != nil || exists {
		return l, err
	}
	c, err := s.city(card.City)
	if err != nil {
		return Load{}, err
	}
	switch {
	case card.State != CardActive:
		return Load{}, fault.E(fault.Conflict, "card_closed", "the card is closed")
	case amount <= 0 || amount > c.Product.BalanceCap:
		return Load{}, fault.E(fault.Invalid, "bad_amount", "a top-up must be more than 0 and at most the cap")
	case card.Balance+amount > c.Product.BalanceCap:
		return Load{}, fault.E(fault.Invalid, "over_cap", "the card would hold more than %d fen", c.Product.BalanceCap)
	}
	payment := Payment{Ref: "load:" + ref, City: c.ID, Operator: c.Operator, AccountID: ph.AccountID, PhoneID: ph.ID, Token: pay.Token, Amount: amount, Auth: pay.Auth}
	if _, err := s.Payments.Charge(ctx, payment); err != nil {
		return Load{}, err
	}
	err = s.Store.InTx(ctx, func(tx Tx) error {
		if got, err := tx.Load(id); err == nil {
			l = got
			return nil
		}
		now := tx.Now()
		l = Load{ID: id, Card: card.Number, City: c.ID, Amount: amount, State: LoadPaid, PaymentRef: payment.Ref, OnlineATC: -1, CreatedAt: now, UpdatedAt: now}
		if err := tx.PutLoad(l); err != nil {
			return err
		}
		_, err := tx.AddEntry(Entry{ID: "load:" + id, City: c.ID, Card: card.Number, Kind: EntryLoad, Amount: amount, At: now})
		return err
	})
	return l, err
}

// SignLoad checks the card's MAC1 from INITIALIZE FOR LOAD for a paid load
// and returns MAC2 with the date and time it covers, for CREDIT FOR LOAD.
// Signing again (the card lost the session) needs a fresh INITIALIZE; the
// old MAC2 dies with the old session. It fails with fault.Forbidden
// "bad_mac1", fault.Conflict "load_counter" if the card's online counter
// is not the one the operator expects, or "load_state" if the load is
// done or refunded.
func (s *Service) SignLoad(ctx context.Context, ph Phone, id string, in InitLoad) ([4]byte, [7]byte, error) {
	var mac2 [4]byte
	var dt [7]byte
	err := s.Store.InTx(ctx, func(tx Tx) error {
		l, card, err := s.loadOfPhone(tx, ph, id)
		if err != nil {
			return err
		}
		if l.State != LoadPaid && l.State != LoadSigned {
			return fault.E(fault.Conflict, "load_state", "the load is %s", l.State)
		}
		c, err := s.city(card.City)
		if err != nil {
			return err
		}
		keys, alg, err := s.cardKeys(c, card.Number)
		if err != nil {
			return err
		}
		sk, err := epurse.LoadSessionKey(alg, keys.DLK.Reveal(), in.Random, in.OnlineATC)
		if err != nil {
			return fault.Wrap(err, fault.Internal, "transit_crypto", "derive the load session key")
		}
		want, err := epurse.SessionMAC(alg, sk, epurse.LoadMAC1Data(in.Balance, uint32(l.Amount), s.LoadTerminal))
		if err != nil || !epurse.Equal4(want, in.MAC1) {
			return fault.E(fault.Forbidden, "bad_mac1", "the card's MAC1 does not verify")
		}
		if int(in.OnlineATC) != card.OnlineATC {
			return fault.E(fault.Conflict, "load_counter", "the card's load counter is %d, the operator expects %d: finish or refund the earlier load first", in.OnlineATC, card.OnlineATC)
		}
		dt = epurse.DateTime(tx.Now())
		mac2, err = epurse.SessionMAC(alg, sk, epurse.LoadMAC2Data(uint32(l.Amount), s.LoadTerminal, dt))
		if err != nil {
			return fault.Wrap(err, fault.Internal, "transit_crypto", "compute MAC2")
		}
		l.State, l.OnlineATC, l.Balance, l.DateTime, l.UpdatedAt = LoadSigned, int(in.OnlineATC), int64(in.Balance), dt, tx.Now()
		return tx.PutLoad(l)
	})
	return mac2, dt, err
}

// ConfirmLoad takes the card's TAC of CREDIT FOR LOAD (or of GET
// TRANSACTION PROOF after a lost answer) as the proof that the load reached
// the card, and adds it to the balance the operator knows. Confirming a
// done load with its TAC again is a no-op. It fails with fault.Forbidden
// "bad_tac" or fault.Conflict "load_state".
func (s *Service) ConfirmLoad(ctx context.Context, ph Phone, id string, tac [4]byte) (Load, error) {
	var l Load
	err := s.Store.InTx(ctx, func(tx Tx) error {
		var card Card
		var err error
		l, card, err = s.loadOfPhone(tx, ph, id)
		if err != nil {
			return err
		}
		if l.State == LoadDone && epurse.Equal4(l.TAC, tac) {
			return nil
		}
		if l.State != LoadSigned {
			return fault.E(fault.Conflict, "load_state", "the load is %s", l.State)
		}
		c, err := s.city(card.City)
		if err != nil {
			return err
		}
		keys, alg, err := s.cardKeys(c, card.Number)
		if err != nil {
			return err
		}
		want, err := epurse.TAC(alg, keys.DTK.Reveal(), epurse.LoadTACData(int32(l.Balance+l.Amount), uint16(l.OnlineATC), uint32(l.Amount), s.LoadTerminal, l.DateTime))
		if err != nil || !epurse.Equal4(want, tac) {
			return fault.E(fault.Forbidden, "bad_tac", "the card's TAC does not verify")
		}
		now := tx.Now()
		l.State, l.TAC, l.UpdatedAt = LoadDone, tac, now
		if err := tx.PutLoad(l); err != nil {
			return err
		}
		card.Balance += l.Amount
		card.OnlineATC = l.OnlineATC + 1
		card.UpdatedAt = now
		return tx.PutCard(card)
	})
	return l, err
}

// RefundLoad pays back a load that did not reach the card. A load never
// signed is refunded at once; a signed one needs the card's fresh
// INITIALIZE FOR LOAD answer for the same amount, proving (by its MAC1)
// that the card's online counter never moved past the load — the fresh
// session also kills the old MAC2. It fails with fault.Conflict
// "load_state" ("load_reached_card" if the counter moved: confirm it
// instead), fault.Forbidden "bad_mac1", or the refund's error.
func (s *Service) RefundLoad(ctx context.Context, ph Phone, id string, in *InitLoad) (Load, error) {
	var l Load
	err := s.Store.InTx(ctx, func(tx Tx) error {
		var card Card
		var err error
		l, card, err = s.loadOfPhone(tx, ph, id)
		if err != nil {
			return err
		}
		switch l.State {
		case LoadRefunded, LoadRefunding:
			return nil
		case LoadPaid:
			l.State, l.UpdatedAt = LoadRefunding, tx.Now()
			return tx.PutLoad(l)
		case LoadDone:
			return fault.E(fault.Conflict, "load_state", "the load reached the card")
		}
		if in == nil {
			return fault.E(fault.Invalid, "proof_needed", "a signed load is refunded only with the card's fresh INITIALIZE FOR LOAD")
		}
		c, err := s.city(card.City)
		if err != nil {
			return err
		}
		keys, alg, err := s.cardKeys(c, card.Number)
		if err != nil {
			return err
		}
		sk, err := epurse.LoadSessionKey(alg, keys.DLK.Reveal(), in.Random, in.OnlineATC)
		if err != nil {
			return fault.Wrap(err, fault.Internal, "transit_crypto", "derive the load session key")
		}
		want, err := epurse.SessionMAC(alg, sk, epurse.LoadMAC1Data(in.Balance, uint32(l.Amount), s.LoadTerminal))
		if err != nil || !epurse.Equal4(want, in.MAC1) {
			return fault.E(fault.Forbidden, "bad_mac1", "the card's MAC1 does not verify")
		}
		if int(in.OnlineATC) != l.OnlineATC {
			return fault.E(fault.Conflict, "load_reached_card", "the card's load counter moved on: the load reached the card, confirm it with its proof")
		}
		l.State, l.UpdatedAt = LoadRefunding, tx.Now()
		return tx.PutLoad(l)
	})
	if err != nil || l.State == LoadRefunded {
		return l, err
	}
	card, err := s.cardOf(ctx, l.Card)
	if err != nil {
		return l, err
	}
	c, err := s.city(card.City)
	if err != nil {
		return l, err
	}
	if err := s.Payments.Refund(ctx, Payment{Ref: "load-refund:" + id, City: c.ID, Operator: c.Operator, AccountID: card.AccountID,
		PhoneID: card.PhoneID, Token: card.Token, Amount: l.Amount}); err != nil {
		return l, err
	}
	err = s.Store.InTx(ctx, func(tx Tx) error {
		cur, err := tx.Load(id)
		if err != nil {
			return err
		}
		if cur.State == LoadRefunded {
			l = cur
			return nil
		}
		if cur.State != LoadRefunding {
			return fault.E(fault.Conflict, "load_state", "the load is %s", cur.State)
		}
		now := tx.Now()
		cur.State, cur.UpdatedAt = LoadRefunded, now
		if err := tx.PutLoad(cur); err != nil {
			return err
		}
		l = cur
		_, err = tx.AddEntry(Entry{ID: "load-refund:" + id, City: cur.City, Card: cur.Card, Kind: EntryLoadRefund, Amount: -cur.Amount, At: now})
		return err
	})
	return l, err
}

func (s *Service) cardOf(ctx context.Context, number string) (Card, error) {
	var c Card
	err := s.Store.InTx(ctx, func(tx Tx) error {
		var err error
		c, err = tx.Card(number)
		return err
	})
	return c, err
}

// LoadOf returns a load of the phone's account. It fails with
// fault.NotFound "no_load".
func (s *Service) LoadOf(ctx context.Context, ph Phone, id string) (Load, error) {
	var l Load
	err := s.Store.InTx(ctx, func(tx Tx) error {
		var err error
		l, _, err = s.loadOfPhone(tx, ph, id)
		return err
	})
	return l, err
}
