package transit

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/fault"
)

// Clear clears one clearing file from a gate, in one transaction: a file
// cleared before is answered with its first receipt (Again set). For each
// record: a card unknown to the city's operator is flagged unknown_card; a
// final record whose TAC does not verify (under the card's TAC key, over
// the record and the file's terminal number) is flagged forged and not
// charged; a record with the card and counter of one cleared before is an
// exact duplicate (same TAC and amount: dropped) or a replay (flagged);
// a grey record is kept and flagged, and charges nothing until a final
// record with its counter arrives. Accepted rides leave the float and
// lower the balance the operator knows for the card. Then every touched
// card's counter sequence is checked for gaps, and closing cards whose
// last rides have now cleared are refunded. Checked.Clear then checks
// the accepted rides after the fact (see Checked). It fails with fault.Invalid
// "bad_clearing_file" for a file that does not parse, or "wrong_city".
func (s *Service) Clear(ctx context.Context, raw []byte) (Receipt, error) {
	rc, _, err := s.clear(ctx, raw, nil)
	return rc, err
}

// clear is Clear, with the after-the-fact check of the accepted rides by
// check (nil: none) once the file's clearing is committed; it returns the
// records the check reviewed.
func (s *Service) clear(ctx context.Context, raw []byte, check RideChecker) (Receipt, []RideFlag, error) {
	f, err := ParseFile(raw)
	if err != nil {
		return Receipt{}, nil, err
	}
	c, err := s.city(f.City)
	if err != nil {
		return Receipt{}, nil, fault.E(fault.Invalid, "wrong_city", "the clearing file is for an unknown city")
	}
	var rc Receipt
	var rides []ClearedRide // the accepted rides, for the risk check once committed
	err = s.Store.InTx(ctx, func(tx Tx) error {
		rides = rides[:0]
		if prev, err := tx.File(f.ID); err == nil {
			rc = prev
			rc.Again = true
			return nil
		} else if fault.KindOf(err) != fault.NotFound {
			return err
		}
		rc = Receipt{FileID: f.ID, City: c.ID, Records: len(f.Records)}
		now := tx.Now()
		touched := map[string]bool{}
		flag := func(card string, atc int, kind, detail string) error {
			return tx.AddException(Exception{ID: fmt.Sprintf("%s:%s:%d:%s", kind, card, atc, f.ID), City: c.ID, Card: card, ATC: atc,
				Kind: kind, Detail: detail, FileID: f.ID, At: now})
		}
		for _, r := range f.Records {
			card, err := tx.Card(r.Card)
			if err != nil || card.City != c.ID {
				rc.Unknown++
				if err := flag(r.Card, int(r.ATC), ExUnknown, "no such card at this operator"); err != nil {
					return err
				}
				continue
			}
			if r.Status == StatusFinal {
				keys, alg, err := s.cardKeys(c, r.Card)
				if err != nil {
					return err
				}
				want, err := epurse.TAC(alg, keys.DTK.Reveal(), epurse.PurchaseTACData(uint32(r.Amount), r.Type, f.Terminal, r.Seq, r.DateTime, r.ATC, int32(r.BalanceAfter)))
				if err != nil || !epurse.Equal4(want, r.TAC) {
					rc.Forged++
					if err := flag(r.Card, int(r.ATC), ExForged, "the TAC does not verify"); err != nil {
						return err
					}
					continue
				}
			}
			prev, err := tx.Ride(r.Card, int(r.ATC))
			switch {
			case err == nil && prev.Status == StatusFinal && r.Status == StatusFinal:
				if epurse.Equal4(prev.Record.TAC, r.TAC) && prev.Record.Amount == r.Amount {
					rc.Duplicates++
				} else {
					rc.Replayed++
					if err := flag(r.Card, int(r.ATC), ExReplayed, "another record with this counter was cleared before"); err != nil {
						return err
					}
				}
				continue
			case err == nil && r.Status == StatusGrey:
				rc.Duplicates++ // a grey record adds nothing to what is known
				continue
			case err != nil && fault.KindOf(err) != fault.NotFound:
				return err
			}
			touched[r.Card] = true
			ride := Ride{Card: r.Card, ATC: int(r.ATC), City: c.ID, Record: r, FileID: f.ID, Status: r.Status, Cleared: now}
			if err := tx.PutRide(ride); err != nil {
				return err
			}
			if r.Status == StatusGrey {
				rc.Grey++
				if err := flag(r.Card, int(r.ATC), ExGrey, fmt.Sprintf("unfinished: %d fen at terminal %x, not charged", r.Amount, f.Terminal)); err != nil {
					return err
				}
				continue
			}
			rc.Accepted++
			rc.Amount += r.Amount
			if check != nil {
				rides = append(rides, s.clearedRide(f, r, card))
			}
			if r.Amount != 0 {
				if _, err := tx.AddEntry(Entry{ID: fmt.Sprintf("ride:%s:%d", r.Card, r.ATC), City: c.ID, Card: r.Card, Kind: EntryRide, Amount: -r.Amount, At: now}); err != nil {
					return err
				}
			}
			card.Balance -= r.Amount
			card.ClearedATC = max(card.ClearedATC, int(r.ATC))
			card.UpdatedAt = now
			if err := tx.PutCard(card); err != nil {
				return err
			}
		}
		for number := range touched {
			atcs, err := tx.RideATCs(number)
			if err != nil {
				return err
			}
			missing := gaps(atcs)
			for _, m := range missing {
				if err := tx.AddException(Exception{ID: fmt.Sprintf("%s:%s:%d", ExGap, number, m), City: c.ID, Card: number, ATC: m,
					Kind: ExGap, Detail: "no record with this counter has been cleared", FileID: f.ID, At: now}); err != nil {
					return err
				}
			}
			rc.Gaps += len(missing)
		}
		return tx.PutFile(rc)
	})
	if err != nil {
		return Receipt{}, nil, err
	}
	var flags []RideFlag
	if !rc.Again {
		flags = s.checkRides(ctx, check, rc, rides)
		rc.RiskFlags = flags
		s.Log.Info("transit clearing", "city", rc.City, "file", rc.FileID, "records", rc.Records, "accepted", rc.Accepted,
			"forged", rc.Forged, "replayed", rc.Replayed, "duplicates", rc.Duplicates, "grey", rc.Grey, "gaps", rc.Gaps)
	}
	if _, err := s.FinishRefunds(ctx); err != nil {
		s.Log.Warn("transit refunds after clearing", "err", err)
	}
	return rc, flags, nil
}

