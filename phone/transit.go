package phone

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/apdu"
	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/kernel"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/nfc"
)

// The phone's transit cards: city cards (PBOC electronic purses, package
// epurse) personalised by the city's operator into the secure element,
// topped up from a bank card in the wallet with signed loads, served to
// gates in express mode (no fingerprint, even locked), refunded or moved
// to another phone. The wallet app keeps its own notes (cards, unfinished
// loads) in transit.json in the profile folder; the purses themselves,
// balances and keys, live in the secure element.

func init() {
	RegisterApplet(func(p *Phone) ([]applet.Applet, error) { return p.TransitApplets() })
}

// TransitApplets returns the phone's transit purses as applets for the
// card OS; a purse with express mode off answers only after a fresh
// fingerprint. It fails with fault.Invalid "se_store" for a damaged purse.
func (p *Phone) TransitApplets() ([]applet.Applet, error) {
	var out []applet.Applet
	for _, id := range fare.Default().IDs() {
		if !epurse.Installed(p.SE, id) {
			continue
		}
		purse, err := epurse.Open(p.SE, id)
		if err != nil {
			return nil, err
		}
		purse.Locked = func() bool { return !p.CDCVM().Verified() }
		out = append(out, purse)
	}
	return out, nil
}

// transitNotes is what the wallet app remembers of its transit cards.
type transitNotes struct {
	Cards map[string]string `json:"cards"` // city → card number
	Loads []pendingLoad     `json:"loads,omitempty"`
}

// pendingLoad is a top-up that has not been confirmed by the operator.
type pendingLoad struct {
	ID     string `json:"id"`
	City   string `json:"city"`
	Card   string `json:"card"`
	Amount int64  `json:"amount_fen"`
	ATC    int    `json:"online_atc"` // the card's online counter when signed (-1 before)
}

func (p *Phone) notesPath() string { return filepath.Join(p.Dir, "transit.json") }

func (p *Phone) loadNotes() (transitNotes, error) {
	n := transitNotes{Cards: map[string]string{}}
	b, err := os.ReadFile(p.notesPath())
	if errors.Is(err, os.ErrNotExist) {
		return n, nil
	}
	if err != nil {
		return n, fault.Wrap(err, fault.Unavailable, "profile", "read transit.json")
	}
	if err := json.Unmarshal(b, &n); err != nil {
		return n, fault.E(fault.Invalid, "profile", "transit.json is damaged")
	}
	if n.Cards == nil {
		n.Cards = map[string]string{}
	}
	return n, nil
}

func (p *Phone) saveNotes(n transitNotes) error {
	b, _ := json.MarshalIndent(n, "", "  ")
	tmp := p.notesPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fault.Wrap(err, fault.Unavailable, "profile", "write transit.json")
	}
	return os.Rename(tmp, p.notesPath())
}

func newRef() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// payingCard returns the bank card that pays: ref, or the default card.
func (p *Phone) payingCard(ref string) (Card, error) {
	if ref != "" {
		return p.FindCard(ref)
	}
	for _, c := range p.Profile.Cards {
		if c.Default {
			return c, nil
		}
	}
	if len(p.Profile.Cards) > 0 {
		return p.Profile.Cards[0], nil
	}
	return Card{}, fault.E(fault.NotFound, "card_not_found", "add a bank card first: it pays for transit cards and top-ups")
}

