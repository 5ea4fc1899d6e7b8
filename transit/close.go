package transit

import (
	"context"
	"crypto/rand"

	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/fault"
)

// StartClose returns a fresh challenge for the card's closure on the
// phone (refund or move). It fails with fault.NotFound "no_transit_card"
// or fault.Conflict "card_closed".
func (s *Service) StartClose(ctx context.Context, ph Phone, number string) ([8]byte, error) {
	var ch [8]byte
	rand.Read(ch[:])
	err := s.Store.InTx(ctx, func(tx Tx) error {
		c, err := tx.Card(number)
		if err != nil || c.PhoneID != ph.ID {
			return fault.E(fault.NotFound, "no_transit_card", "no transit card %s on this phone", number)
		}
		if c.State != CardActive {
			return fault.E(fault.Conflict, "card_closed", "the card is %s", c.State)
		}
		c.Challenge = ch[:]
		c.UpdatedAt = tx.Now()
		return tx.PutCard(c)
	})
	return ch, err
}

// checkClosure verifies a closure's MAC over the card's challenge.
func (s *Service) checkClosure(c Card, cl epurse.Closure) error {
	if len(c.Challenge) != 8 {
		return fault.E(fault.Conflict, "no_challenge", "ask for a challenge first")
	}
	city, err := s.city(c.City)
	if err != nil {
		return err
	}
	keys, alg, err := s.cardKeys(city, c.Number)
	if err != nil {
		return err
	}
	var ch [8]byte
	copy(ch[:], c.Challenge)
	want, err := epurse.TAC(alg, keys.DTK.Reveal(), epurse.CloseData(ch, cl.Number, int32(cl.Balance), cl.OnlineATC, cl.OfflineATC))
	if err != nil || !epurse.Equal4(want, cl.MAC) || cl.Number.String() != c.Number {
		return fault.E(fault.Forbidden, "bad_closure", "the card's closure does not verify")
	}
	return nil
}

// RefundResult says where a card's refund stands.
type RefundResult struct {
	Card     Card
	Refunded bool  // balance and deposit paid back
	Waiting  int   // offline rides still to clear before the refund
	Amount   int64 // what is (or will be) paid back: balance + deposit
}

// Refund takes a card's closure (closed on the phone over the challenge of
// StartClose) and refunds its balance and deposit to the bank card that
// paid for it — at once if every offline ride the card made has cleared,
// else once clearing has them (FinishRefunds). The card goes on the hot
// list. It fails with fault.Forbidden "bad_closure", fault.Conflict, or
// the refund's error.
func (s *Service) Refund(ctx context.Context, ph Phone, number string, cl epurse.Closure) (RefundResult, error) {
	var res RefundResult
	err := s.Store.InTx(ctx, func(tx Tx) error {
		c, err := tx.Card(number)
		if err != nil || c.PhoneID != ph.ID {
			return fault.E(fault.NotFound, "no_transit_card", "no transit card %s on this phone", number)
		}
		if c.State != CardActive {
			res.Card = c
			return nil
		}
		if err := s.checkClosure(c, cl); err != nil {
			return err
		}
		if int(cl.OnlineATC) != c.OnlineATC {
			return fault.E(fault.Conflict, "load_counter", "a load on this card is unfinished: finish or refund it first")
		}
		c.State, c.CloseBalance, c.CloseOfflineATC, c.Challenge, c.UpdatedAt = CardClosing, cl.Balance, int(cl.OfflineATC), nil, tx.Now()
		if err := tx.PutCard(c); err != nil {
			return err
		}
		res.Card = c
		return tx.AddHot(c.City, c.Number, "refunded")
	})
	if err != nil {
		return res, err
	}
	done, err := s.finishRefund(ctx, number)
	if err != nil {
		return res, err
	}
	return done, nil
}