// gaps returns the counters missing below the highest one in sorted atcs.
func gaps(atcs []int) []int {
	var out []int
	next := 0
	for _, a := range atcs {
		for ; next < a && len(out) < 100; next++ {
			out = append(out, next)
		}
		next = a + 1
	}
	return out
}

// HotList returns a city's hot list. It fails with fault.NotFound
// "unknown_city".
func (s *Service) HotList(ctx context.Context, cityID string) (HotList, error) {
	c, err := s.city(cityID)
	if err != nil {
		return HotList{}, err
	}
	var h HotList
	err = s.Store.InTx(ctx, func(tx Tx) error {
		var err error
		h, err = tx.HotList(c.ID)
		return err
	})
	h.City = c.ID
	if h.Cards == nil {
		h.Cards = []string{}
	}
	sort.Strings(h.Cards)
	return h, err
}

// Block puts a card on its city's hot list (a lost phone, a refunded
// card); every gate blocks it at its next tap once it has fetched the
// list. It fails with fault.NotFound "no_transit_card".
func (s *Service) Block(ctx context.Context, number, reason string) error {
	return s.Store.InTx(ctx, func(tx Tx) error {
		c, err := tx.Card(number)
		if err != nil {
			return fault.E(fault.NotFound, "no_transit_card", "no transit card %s", number)
		}
		return tx.AddHot(c.City, c.Number, reason)
	})
}

// BlockPhone puts every transit card of a phone on the hot lists (the
// wallet switched off from the lost-phone portal) and returns their
// numbers. It fails with the store's error.
func (s *Service) BlockPhone(ctx context.Context, phoneID, reason string) ([]string, error) {
	var out []string
	err := s.Store.InTx(ctx, func(tx Tx) error {
		cards, err := tx.CardsOfPhone(phoneID)
		if err != nil {
			return err
		}
		for _, c := range cards {
			if c.State != CardActive {
				continue
			}
			if err := tx.AddHot(c.City, c.Number, reason); err != nil {
				return err
			}
			out = append(out, c.Number)
		}
		return nil
	})
	return out, err
}

// Unblock takes cards off their hot lists (the wallet switched back on);
// a refunded card stays on. It fails with fault.NotFound
// "no_transit_card".
func (s *Service) Unblock(ctx context.Context, numbers []string) error {
	return s.Store.InTx(ctx, func(tx Tx) error {
		for _, n := range numbers {
			c, err := tx.Card(n)
			if err != nil {
				return fault.E(fault.NotFound, "no_transit_card", "no transit card %s", n)
			}
			if c.State != CardActive {
				continue
			}
			if err := tx.RemoveHot(c.City, c.Number); err != nil {
				return err
			}
		}
		return nil
	})
}

// Blocked reports whether a card is on its city's hot list. It fails as
// HotList does.
func (s *Service) Blocked(ctx context.Context, c Card) (bool, error) {
	h, err := s.HotList(ctx, c.City)
	if err != nil {
		return false, err
	}
	for _, x := range h.Cards {
		if x == c.Number {
			return true, nil
		}
	}
	return false, nil
}

// FareTable returns the fare table a city's gates fetch. It fails with
// fault.NotFound "unknown_city".
func (s *Service) FareTable(cityID string) (FareTable, error) {
	c, err := s.city(cityID)
	if err != nil {
		return FareTable{}, err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return FareTable{}, fault.Wrap(err, fault.Internal, "fare_table", "encode the fare table")
	}
	return FareTable{City: c.ID, Version: s.Fares.Version, Rules: b}, nil
}