// transitPayment makes the phone's payment of a transit charge: the
// payment applet, with a fresh fingerprint, answers an in-app kernel set
// up as the city's operator (category 4111), and the kernel's 0100 — the
// token and the cryptogram in DE55 — goes with the request, hex; the
// operator sends it to the card network. It fails with fault.Forbidden
// "fingerprint_needed" without a fresh fingerprint, or fault.Limit
// "needs_sync" when the card has no payment key left.
func (p *Phone) transitPayment(ctx context.Context, city *fare.City, amount int64, card Card) (string, error) {
	name := strings.ToUpper(city.Name)
	k, err := kernel.New(kernel.Config{TerminalID: "INAPP001", MerchantID: "898000000004111", MerchantName: name + " TRANSIT",
		City: name, CountryCode: "CN", MCC: "4111", Acquirer: "48021000", Country: 156})
	if err != nil {
		return "", err
	}
	cardOS, err := p.CardOS(card.Token, nil)
	if err != nil {
		return "", err
	}
	reader, card2 := net.Pipe()
	served := make(chan error, 1)
	go func() { served <- nfc.ServeConfig(ctx, card2, cardOS, nfc.Config{}) }()
	r := nfc.NewReader(reader, nfc.Config{})
	res, err := k.Run(ctx, r, kernel.Transaction{Amount: money.Fen(amount)})
	r.Close()
	<-served
	if err != nil {
		return "", err
	}
	switch res.Outcome {
	case kernel.Online:
	case kernel.SeePhone:
		return "", fault.E(fault.Forbidden, "fingerprint_needed", "verify a fingerprint to pay (--finger)")
	case kernel.NeedsSync:
		return "", fault.E(fault.Limit, "needs_sync", "the bank card has no payment key left: sync the phone (tapwallet phone sync)")
	default:
		return "", fault.E(fault.Declined, "payment_refused", "the phone's payment applet refused (%s)", res.Outcome)
	}
	m, err := k.AuthorizationRequest(res, time.Now())
	if err != nil {
		return "", err
	}
	b, err := m.Pack()
	if err != nil {
		return "", fault.Wrap(err, fault.Internal, "payment", "pack the authorization")
	}
	return hex.EncodeToString(b), nil
}

// TransitCard is a transit card as the wallet app shows it.
type TransitCard struct {
	City    string
	Name    string // "Shanghai Public Transportation Card"
	Number  string
	Balance int64 // fen, as the card holds it
	Info    epurse.Info
}

// TransitCity finds the city of a reference: a city id, or a card number
// (or its last 4 digits) of a card on this phone. It fails with
// fault.NotFound "no_transit_card".
func (p *Phone) TransitCity(ref string) (string, error) {
	n, err := p.loadNotes()
	if err != nil {
		return "", err
	}
	ref = strings.ToLower(strings.TrimSpace(ref))
	for city, number := range n.Cards {
		if ref == city || ref == number || (len(ref) == 4 && strings.HasSuffix(number, ref)) {
			return city, nil
		}
	}
	if ref == "" && len(n.Cards) == 1 {
		for city := range n.Cards {
			return city, nil
		}
	}
	return "", fault.E(fault.NotFound, "no_transit_card", "no transit card %q on this phone (tapwallet phone transit list)", ref)
}

// TransitCards returns the transit cards in the secure element. It fails
// if transit.json or a purse is damaged.
func (p *Phone) TransitCards() ([]TransitCard, error) {
	n, err := p.loadNotes()
	if err != nil {
		return nil, err
	}
	var out []TransitCard
	cities := make([]string, 0, len(n.Cards))
	for c := range n.Cards {
		cities = append(cities, c)
	}
	sort.Strings(cities)
	for _, city := range cities {
		tc, err := p.transitCard(city)
		if err != nil {
			return nil, err
		}
		out = append(out, tc)
	}
	return out, nil
}

func (p *Phone) transitCard(city string) (TransitCard, error) {
	purse, err := epurse.Open(p.SE, city)
	if err != nil {
		return TransitCard{}, err
	}
	info, err := purse.Info()
	if err != nil {
		return TransitCard{}, err
	}
	tc := TransitCard{City: city, Number: info.Number.String(), Balance: info.Balance, Info: info}
	if c, err := fare.Default().City(city); err == nil {
		tc.Name = c.Card
	}
	return tc, nil
}