// FinishRefunds refunds every closing card whose last rides have cleared,
// and returns how many it refunded. It fails with the store's or the
// refund's error (the others wait for the next call).
func (s *Service) FinishRefunds(ctx context.Context) (int, error) {
	var closing []Card
	err := s.Store.InTx(ctx, func(tx Tx) error {
		var err error
		closing, err = tx.CardsInState(CardClosing)
		return err
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range closing {
		r, err := s.finishRefund(ctx, c.Number)
		if err != nil {
			return n, err
		}
		if r.Refunded {
			n++
		}
	}
	return n, nil
}

// finishRefund pays back a closing card if its rides have all cleared.
func (s *Service) finishRefund(ctx context.Context, number string) (RefundResult, error) {
	var res RefundResult
	var ready bool
	err := s.Store.InTx(ctx, func(tx Tx) error {
		c, err := tx.Card(number)
		if err != nil {
			return err
		}
		res.Card = c
		res.Amount = c.CloseBalance + c.Deposit
		switch c.State {
		case CardRefunded:
			res.Refunded, res.Amount = true, c.CloseBalance+c.Deposit
			return nil
		case CardClosing:
		default:
			return fault.E(fault.Conflict, "card_active", "the card has not been closed")
		}
		atcs, err := tx.RideATCs(number)
		if err != nil {
			return err
		}
		have := map[int]bool{}
		for _, a := range atcs {
			have[a] = true
		}
		for a := 0; a < c.CloseOfflineATC; a++ {
			if !have[a] {
				res.Waiting++
			}
		}
		ready = res.Waiting == 0
		return nil
	})
	if err != nil || !ready {
		return res, err
	}
	c := res.Card
	city, err := s.city(c.City)
	if err != nil {
		return res, err
	}
	if err := s.Payments.Refund(ctx, Payment{Ref: "card-refund:" + c.Number, City: c.City, Operator: city.Operator, AccountID: c.AccountID,
		PhoneID: c.PhoneID, Token: c.Token, Amount: c.CloseBalance + c.Deposit}); err != nil {
		return res, err
	}
	err = s.Store.InTx(ctx, func(tx Tx) error {
		cur, err := tx.Card(number)
		if err != nil {
			return err
		}
		if cur.State == CardRefunded {
			res.Card, res.Refunded = cur, true
			return nil
		}
		now := tx.Now()
		if cur.Balance != cur.CloseBalance {
			// The card's own word (signed with its TAC key) wins; the
			// difference is flagged and booked so the float stays whole.
			if _, err := tx.AddEntry(Entry{ID: "adjust:" + cur.Number, City: cur.City, Card: cur.Number, Kind: EntryAdjust, Amount: cur.CloseBalance - cur.Balance, At: now}); err != nil {
				return err
			}
			if err := tx.AddException(Exception{ID: ExMismatch + ":" + cur.Number, City: cur.City, Card: cur.Number, ATC: cur.CloseOfflineATC, Kind: ExMismatch,
				Detail: "the card closed with a balance other than the cleared one", At: now}); err != nil {
				return err
			}
		}
		for _, e := range []Entry{
			{ID: "refund:" + cur.Number, Kind: EntryRefund, Amount: -cur.CloseBalance},
			{ID: "deposit-out:" + cur.Number, Kind: EntryDepositOut, Amount: -cur.Deposit},
		} {
			e.City, e.Card, e.At = cur.City, cur.Number, now
			if _, err := tx.AddEntry(e); err != nil {
				return err
			}
		}
		cur.State, cur.Balance, cur.UpdatedAt = CardRefunded, 0, now
		if err := tx.PutCard(cur); err != nil {
			return err
		}
		res.Card, res.Refunded = cur, true
		return nil
	})
	return res, err
}

// Moved is a card moved to another phone: the card and its
// personalisation sealed to the new phone.
type Moved struct {
	Card   Card
	Sealed []byte
}

// Move moves a card to another phone of the same account: the old phone
// closed its purse over the challenge of StartClose (so it cannot ride
// any more), and the operator personalises the new phone with the same
// card number, the closure's balance and counters, and the trip record and
// log the old phone carried over — so exactly one live copy exists at any
// time. Moving again with the same closure re-seals for the same phone.
// It fails with fault.Forbidden "bad_closure", fault.Invalid
// "same_phone", or fault.NotFound.
func (s *Service) Move(ctx context.Context, from, to Phone, number string, cl epurse.Closure, trip []byte, log [][]byte) (Moved, error) {
	if from.AccountID != to.AccountID {
		return Moved{}, fault.E(fault.Forbidden, "other_account", "a card moves only between phones of one account")
	}
	var m Moved
	err := s.Store.InTx(ctx, func(tx Tx) error {
		c, err := tx.Card(number)
		if err != nil || c.AccountID != from.AccountID {
			return fault.E(fault.NotFound, "no_transit_card", "no transit card %s on this account", number)
		}
		if c.PhoneID == to.ID && c.State == CardActive && c.Moving {
			m.Card = c // moved before, not yet installed: re-seal
			return nil
		}
		if c.PhoneID != from.ID {
			return fault.E(fault.NotFound, "no_transit_card", "no transit card %s on this phone", number)
		}
		if from.ID == to.ID {
			return fault.E(fault.Invalid, "same_phone", "the card is already on this phone")
		}
		if c.State != CardActive {
			return fault.E(fault.Conflict, "card_closed", "the card is %s", c.State)
		}
		if err := s.checkClosure(c, cl); err != nil {
			return err
		}
		others, err := tx.CardsOfPhone(to.ID)
		if err != nil {
			return err
		}
		for _, o := range others {
			if o.City == c.City && o.State == CardActive {
				return fault.E(fault.Conflict, "transit_card_exists", "the new phone already has a card of this city")
			}
		}
		c.PhoneID, c.Challenge, c.OnlineATC, c.Moving, c.UpdatedAt = to.ID, nil, int(cl.OnlineATC), true, tx.Now()
		c.CloseBalance, c.CloseOfflineATC = cl.Balance, int(cl.OfflineATC)
		if err := tx.PutCard(c); err != nil {
			return err
		}
		m.Card = c
		return nil
	})
	if err != nil {
		return Moved{}, err
	}
	city, err := s.city(m.Card.City)
	if err != nil {
		return Moved{}, err
	}
	c := m.Card
	m.Sealed, err = s.perso(city, c, to.PublicKey, func(p *epurse.Personalisation) {
		p.Balance, p.OnlineATC, p.OfflineATC = c.CloseBalance, uint16(c.OnlineATC), uint16(c.CloseOfflineATC)
		p.Trip, p.Log = trip, log
	})
	return m, err
}

// ConfirmMove records that the new phone installed a moved card; from
// then on the move cannot be re-sealed. It fails with fault.NotFound
// "no_transit_card".
func (s *Service) ConfirmMove(ctx context.Context, ph Phone, number string) error {
	return s.Store.InTx(ctx, func(tx Tx) error {
		c, err := tx.Card(number)
		if err != nil || c.PhoneID != ph.ID {
			return fault.E(fault.NotFound, "no_transit_card", "no transit card %s on this phone", number)
		}
		if !c.Moving {
			return nil
		}
		c.Moving, c.UpdatedAt = false, tx.Now()
		return tx.PutCard(c)
	})
}
