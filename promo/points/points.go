package points

import (
	"fmt"
	"sort"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/money"
)

// Currency is the ledger currency of reward points: ISO 4217 999
// (XXX, "no currency"), so that a points transfer never meets a money
// account (the ledger refuses transfers across currencies). One point is
// one minor unit.
const Currency money.Currency = 999

// Rate is how many points a yuan of a purchase earns, for a card product
// and a merchant category; an empty Product or MCC matches any.
type Rate struct {
	Product string `json:"product,omitempty"`
	MCC     string `json:"mcc,omitempty"`
	PerYuan int64  `json:"per_yuan"`
}

// Program is one bank's points programme.
type Program struct {
	Bank string `json:"bank"`
	// Rates, the most specific that matches wins (product and MCC, then
	// MCC, then product); Default when none does.
	Rates   []Rate `json:"rates,omitempty"`
	Default int64  `json:"default_per_yuan"`
	// Life is how long a lot of points lives after it is earned.
	Life time.Duration `json:"life"`
	// FenPerPoint is what a point is worth when paying with points.
	FenPerPoint int64 `json:"fen_per_point"`
	// MoneyAccount is the bank's promotion account (ledger.CodePromotion,
	// CNY) that pays the credits of pay-with-points.
	MoneyAccount string `json:"money_account"`
}

// Earn returns the points a posted purchase of amount fen earns: whole
// yuan times the rate (rounded down). It never fails.
func (p *Program) Earn(product, mcc string, amount int64) int64 {
	rate, best := p.Default, -1
	for _, r := range p.Rates {
		if (r.Product != "" && r.Product != product) || (r.MCC != "" && r.MCC != mcc) {
			continue
		}
		score := 0
		if r.MCC != "" {
			score += 2
		}
		if r.Product != "" {
			score++
		}
		if score > best {
			rate, best = r.PerYuan, score
		}
	}
	if amount <= 0 || rate <= 0 {
		return 0
	}
	return amount / 100 * rate
}

// TakenBack returns the points a refund of amount fen takes back from
// a purchase of gross fen that earned earned points, of which refunds of
// already fen took some back before: the cumulative share rounded down,
// so that a full refund takes back exactly what was earned. It never
// fails; amounts outside the purchase give 0.
func TakenBack(earned, gross, already, amount int64) int64 {
	if gross <= 0 || amount <= 0 || already < 0 || already+amount > gross {
		return 0
	}
	return earned*(already+amount)/gross - earned*already/gross
}

// The ledger accounts of a bank's points (all ledger.CodePromotion).
func (p *Program) poolAccount() string     { return "points:" + p.Bank + ":pool" }
func (p *Program) expiredAccount() string  { return "points:" + p.Bank + ":expired" }
func (p *Program) redeemedAccount() string { return "points:" + p.Bank + ":redeemed" }

// CardAccount returns the ledger account holding the points of card (the
// issuer's card reference, never a card number).
func (p *Program) CardAccount(card string) string { return "points:" + p.Bank + ":card:" + card }

// Accounts returns the ledger accounts a card's points need at the bank:
// the bank's pool (points issued are debited to it), breakage (expired
// points), redeemed points, and the card's own account, which may never
// go below zero. Creating them again is harmless (ledger.Exists). It
// never fails.
func (p *Program) Accounts(card string) []ledger.Account {
	acc := func(id string, flags ledger.AccountFlags) ledger.Account {
		return ledger.Account{ID: id, Currency: Currency, Code: ledger.CodePromotion, Flags: flags, UserData: "points " + p.Bank}
	}
	return []ledger.Account{acc(p.poolAccount(), 0), acc(p.expiredAccount(), 0), acc(p.redeemedAccount(), 0),
		acc(p.CardAccount(card), ledger.DebitsMustNotExceedCredits)}
}

// Lot is points earned by one purchase, spent and expired oldest first.
type Lot struct {
	ID      string    `json:"id"` // the accrual's id (the cleared purchase)
	Earned  time.Time `json:"earned"`
	Expires time.Time `json:"expires"`
	Points  int64     `json:"points"`
	Left    int64     `json:"left"`
}

// Book is one card's points at its bank: its lots and the operations
// already applied (each operation is idempotent by its id). Every
// operation returns the ledger transfers that record it in the bank's
// ledger, to be applied together (they are Linked); the book and the
// ledger then agree: the card's points account holds Balance().
type Book struct {
	Program *Program
	Card    string
	Lots    []Lot
	done    map[string]int64 // operation id -> points it moved
}

// NewBook returns an empty book of card in program p. It never fails.
func NewBook(p *Program, card string) *Book {
	return &Book{Program: p, Card: card, done: map[string]int64{}}
}

// Balance returns the points left in lots not yet expired by the last
// operation. It never fails.
func (b *Book) Balance() int64 {
	var n int64
	for _, l := range b.Lots {
		n += l.Left
	}
	return n
}

// ErrPoints is the kind and code of a payment with points refused for
// lack of points: errors.Is(err, points.ErrPoints).
var ErrPoints = fault.E(fault.Declined, "promo_points_short", "")

// transfer returns a points transfer between two accounts of the book.
func (b *Book) transfer(id, from, to string, points int64) ledger.Transfer {
	return ledger.Transfer{ID: id, DebitAccountID: from, CreditAccountID: to, Amount: points,
		Currency: Currency, UserData: b.Card}
}