type transitCardAnswer struct {
	Number  string `json:"number"`
	City    string `json:"city"`
	State   string `json:"state"`
	Balance int64  `json:"cleared_balance_fen"`
	Deposit int64  `json:"deposit_fen"`
	Fee     int64  `json:"issue_fee_fen"`
	AID     string `json:"aid"`
	Sealed  string `json:"personalisation"`
}

// installTransit personalises a purse from sealed data: only this phone's secure
// element opens it, and it never replaces a live purse of the same city.
func (p *Phone) installTransit(city, number, sealed string) error {
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(b) == 0 {
		return fault.E(fault.Internal, "bad_answer", "the operator sent no personalisation")
	}
	if epurse.Installed(p.SE, city) {
		old, err := epurse.Open(p.SE, city)
		if err == nil {
			if info, err := old.Info(); err == nil && !info.Closed {
				if info.Number.String() == number {
					return nil // installed before: nothing to do
				}
				return fault.E(fault.Conflict, "transit_card_exists", "this phone already has a live %s card", city)
			}
		}
	}
	if err := p.SE.PersonaliseApplet(epurse.AppletName(city), b, epurse.AAD(city, number), epurse.BuildJSON); err != nil {
		return err
	}
	n, err := p.loadNotes()
	if err != nil {
		return err
	}
	n.Cards[city] = number
	return p.saveNotes(n)
}

// TransitAdd adds a city's transit card: the phone pays the issue fee and
// the deposit from a bank card of the wallet (payRef, or the default card;
// its payment applet needs a fresh fingerprint), the operator sends the
// payment over the card network and personalises the card into this
// phone's secure element. It fails as transitPayment does, or with the
// operator's error (fault.Conflict "transit_card_exists", fault.Declined
// for a declined payment).
func (p *Phone) TransitAdd(ctx context.Context, city, payRef string) (TransitCard, error) {
	pay, err := p.payingCard(payRef)
	if err != nil {
		return TransitCard{}, err
	}
	c, err := fare.Default().City(city)
	if err != nil {
		return TransitCard{}, err
	}
	auth, err := p.transitPayment(ctx, c, c.Product.IssueFee+c.Product.Deposit, pay)
	if err != nil {
		return TransitCard{}, err
	}
	var out transitCardAnswer
	_, err = p.call(ctx, "POST", "/v1/phones/"+p.Profile.PhoneID+"/transit/cards",
		map[string]string{"city": c.ID, "token": pay.Token, "auth": auth, "ref": newRef()}, &out, true)
	if err != nil {
		return TransitCard{}, err
	}
	if err := p.installTransit(out.City, out.Number, out.Sealed); err != nil {
		return TransitCard{}, err
	}
	return p.transitCard(out.City)
}

func (p *Phone) purse(city string) (*epurse.Purse, error) { return epurse.Open(p.SE, city) }

// initLoad runs INITIALIZE FOR LOAD on the purse (the wallet app's channel
// to its own secure element).
func initLoad(purse *epurse.Purse, amount int64) ([]byte, error) {
	d := []byte{0x01}
	d = binary.BigEndian.AppendUint32(d, uint32(amount))
	term := epurse.TerminalNumber(0, 0, 1)
	d = append(d, term[:]...)
	r := purse.Process(apdu.Command{CLA: 0x80, INS: apdu.InsInitializeTransaction, P1: 0x00, P2: 0x02, Data: d, Ne: 16})
	if r.SW != apdu.SWSuccess || len(r.Data) != 16 {
		return nil, fault.E(fault.Conflict, "card_refused", "the transit card refused the load (%v)", r.SW)
	}
	return r.Data, nil
}

// TopUp is a finished top-up.
type TopUp struct {
	LoadID  string
	Amount  int64
	Balance int64 // the card's balance after
}

