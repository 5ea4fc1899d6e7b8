// Package transit is the six city transit operators' host: it issues
// transit cards into phones (fee and refundable deposit paid from a bank
// card in the wallet), signs loads (it checks the card's MAC1 and answers
// MAC2, and takes the card's TAC as the proof of the credit), clears the
// gates' clearing files (it verifies every TAC, drops exact duplicates,
// flags replays, counter gaps and grey records, and keeps the balance it
// believes each card holds), refunds and moves cards, publishes a
// versioned hot list and fare table that gates fetch, and settles per
// day. Its storage is the Store interface (package sqldb implements it);
// its master keys come from the key store; every change of money is one
// store transaction, idempotent by its message identity.
package transit

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/devicekey"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/keystore"
	"github.com/tapwallet/tapwallet/money"
)

// Card states.
const (
	CardActive   = "active"   // in a phone
	CardClosing  = "closing"  // closed on the phone; refund waits for its last rides to clear
	CardRefunded = "refunded" // balance and deposit paid back
)

// Load states.
const (
	LoadPaid      = "paid"      // the bank card was charged; no MAC2 yet
	LoadSigned    = "signed"    // MAC2 issued for a load session
	LoadDone      = "done"      // the card's TAC proved the credit
	LoadRefunding = "refunding" // being paid back (no more MAC2)
	LoadRefunded  = "refunded"  // the card never got it; the money went back
)

// Kinds of money entries in the operator's journal.
const (
	EntryFee        = "fee"         // issue fee (revenue)
	EntryDepositIn  = "deposit_in"  // refundable deposit taken
	EntryDepositOut = "deposit_out" // deposit refunded (negative)
	EntryLoad       = "load"        // money loaded: into the float
	EntryLoadRefund = "load_refund" // a load that never reached the card, paid back (negative)
	EntryRide       = "ride"        // a cleared ride: out of the float into revenue (negative)
	EntryRefund     = "refund"      // a card's balance paid back (negative)
	EntryAdjust     = "adjustment"  // a card's closing balance differed from the cleared one
)

// FloatKinds are the entry kinds that move the float (the stored value
// the operator owes its cards).
var FloatKinds = []string{EntryLoad, EntryLoadRefund, EntryRide, EntryRefund, EntryAdjust}

// Card is a transit card as its operator knows it.
type Card struct {
	Number    string
	City      string
	AccountID string
	PhoneID   string
	State     string
	Token     string // the bank card (wallet token) that paid for it, for refunds
	Deposit   int64
	IssueFee  int64
	IssueRef  string
	// Balance is what the operator believes the card holds: loads
	// confirmed minus rides cleared.
	Balance int64
	// OnlineATC is the card's next online (load) counter.
	OnlineATC int
	// ClearedATC is the highest offline counter cleared (-1 for none).
	ClearedATC int
	// Challenge is the operator's challenge for the card's closure.
	Challenge []byte
	// CloseBalance and CloseOfflineATC are the card's last word when it
	// was closed on the phone (refund pending).
	CloseBalance    int64
	CloseOfflineATC int
	// Moving is set while a card moved to a new phone awaits installing.
	Moving    bool
	IssuedAt  time.Time
	UpdatedAt time.Time
}