// link marks every transfer but the last Linked, so the batch stands or
// falls as one.
func link(ts []ledger.Transfer) []ledger.Transfer {
	for i := range ts {
		ts[i].Flags &^= ledger.Linked
		if i < len(ts)-1 {
			ts[i].Flags |= ledger.Linked
		}
	}
	return ts
}

// Accrue adds a lot of points earned by the cleared purchase id at at.
// It returns the transfers (expiries due at at, then pool → card) and
// true, or nothing and false when id was applied before. It fails with
// fault.Invalid for points <= 0.
func (b *Book) Accrue(id string, points int64, at time.Time) ([]ledger.Transfer, bool, error) {
	key := "accrue:" + id
	if _, ok := b.done[key]; ok {
		return nil, false, nil
	}
	if points <= 0 {
		return nil, false, fault.E(fault.Invalid, "promo_points", "accrual %s of %d points: want more than 0", id, points)
	}
	ts := b.expire(at)
	b.Lots = append(b.Lots, Lot{ID: id, Earned: at, Expires: at.Add(b.Program.Life), Points: points, Left: points})
	sort.SliceStable(b.Lots, func(i, j int) bool { return b.Lots[i].Earned.Before(b.Lots[j].Earned) })
	b.done[key] = points
	ts = append(ts, b.transfer("pts:"+b.Program.Bank+":accrue:"+id, b.Program.poolAccount(), b.Program.CardAccount(b.Card), points))
	return link(ts), true, nil
}

// TakeBack takes back points of the purchase accrualID for its refund
// refundID: from that purchase's own lot first, then the oldest lots; what
// the card no longer has (spent or expired) is not taken (short). It
// returns the transfers (card → pool), the points taken, the shortfall
// and whether this call applied it (false: refundID was applied before).
func (b *Book) TakeBack(refundID, accrualID string, points int64, at time.Time) (ts []ledger.Transfer, taken, short int64, applied bool) {
	key := "takeback:" + refundID
	if n, ok := b.done[key]; ok {
		return nil, n, 0, false
	}
	ts = b.expire(at)
	want := points
	for i := range b.Lots {
		if b.Lots[i].ID == accrualID {
			want -= b.take(&b.Lots[i], want)
		}
	}
	for i := range b.Lots {
		want -= b.take(&b.Lots[i], want)
	}
	taken = points - want
	b.done[key] = taken
	if taken > 0 {
		ts = append(ts, b.transfer("pts:"+b.Program.Bank+":takeback:"+refundID, b.Program.CardAccount(b.Card), b.Program.poolAccount(), taken))
	}
	return link(ts), taken, want, true
}

// take takes up to want points from a lot and returns how many.
func (b *Book) take(l *Lot, want int64) int64 {
	n := min(l.Left, want)
	if n < 0 {
		n = 0
	}
	l.Left -= n
	return n
}

// Expire releases what is left of every lot whose life ended at or before
// now, oldest first, and returns the transfers (card → breakage, one per
// lot). It never fails.
func (b *Book) Expire(now time.Time) []ledger.Transfer { return link(b.expire(now)) }

func (b *Book) expire(now time.Time) []ledger.Transfer {
	var ts []ledger.Transfer
	for i := range b.Lots {
		l := &b.Lots[i]
		if l.Left > 0 && !l.Expires.After(now) {
			ts = append(ts, b.transfer("pts:"+b.Program.Bank+":expire:"+l.ID, b.Program.CardAccount(b.Card), b.Program.expiredAccount(), l.Left))
			b.done["expire:"+l.ID] = l.Left
			l.Left = 0
		}
	}
	return ts
}

// Pay pays the purchase purchaseID with points: it spends points (oldest
// lots first) and credits the card's money account cardAccount with their
// worth (points × FenPerPoint, from the bank's promotion account) — once
// per purchase, however often it is asked. It returns the transfers
// (expiries due, the points card → redeemed, the money credit, Linked),
// the fen credited and true; the first call's credit and false when the
// purchase was paid with points before. It fails with ErrPoints when the
// card has fewer points — nothing spent; the transfers it then returns are
// the expiries due at at, which stand and are to be posted — and with
// fault.Invalid for points <= 0 or a credit above the purchase's amount.
func (b *Book) Pay(purchaseID string, points, purchase int64, cardAccount string, at time.Time) ([]ledger.Transfer, int64, bool, error) {
	key := "pay:" + purchaseID
	if n, ok := b.done[key]; ok {
		return nil, n * b.Program.FenPerPoint, false, nil
	}
	credit := points * b.Program.FenPerPoint
	if points <= 0 || credit > purchase {
		return nil, 0, false, fault.E(fault.Invalid, "promo_points", "pay %d points (%s) for a purchase of %s: want 1 point or more, worth no more than the purchase",
			points, money.FormatMinor(credit, 2), money.FormatMinor(purchase, 2))
	}
	ts := b.expire(at)
	if b.Balance() < points {
		return link(ts), 0, false, fault.E(fault.Declined, "promo_points_short", "the card has %d points, %d asked", b.Balance(), points)
	}
	want := points
	for i := range b.Lots {
		want -= b.take(&b.Lots[i], want)
	}
	b.done[key] = points
	p := b.Program
	ts = append(ts, b.transfer("pts:"+p.Bank+":pay:"+purchaseID, p.CardAccount(b.Card), p.redeemedAccount(), points),
		ledger.Transfer{ID: "pts:" + p.Bank + ":credit:" + purchaseID, DebitAccountID: p.MoneyAccount, CreditAccountID: cardAccount,
			Amount: credit, Currency: money.CNY, UserData: fmt.Sprintf("pay with %d points", points)})
	return link(ts), credit, true, nil
}