// TransitTopUp tops a card up: a payment from a bank card (payRef, or the
// default) over the network, then the signed load — INITIALIZE FOR LOAD
// (the card's MAC1) to the operator, its MAC2 to CREDIT FOR LOAD, the
// card's TAC back as the proof. Unfinished top-ups from before are
// finished first. It fails with the operator's or the card's error; a
// top-up cut short stays noted and is finished (or refunded) by the next
// top-up or ResolveLoads.
func (p *Phone) TransitTopUp(ctx context.Context, cityRef string, amount int64, payRef string) (TopUp, error) {
	city, err := p.TransitCity(cityRef)
	if err != nil {
		return TopUp{}, err
	}
	if _, err := p.ResolveLoads(ctx, true); err != nil {
		return TopUp{}, err
	}
	pay, err := p.payingCard(payRef)
	if err != nil {
		return TopUp{}, err
	}
	n, err := p.loadNotes()
	if err != nil {
		return TopUp{}, err
	}
	number := n.Cards[city]
	c, err := fare.Default().City(city)
	if err != nil {
		return TopUp{}, err
	}
	auth, err := p.transitPayment(ctx, c, amount, pay)
	if err != nil {
		return TopUp{}, err
	}
	var l struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if _, err := p.call(ctx, "POST", "/v1/phones/"+p.Profile.PhoneID+"/transit/cards/"+number+"/loads",
		map[string]any{"amount_fen": amount, "token": pay.Token, "auth": auth, "ref": newRef()}, &l, true); err != nil {
		return TopUp{}, err
	}
	n.Loads = append(n.Loads, pendingLoad{ID: l.ID, City: city, Card: number, Amount: amount, ATC: -1})
	if err := p.saveNotes(n); err != nil {
		return TopUp{}, err
	}
	if err := p.finishLoad(ctx, n.Loads[len(n.Loads)-1]); err != nil {
		return TopUp{}, err
	}
	tc, err := p.transitCard(city)
	if err != nil {
		return TopUp{}, err
	}
	return TopUp{LoadID: l.ID, Amount: amount, Balance: tc.Balance}, nil
}

// finishLoad signs and credits a paid load and confirms it, noting the
// counter before the credit so that a cut can be resolved.
func (p *Phone) finishLoad(ctx context.Context, pl pendingLoad) error {
	purse, err := p.purse(pl.City)
	if err != nil {
		return err
	}
	init, err := initLoad(purse, pl.Amount)
	if err != nil {
		return err
	}
	var sig struct {
		MAC2     string `json:"mac2"`
		DateTime string `json:"datetime"`
	}
	if _, err := p.call(ctx, "POST", "/v1/phones/"+p.Profile.PhoneID+"/transit/loads/"+pl.ID+"/sign",
		map[string]string{"init": hex.EncodeToString(init)}, &sig, true); err != nil {
		return err
	}
	if err := p.noteLoad(pl.ID, int(binary.BigEndian.Uint16(init[4:]))); err != nil {
		return err
	}
	mac2, err1 := hex.DecodeString(sig.MAC2)
	dt, err2 := hex.DecodeString(sig.DateTime)
	if err1 != nil || err2 != nil || len(mac2) != 4 || len(dt) != 7 {
		return fault.E(fault.Internal, "bad_answer", "the operator's MAC2 is malformed")
	}
	r := purse.Process(apdu.Command{CLA: 0x80, INS: apdu.InsCreditForLoad, Data: append(dt, mac2...), Ne: 4})
	if r.SW != apdu.SWSuccess || len(r.Data) != 4 {
		return fault.E(fault.Conflict, "card_refused", "the transit card refused the operator's MAC2 (%v)", r.SW)
	}
	return p.confirmLoad(ctx, pl.ID, r.Data)
}

func (p *Phone) noteLoad(id string, atc int) error {
	n, err := p.loadNotes()
	if err != nil {
		return err
	}
	for i := range n.Loads {
		if n.Loads[i].ID == id {
			n.Loads[i].ATC = atc
		}
	}
	return p.saveNotes(n)
}