// Load is one top-up of a card.
type Load struct {
	ID         string
	Card       string
	City       string
	Amount     int64
	State      string
	PaymentRef string
	OnlineATC  int     // the card's online counter for this load (-1 before MAC1)
	Balance    int64   // the card's balance before the load (from MAC1)
	DateTime   [7]byte // the date and time MAC2 was issued for
	TAC        [4]byte
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Ride is a cleared (or grey) record of a card.
type Ride struct {
	Card    string
	ATC     int
	City    string
	Record  Record
	FileID  string
	Status  string // final or grey
	Cleared time.Time
}

// Exception is something clearing or the load flow flagged.
type Exception struct {
	ID     string
	City   string
	Card   string
	ATC    int
	Kind   string // forged, replayed, counter_gap, grey, unknown_card, balance_mismatch, wrong_city
	Detail string
	FileID string
	At     time.Time
}

// Exception kinds.
const (
	ExForged   = "forged"           // TAC does not verify
	ExReplayed = "replayed"         // same card and counter as a cleared record, different content
	ExGap      = "counter_gap"      // a counter is missing from a card's sequence
	ExGrey     = "grey"             // an unfinished record (the gate never learnt the outcome)
	ExUnknown  = "unknown_card"     // no such card at this operator
	ExMismatch = "balance_mismatch" // a record's or a closure's balance differs from the cleared one
)

// Entry is one movement of money in the operator's journal; ID makes it
// idempotent.
type Entry struct {
	ID     string
	City   string
	Card   string
	Kind   string
	Amount int64
	At     time.Time
}

// HotList is an operator's list of blocked cards, as gates fetch it.
type HotList struct {
	City    string   `json:"city"`
	Version int64    `json:"version"`
	Cards   []string `json:"cards"`
}

// FareTable is the fare table an operator publishes: its version and
// its city's entry of fare/cities.json.
type FareTable struct {
	City    string          `json:"city"`
	Version int             `json:"version"`
	Rules   json.RawMessage `json:"rules"`
}

// Receipt is what clearing answers for a file.
type Receipt struct {
	FileID     string `json:"file_id"`
	City       string `json:"city"`
	Records    int    `json:"records"`
	Accepted   int    `json:"accepted"`
	Amount     int64  `json:"amount"` // fen of the accepted rides
	Duplicates int    `json:"duplicates"`
	Replayed   int    `json:"replayed"`
	Forged     int    `json:"forged"`
	Grey       int    `json:"grey"`
	Gaps       int    `json:"gaps"`
	Unknown    int    `json:"unknown"`
	Again      bool   `json:"again,omitempty"` // the file had been cleared before
	// RiskFlags are the rides the risk engine's check after clearing
	// reviewed (Checked): charged all the same, listed for the operator
	// (and in its exceptions). Only in the answer of the clearing that
	// checked them, not in the receipt stored.
	RiskFlags []RideFlag `json:"risk_flags,omitempty"`
}

// Store is the operator's storage: everything happens inside InTx, one
// transaction each.
type Store interface {
	InTx(ctx context.Context, fn func(Tx) error) error
}

// Tx is one storage transaction. Getters fail with fault.NotFound when
// there is nothing.
type Tx interface {
	Now() time.Time
	NextSerial(city string) (uint64, error)
	Card(number string) (Card, error)
	CardByIssueRef(ref string) (Card, error)
	CardsOfPhone(phoneID string) ([]Card, error)
	CardsInState(state string) ([]Card, error)
	PutCard(c Card) error // insert or update
	Load(id string) (Load, error)
	PutLoad(l Load) error
	Ride(card string, atc int) (Ride, error)
	PutRide(r Ride) error
	RideATCs(card string) ([]int, error) // final rides' counters, ascending
	File(id string) (Receipt, error)
	PutFile(r Receipt) error
	AddException(e Exception) error // ignores an exception already recorded (same ID)
	Exceptions(city string, limit int) ([]Exception, error)
	AddEntry(e Entry) (bool, error) // false if an entry with this ID exists
	Sum(city string, kinds []string, from, to time.Time) (count int, sum int64, err error)
	HotList(city string) (HotList, error)
	AddHot(city, card, reason string) error        // bumps the city's version if the card is new to it
	RemoveHot(city, card string) error             // bumps the city's version if the card was on it
	PendingLoads(city string) (int64, error)       // sum of loads paid but not on a card (paid, signed, refunding)
	LoadPaymentRefs(card string) ([]string, error) // payment refs of the card's loads that reached it ("done"), newest first
}

// Payment is a charge or refund of a bank card in the wallet, for an
// operator, over the card network.
type Payment struct {
	Ref       string // idempotency: the same Ref is the same payment
	City      string
	Operator  string
	AccountID string
	PhoneID   string
	Token     string // the wallet token of the bank card
	Amount    int64
	// Auth is the phone's payment for this charge: an ISO 8583 0100
	// (packed) its payment applet and an in-app kernel made, with the
	// cryptogram in DE55 — what the network authorizes.
	Auth []byte
}

// Pay is how a phone pays a charge: the bank card's token and, for the
// card network, the authorization its payment applet made (a packed
// 0100; nil where the operator takes card-on-file payments).
type Pay struct {
	Token string
	Auth  []byte
}

// Payments takes money from and gives it back to a bank card in the
// wallet over the card network.
type Payments interface {
	// Charge takes the payment's amount. It fails with fault.Declined when
	// the bank or the network says no.
	Charge(ctx context.Context, p Payment) (authCode string, err error)
	// Refund gives an amount back to the card a charge came from.
	Refund(ctx context.Context, p Payment) error
}

// Service is the operators' host.
type Service struct {
	Store Store
	// Keys gives the cities' transit master keys (the key file's; see
	// docs/keys.md — transit keys stay in the soft store).
	Keys     keystore.IssuerKeys
	Fares    *fare.Table
	Payments Payments
	Log      *slog.Logger
	// LoadTerminal is the terminal number the host uses for loads made
	// through the wallet.
	LoadTerminal [6]byte

	mu  sync.Mutex
	mks map[string][4]keystore.Secret // the cities' master keys (purchase, load, TAC, maintenance), redacted
}

// New returns the operators' host (with the shipped fare table when fares
// is nil).
func New(st Store, keys keystore.IssuerKeys, fares *fare.Table, pay Payments, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if fares == nil {
		fares = fare.Default()
	}
	return &Service{Store: st, Keys: keys, Fares: fares, Payments: pay, Log: log,
		LoadTerminal: epurse.TerminalNumber(0, 0, 1), mks: map[string][4]keystore.Secret{}}
}

// MasterKeys returns a city's four master keys (what the operator's host
// holds) from a key store. It fails with the key store's error.
func MasterKeys(keys keystore.IssuerKeys, city string) (epurse.MasterKeys, error) {
	var out [4]keystore.Secret
	for i, n := range epurse.KeyNames(city) {
		k, err := keys.IssuerMasterKey(n)
		if err != nil {
			return epurse.MasterKeys{}, err
		}
		out[i] = keystore.NewSecret(k)
		clear(k)
	}
	return epurse.MasterKeys{Purchase: out[0], Load: out[1], TAC: out[2], Maintenance: out[3]}, nil
}

// GateKeys returns what a gate's SAM holds of a city's master keys, the
// purchase and the maintenance key, from a key store — the platform's, or
// the gate's own file exported for it (tapwallet keys export --role gate),
// which holds nothing else. It fails with the key store's error.
func GateKeys(keys keystore.IssuerKeys, city string) (epurse.MasterKeys, error) {
	names := epurse.KeyNames(city)
	p, err := keys.IssuerMasterKey(names[0])
	if err != nil {
		return epurse.MasterKeys{}, err
	}
	m, err := keys.IssuerMasterKey(names[3])
	if err != nil {
		return epurse.MasterKeys{}, err
	}
	mk := epurse.MasterKeys{Purchase: keystore.NewSecret(p), Maintenance: keystore.NewSecret(m)}
	clear(p)
	clear(m)
	return mk, nil
}

// GateKeyNames are the key-store names of what a gate of city holds.
func GateKeyNames(city string) []string {
	n := epurse.KeyNames(city)
	return []string{n[0], n[3]}
}

// masterKeys returns a city's master keys for one use: the cache keeps
// them as keystore.Secrets (never printed, never in JSON), the returned
// value only views them.
func (s *Service) masterKeys(city string) (epurse.MasterKeys, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.mks[city]
	if !ok {
		mk, err := MasterKeys(s.Keys, city)
		if err != nil {
			return mk, err
		}
		k = [4]keystore.Secret{mk.Purchase, mk.Load, mk.TAC, mk.Maintenance}
		s.mks[city] = k
	}
	return epurse.MasterKeys{Purchase: k[0], Load: k[1], TAC: k[2], Maintenance: k[3]}, nil
}

// cardKeys returns a card's keys and algorithm.
func (s *Service) cardKeys(c *fare.City, number string) (epurse.CardKeys, emv.Alg, error) {
	n, err := epurse.ParseCardNumber(number)
	if err != nil {
		return epurse.CardKeys{}, 0, err
	}
	mk, err := s.masterKeys(c.ID)
	if err != nil {
		return epurse.CardKeys{}, 0, err
	}
	alg := epurse.Alg(c)
	k, err := mk.Card(alg, n)
	return k, alg, err
}

func (s *Service) city(id string) (*fare.City, error) { return s.Fares.City(id) }

// Phone is the phone a request comes from (checked by the wallet API).
type Phone struct {
	ID        string
	AccountID string
	PublicKey []byte // PKIX DER device key, to seal personalisation to
}

// Issued is a card just issued (or issued before, for the same request):
// the card and its personalisation sealed to the phone.
type Issued struct {
	Card   Card
	Sealed []byte
	AID    []byte
}

// Issue issues a city's card into a phone: it charges the fee and the
// deposit to the bank card (one payment, Ref "issue:"+ref), makes
// the card number, records the card and the money, and seals the
// personalisation to the phone's device key. The same ref issues the same
// card again. It fails with fault.NotFound "unknown_city", fault.Conflict
// "transit_card_exists" if the phone already has a card of the city,
// fault.Declined if the payment is declined.
func (s *Service) Issue(ctx context.Context, ph Phone, cityID, token, ref string) (Issued, error) {
	return s.IssueWith(ctx, ph, cityID, Pay{Token: token}, ref)
}

// IssueWith is Issue with the phone's payment for the card network (see
// Pay); it fails as Issue does.
func (s *Service) IssueWith(ctx context.Context, ph Phone, cityID string, pay Pay, ref string) (Issued, error) {
	c, err := s.city(cityID)
	if err != nil {
		return Issued{}, err
	}
	if ref == "" || len(ref) > 64 {
		return Issued{}, fault.E(fault.Invalid, "bad_ref", "a request reference of 1 to 64 characters is needed")
	}
	var card Card
	var found bool
	err = s.Store.InTx(ctx, func(tx Tx) error {
		found = false
		card, err = tx.CardByIssueRef(ref)
		if err == nil {
			found = true
			if card.AccountID != ph.AccountID {
				return fault.E(fault.Conflict, "ref_reused", "this request reference was used for another account")
			}
			return nil
		}
		if fault.KindOf(err) != fault.NotFound {
			return err
		}
		cards, err := tx.CardsOfPhone(ph.ID)
		if err != nil {
			return err
		}
		for _, x := range cards {
			if x.City == c.ID && x.State == CardActive {
				return fault.E(fault.Conflict, "transit_card_exists", "this phone already has a %s card", c.Name)
			}
		}
		return nil
	})
	if err != nil {
		return Issued{}, err
	}
	if !found {
		payment := Payment{Ref: "issue:" + ref, City: c.ID, Operator: c.Operator, AccountID: ph.AccountID, PhoneID: ph.ID, Token: pay.Token,
			Amount: c.Product.IssueFee + c.Product.Deposit, Auth: pay.Auth}
		if _, err := s.Payments.Charge(ctx, payment); err != nil {
			return Issued{}, err
		}
		err = s.Store.InTx(ctx, func(tx Tx) error {
			if existing, err := tx.CardByIssueRef(ref); err == nil {
				card = existing
				return nil
			}
			serial, err := tx.NextSerial(c.ID)
			if err != nil {
				return err
			}
			now := tx.Now()
			card = Card{Number: epurse.NewCardNumber(c.AreaCode, serial).String(), City: c.ID, AccountID: ph.AccountID, PhoneID: ph.ID,
				State: CardActive, Token: pay.Token, Deposit: c.Product.Deposit, IssueFee: c.Product.IssueFee, IssueRef: ref,
				ClearedATC: -1, IssuedAt: now, UpdatedAt: now}
			if err := tx.PutCard(card); err != nil {
				return err
			}
			for _, e := range []Entry{
				{ID: "fee:" + card.Number, Kind: EntryFee, Amount: c.Product.IssueFee},
				{ID: "deposit:" + card.Number, Kind: EntryDepositIn, Amount: c.Product.Deposit},
			} {
				e.City, e.Card, e.At = c.ID, card.Number, now
				if _, err := tx.AddEntry(e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return Issued{}, err
		}
	}
	sealed, err := s.perso(c, card, ph.PublicKey, func(p *epurse.Personalisation) {})
	if err != nil {
		return Issued{}, err
	}
	return Issued{Card: card, Sealed: sealed, AID: c.AID()}, nil
}

// perso builds a card's personalisation and seals it to a device key.
func (s *Service) perso(c *fare.City, card Card, pub []byte, adjust func(*epurse.Personalisation)) ([]byte, error) {
	n, err := epurse.ParseCardNumber(card.Number)
	if err != nil {
		return nil, err
	}
	mk, err := s.masterKeys(c.ID)
	if err != nil {
		return nil, err
	}
	p, err := epurse.NewPersonalisation(c, mk, n, card.IssuedAt)
	if err != nil {
		return nil, err
	}
	adjust(&p)
	plain, err := json.Marshal(p)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "perso", "encode the personalisation")
	}
	defer clear(plain)
	key, err := devicekey.ParsePublic(pub)
	if err != nil {
		return nil, err
	}
	return devicekey.Seal(key, plain, epurse.AAD(c.ID, card.Number))
}

// CardsOfPhone returns a phone's transit cards. It fails with the store's
// error.
func (s *Service) CardsOfPhone(ctx context.Context, phoneID string) ([]Card, error) {
	var out []Card
	err := s.Store.InTx(ctx, func(tx Tx) error {
		var err error
		out, err = tx.CardsOfPhone(phoneID)
		return err
	})
	return out, err
}

// PhoneCard returns a card that is on a phone. It fails with
// fault.NotFound "no_transit_card".
func (s *Service) PhoneCard(ctx context.Context, phoneID, number string) (Card, error) {
	var c Card
	err := s.Store.InTx(ctx, func(tx Tx) error {
		var err error
		c, err = tx.Card(number)
		return err
	})
	if err != nil || c.PhoneID != phoneID {
		return Card{}, fault.E(fault.NotFound, "no_transit_card", "no transit card %s on this phone", number)
	}
	return c, nil
}

// CardShown is a transit card as the lost-phone portal shows it.
type CardShown struct {
	Number  string
	City    string // the city's name
	Balance string // e.g. 12.30 CNY, what the operator believes it holds
	State   string // active, blocked (on the hot list), closed, …
}

// CardsShown returns a phone's transit cards as the lost-phone portal
// shows them: a card on its city's hot list is "blocked". It fails with
// the store's error.
func (s *Service) CardsShown(ctx context.Context, phoneID string) ([]CardShown, error) {
	cards, err := s.CardsOfPhone(ctx, phoneID)
	if err != nil {
		return nil, err
	}
	var out []CardShown
	for _, c := range cards {
		state := c.State
		if blocked, err := s.Blocked(ctx, c); err == nil && blocked && state == CardActive {
			state = "blocked"
		}
		name := c.City
		if city, err := s.Fares.City(c.City); err == nil {
			name = city.Name
		}
		out = append(out, CardShown{Number: c.Number, City: name, Balance: money.Fen(c.Balance).String(), State: state})
	}
	return out, nil
}