// Exceptions returns what clearing flagged for a city, newest first. It
// fails with the store's error.
func (s *Service) Exceptions(ctx context.Context, cityID string, limit int) ([]Exception, error) {
	var out []Exception
	err := s.Store.InTx(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Exceptions(cityID, limit)
		return err
	})
	return out, err
}

// Settlement is a city operator's day.
type Settlement struct {
	City         string    `json:"city"`
	Day          string    `json:"day"` // YYYY-MM-DD, China time
	From         time.Time `json:"from"`
	To           time.Time `json:"to"`
	Rides        int       `json:"rides"`
	RideFen      int64     `json:"ride_fen"` // revenue from cleared rides
	Loads        int       `json:"loads"`
	LoadFen      int64     `json:"load_fen"`
	LoadRefunds  int64     `json:"load_refund_fen"`
	Refunds      int64     `json:"refund_fen"` // balances paid back
	Fees         int64     `json:"fee_fen"`
	DepositsIn   int64     `json:"deposits_in_fen"`
	DepositsOut  int64     `json:"deposits_out_fen"`
	Adjustments  int64     `json:"adjustment_fen"`
	Float        int64     `json:"float_fen"` // stored value owed to cards at the end of the day
	Balances     int64     `json:"card_balances_fen"`
	PendingLoads int64     `json:"pending_loads_fen"`
	Deposits     int64     `json:"deposits_held_fen"`
}

// Settle returns a city's settlement for a day (China time): the day's
// rides, loads, refunds and fees, and the float, deposits held and card
// balances at its end (the float is the cleared balances plus the loads
// paid but not yet on a card). It fails with fault.NotFound
// "unknown_city" or fault.Invalid "bad_day".
func (s *Service) Settle(ctx context.Context, cityID, day string) (Settlement, error) {
	c, err := s.city(cityID)
	if err != nil {
		return Settlement{}, err
	}
	d, err := time.ParseInLocation("2006-01-02", day, epurse.China)
	if err != nil {
		return Settlement{}, fault.E(fault.Invalid, "bad_day", "a day is YYYY-MM-DD")
	}
	st := Settlement{City: c.ID, Day: day, From: d.UTC(), To: d.AddDate(0, 0, 1).UTC()}
	err = s.Store.InTx(ctx, func(tx Tx) error {
		sum := func(kinds []string, from time.Time) (int, int64, error) { return tx.Sum(c.ID, kinds, from, st.To) }
		var err error
		var n int
		if st.Rides, st.RideFen, err = sum([]string{EntryRide}, st.From); err != nil {
			return err
		}
		st.RideFen = -st.RideFen
		if st.Loads, st.LoadFen, err = sum([]string{EntryLoad}, st.From); err != nil {
			return err
		}
		if _, st.LoadRefunds, err = sum([]string{EntryLoadRefund}, st.From); err != nil {
			return err
		}
		if _, st.Refunds, err = sum([]string{EntryRefund}, st.From); err != nil {
			return err
		}
		if _, st.Fees, err = sum([]string{EntryFee}, st.From); err != nil {
			return err
		}
		if _, st.DepositsIn, err = sum([]string{EntryDepositIn}, st.From); err != nil {
			return err
		}
		if _, st.DepositsOut, err = sum([]string{EntryDepositOut}, st.From); err != nil {
			return err
		}
		if _, st.Adjustments, err = sum([]string{EntryAdjust}, st.From); err != nil {
			return err
		}
		st.LoadRefunds, st.Refunds, st.DepositsOut = -st.LoadRefunds, -st.Refunds, -st.DepositsOut
		if _, st.Float, err = sum(FloatKinds, time.Time{}); err != nil {
			return err
		}
		if _, st.Deposits, err = sum([]string{EntryDepositIn, EntryDepositOut}, time.Time{}); err != nil {
			return err
		}
		_ = n
		return nil
	})
	if err != nil {
		return st, err
	}
	st.Balances, st.PendingLoads, err = s.Owed(ctx, c.ID)
	return st, err
}

// Owed returns, for a city, the sum of the balances the operator believes
// its live cards hold and the sum of loads paid but not yet on a card.
// Their total is what the float must be. It fails with the store's error.
func (s *Service) Owed(ctx context.Context, cityID string) (balances, pending int64, err error) {
	err = s.Store.InTx(ctx, func(tx Tx) error {
		balances, pending = 0, 0
		for _, state := range []string{CardActive, CardClosing} {
			cards, err := tx.CardsInState(state)
			if err != nil {
				return err
			}
			for _, c := range cards {
				if c.City == cityID {
					balances += c.Balance
				}
			}
		}
		p, err := tx.PendingLoads(cityID)
		pending = p
		return err
	})
	return balances, pending, err
}

// Float returns a city's float: the sum of every entry that moves it. It
// fails with the store's error.
func (s *Service) Float(ctx context.Context, cityID string) (int64, error) {
	var f int64
	err := s.Store.InTx(ctx, func(tx Tx) error {
		var err error
		_, f, err = tx.Sum(cityID, FloatKinds, time.Time{}, time.Now().AddDate(100, 0, 0))
		return err
	})
	return f, err
}