func (p *Phone) confirmLoad(ctx context.Context, id string, tac []byte) error {
	if _, err := p.call(ctx, "POST", "/v1/phones/"+p.Profile.PhoneID+"/transit/loads/"+id+"/confirm",
		map[string]string{"tac": hex.EncodeToString(tac)}, nil, true); err != nil {
		return err
	}
	return p.forgetLoad(id)
}

func (p *Phone) forgetLoad(id string) error {
	n, err := p.loadNotes()
	if err != nil {
		return err
	}
	kept := n.Loads[:0]
	for _, l := range n.Loads {
		if l.ID != id {
			kept = append(kept, l)
		}
	}
	n.Loads = kept
	return p.saveNotes(n)
}

// Resolved says what ResolveLoads did with one unfinished top-up.
type Resolved struct {
	LoadID string
	Amount int64
	Action string // "confirmed" (it had reached the card), "completed", "refunded"
}

// ResolveLoads settles the top-ups that paid but were not confirmed: one
// whose credit reached the card (its online counter moved past the load)
// is confirmed with the card's proof (GET TRANSACTION PROOF); one that did
// not is completed (complete) or refunded to the bank card against the
// card's fresh MAC1. It fails with the operator's or the card's error.
func (p *Phone) ResolveLoads(ctx context.Context, complete bool) ([]Resolved, error) {
	n, err := p.loadNotes()
	if err != nil {
		return nil, err
	}
	var out []Resolved
	for _, pl := range n.Loads {
		var st struct {
			State string `json:"state"`
			ATC   int    `json:"online_atc"`
		}
		if _, err := p.call(ctx, "GET", "/v1/phones/"+p.Profile.PhoneID+"/transit/loads/"+pl.ID, nil, &st, false); err != nil {
			return out, err
		}
		if st.State == "done" || st.State == "refunded" {
			if err := p.forgetLoad(pl.ID); err != nil {
				return out, err
			}
			continue
		}
		purse, err := p.purse(pl.City)
		if err != nil {
			return out, err
		}
		info, err := purse.Info()
		if err != nil {
			return out, err
		}
		if st.State == "signed" && int(info.OnlineATC) > st.ATC {
			r := purse.Process(apdu.Command{CLA: 0x80, INS: apdu.InsGetTransactionProof, P2: epurse.TypeLoad,
				Data: binary.BigEndian.AppendUint16(nil, uint16(st.ATC)), Ne: 8})
			if r.SW != apdu.SWSuccess || len(r.Data) != 8 {
				return out, fault.E(fault.Conflict, "no_proof", "the card has no proof of the load %s: see the operator", pl.ID)
			}
			if err := p.confirmLoad(ctx, pl.ID, r.Data[:4]); err != nil {
				return out, err
			}
			out = append(out, Resolved{LoadID: pl.ID, Amount: pl.Amount, Action: "confirmed"})
			continue
		}
		if complete {
			if err := p.finishLoad(ctx, pl); err != nil {
				return out, err
			}
			out = append(out, Resolved{LoadID: pl.ID, Amount: pl.Amount, Action: "completed"})
			continue
		}
		body := map[string]string{}
		if st.State == "signed" {
			init, err := initLoad(purse, pl.Amount)
			if err != nil {
				return out, err
			}
			body["init"] = hex.EncodeToString(init)
		}
		if _, err := p.call(ctx, "POST", "/v1/phones/"+p.Profile.PhoneID+"/transit/loads/"+pl.ID+"/refund", body, nil, true); err != nil {
			return out, err
		}
		if err := p.forgetLoad(pl.ID); err != nil {
			return out, err
		}
		out = append(out, Resolved{LoadID: pl.ID, Amount: pl.Amount, Action: "refunded"})
	}
	return out, nil
}

// OperatorView is a card as its operator knows it.
type OperatorView struct {
	State   string `json:"state"`
	Balance int64  `json:"cleared_balance_fen"`
	Deposit int64  `json:"deposit_fen"`
}

// TransitOperatorView asks the operator what it knows of a card. It fails
// with the wallet API's error.
func (p *Phone) TransitOperatorView(ctx context.Context, city string) (OperatorView, error) {
	n, err := p.loadNotes()
	if err != nil {
		return OperatorView{}, err
	}
	var v OperatorView
	_, err = p.call(ctx, "GET", "/v1/phones/"+p.Profile.PhoneID+"/transit/cards/"+n.Cards[city], nil, &v, false)
	return v, err
}

// Ride is one line of a card's history.
type Ride struct {
	At      time.Time
	Kind    string // "entry", "exit", "bus", "load"
	Station string
	Line    string
	Fen     int64
	Counter uint16
}

// TransitHistory returns a card's last transactions from its own log,
// newest first, with stations named from the fare table. It fails with
// fault.NotFound "no_transit_card".
func (p *Phone) TransitHistory(cityRef string) ([]Ride, error) {
	city, err := p.TransitCity(cityRef)
	if err != nil {
		return nil, err
	}
	tc, err := p.transitCard(city)
	if err != nil {
		return nil, err
	}
	c, _ := fare.Default().City(city)
	var out []Ride
	for _, l := range tc.Info.Log {
		at, _ := epurse.ParseDateTime(l.DateTime)
		r := Ride{At: at, Fen: int64(l.Amount), Counter: l.ATC}
		if l.Type == epurse.TypeLoad {
			r.Kind, r.Station = "load", "wallet top-up"
			out = append(out, r)
			continue
		}
		line, st, _ := epurse.TerminalParts(l.Terminal)
		if c != nil {
			if ln := c.LineByCode(line); ln != nil {
				r.Line = ln.Name
				switch {
				case ln.Mode == fare.Bus && ln.Charge == fare.AtEntry:
					r.Kind = "bus"
				case l.Amount == 0:
					r.Kind = "entry"
				default:
					r.Kind = "exit"
				}
			}
			if s := c.StationByCode(st); s != nil {
				r.Station = s.Name
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// TransitExpress turns express mode on or off for a card. It fails with
// fault.NotFound "no_transit_card" or the secure element's error.
func (p *Phone) TransitExpress(cityRef string, on bool) error {
	city, err := p.TransitCity(cityRef)
	if err != nil {
		return err
	}
	purse, err := p.purse(city)
	if err != nil {
		return err
	}
	return purse.SetExpress(on)
}

type closureJSON struct {
	Number     string `json:"number"`
	Balance    int64  `json:"balance_fen"`
	OnlineATC  uint16 `json:"online_atc"`
	OfflineATC uint16 `json:"offline_atc"`
	MAC        string `json:"mac"`
}

// close closes a purse over the operator's challenge.
func (p *Phone) closePurse(ctx context.Context, city, number string) (closureJSON, *epurse.Purse, error) {
	var ch struct {
		Challenge string `json:"challenge"`
	}
	purse, err := p.purse(city)
	if err != nil {
		return closureJSON{}, nil, err
	}
	var c8 [8]byte
	_, err = p.call(ctx, "POST", "/v1/phones/"+p.Profile.PhoneID+"/transit/cards/"+number+"/challenge", nil, &ch, true)
	switch {
	case err == nil:
		b, err := hex.DecodeString(ch.Challenge)
		if err != nil || len(b) != 8 {
			return closureJSON{}, nil, fault.E(fault.Internal, "bad_answer", "the operator's challenge is malformed")
		}
		copy(c8[:], b)
	case apiCode(err) == "card_closed":
		// Closed at the operator already (a refund asked before): the
		// closure is only a reminder of the card.
	default:
		return closureJSON{}, nil, err
	}
	cl, err := purse.Close(c8)
	if err != nil {
		return closureJSON{}, nil, err
	}
	return closureJSON{Number: cl.Number.String(), Balance: cl.Balance, OnlineATC: cl.OnlineATC, OfflineATC: cl.OfflineATC,
		MAC: hex.EncodeToString(cl.MAC[:])}, purse, nil
}

// Refunded is where a card's refund stands.
type Refunded struct {
	Refunded bool
	Waiting  int   // offline rides still to clear
	Amount   int64 // balance + deposit
}

// TransitRefund returns a card: it closes the purse (it never rides
// again), and the operator pays its balance and deposit back to the bank
// card that paid for it once its last offline rides have cleared. Asking
// again reports progress; when the refund is paid the purse is deleted.
func (p *Phone) TransitRefund(ctx context.Context, cityRef string) (Refunded, error) {
	city, err := p.TransitCity(cityRef)
	if err != nil {
		return Refunded{}, err
	}
	n, err := p.loadNotes()
	if err != nil {
		return Refunded{}, err
	}
	number := n.Cards[city]
	cl, _, err := p.closePurse(ctx, city, number)
	if err != nil {
		return Refunded{}, err
	}
	var out struct {
		Refunded bool  `json:"refunded"`
		Waiting  int   `json:"waiting_rides"`
		Amount   int64 `json:"amount_fen"`
	}
	if _, err := p.call(ctx, "POST", "/v1/phones/"+p.Profile.PhoneID+"/transit/cards/"+number+"/refund", map[string]any{"closure": cl}, &out, true); err != nil {
		return Refunded{}, err
	}
	if out.Refunded {
		if err := epurse.Delete(p.SE, city); err != nil {
			return Refunded{}, err
		}
		delete(n.Cards, city)
		if err := p.saveNotes(n); err != nil {
			return Refunded{}, err
		}
	}
	return Refunded{Refunded: out.Refunded, Waiting: out.Waiting, Amount: out.Amount}, nil
}

// TransitMove moves a card to another phone of the account (its profile
// in another folder, registered and logged in): this phone closes the
// purse over the operator's challenge — from then on it cannot ride — and
// the operator personalises the new phone with the card's balance,
// counters, trip record and log; the new phone confirms, and this phone
// deletes its closed copy. Exactly one live copy exists at any time. It
// fails with the operator's error.
func (p *Phone) TransitMove(ctx context.Context, cityRef string, to *Phone) (TransitCard, error) {
	city, err := p.TransitCity(cityRef)
	if err != nil {
		return TransitCard{}, err
	}
	if to.Profile.PhoneID == "" {
		return TransitCard{}, fault.E(fault.Invalid, "not_registered", "register the new phone first")
	}
	n, err := p.loadNotes()
	if err != nil {
		return TransitCard{}, err
	}
	number := n.Cards[city]
	cl, purse, err := p.closePurse(ctx, city, number)
	if err != nil {
		return TransitCard{}, err
	}
	info, err := purse.Info()
	if err != nil {
		return TransitCard{}, err
	}
	var log []string
	for _, l := range info.Log {
		log = append(log, hex.EncodeToString(l.Marshal()))
	}
	var out transitCardAnswer
	if _, err := p.call(ctx, "POST", "/v1/phones/"+p.Profile.PhoneID+"/transit/cards/"+number+"/move",
		map[string]any{"closure": cl, "to_phone": to.Profile.PhoneID, "trip": hex.EncodeToString(info.Trip.Marshal()), "log": log}, &out, true); err != nil {
		return TransitCard{}, err
	}
	if err := to.installTransit(city, out.Number, out.Sealed); err != nil {
		return TransitCard{}, err
	}
	if _, err := to.call(ctx, "POST", "/v1/phones/"+to.Profile.PhoneID+"/transit/cards/"+number+"/moved", nil, nil, true); err != nil {
		return TransitCard{}, err
	}
	if err := epurse.Delete(p.SE, city); err != nil {
		return TransitCard{}, err
	}
	delete(n.Cards, city)
	if err := p.saveNotes(n); err != nil {
		return TransitCard{}, err
	}
	return to.transitCard(city)
}

func apiCode(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return fault.CodeOf(err)
}
