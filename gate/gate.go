// Package gate is a transit gate (a metro gate or a bus validator): an NFC
// reader with its own secure access module (package sam) that, offline
// and in express mode, selects its city's purse on the card, reads its
// trip record, prices the ride with the fare engine (package fare) and
// debits it in one compound purchase — the trip-record update and the
// debit commit together on the card. It keeps a durable journal of its
// transactions (pending before the debit, finalised after) from which a
// tap pulled away mid-debit is recovered on the next tap without charging
// twice, blocks cards on its operator's hot list, and uploads its records
// in clearing files. Each tap's outcome (table in docs/transit.md) comes
// with its compute time, bytes and estimated air time at 106 kbit/s.
package gate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/apdu"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/nfc"
	"github.com/tapwallet/tapwallet/sam"
	"github.com/tapwallet/tapwallet/transit"
)

// Direction says which way a metro gate lets people through.
type Direction string

// Gate directions. A bus validator is always Auto: tap on, tap off.
const (
	Auto Direction = "auto" // entry if the card is not inside, exit if it is
	In   Direction = "in"   // entry only
	Out  Direction = "out"  // exit only
)

// Result is what a tap came to.
type Result string

// The outcomes of a tap (docs/transit.md has the table).
const (
	Entered       Result = "entered"        // metro entry recorded (0-amount compound purchase); gate opens
	Exited        Result = "exited"         // metro fare charged at exit; gate opens
	Boarded       Result = "boarded"        // flat bus fare charged
	TappedOn      Result = "tapped_on"      // bus charging at tap-off: journey opened
	TappedOff     Result = "tapped_off"     // bus fare charged at tap-off
	DoubleTap     Result = "double_tap"     // tapped again right after entering here; nothing written, gate opens
	AlreadyPaid   Result = "already_paid"   // the last tap was pulled away after the debit: recovered, not charged again; gate opens
	AlreadyInside Result = "already_inside" // an entry gate, and the card has an open journey; gate stays shut
	NoEntry       Result = "no_entry"       // an exit gate, and the card never entered; gate stays shut
	LowBalance    Result = "low_balance"    // not enough to enter or to pay (beyond the overdraft); gate stays shut
	Blocked       Result = "blocked"        // the card is blocked; gate stays shut
	HotListed     Result = "hot_listed"     // the card was on the hot list and is now blocked; gate stays shut
	NotAccepted   Result = "not_accepted"   // no card of this city on the phone; gate stays shut
	ExpressOff    Result = "express_off"    // express mode is off and the phone is locked; gate stays shut
	Expired       Result = "expired"        // the card has expired; gate stays shut
	PulledAway    Result = "pulled_away"    // the card left during the tap; tap again
	Failed        Result = "failed"         // the card answered something unexpected; gate stays shut
)

// Opens reports whether the gate opens for the result.
func (r Result) Opens() bool {
	switch r {
	case Entered, Exited, Boarded, TappedOn, TappedOff, DoubleTap, AlreadyPaid:
		return true
	}
	return false
}

// Outcome is a tap's result with what the display shows and how long it
// took.
type Outcome struct {
	Result    Result
	Card      string     // card number ("" if not read)
	Fare      fare.Quote // the ride's price (exit, boarding, tap-off)
	Charged   int64      // fen debited in this tap
	Balance   int64      // fen after the tap (as the card said)
	Overdrawn bool       // the balance went below zero
	Entry     string     // entry station name, at exit
	Message   string     // what the gate's display says
	RecordID  uint64     // journal id of the transaction, if any

	Exchanges int           // APDU exchanges
	Bytes     int           // APDU bytes both ways
	Air       time.Duration // estimated air time at 106 kbit/s (nfc.AirTime)
	Link      time.Duration // wall time spent on the link (card and transport)
	Elapsed   time.Duration // wall time of the whole tap
}

// Link is the gate's side of one card presence: an *nfc.Reader, or
// [Direct] in process.
type Link interface {
	Exchange(ctx context.Context, cmd []byte) (nfc.Exchange, error)
}

// Direct returns a Link that calls a card in process, with the air time
// of the bytes it carries.
func Direct(card nfc.Card) Link { return direct{card} }

type direct struct{ c nfc.Card }

func (d direct) Exchange(ctx context.Context, cmd []byte) (nfc.Exchange, error) {
	start := time.Now()
	resp := d.c.Process(cmd)
	if len(resp) < 2 {
		return nfc.Exchange{}, fmt.Errorf("%w: a response APDU has at least 2 bytes", nfc.ErrProtocol)
	}
	return nfc.Exchange{Command: cmd, Response: resp, Sent: len(cmd), Received: len(resp), Elapsed: time.Since(start),
		AirTime: nfc.AirTime(len(cmd)) + nfc.AirTime(len(resp))}, nil
}

// Config is a gate.
type Config struct {
	City      *fare.City
	Line      *fare.Line
	Station   *fare.Station
	Direction Direction // metro only; "" means Auto
	Device    uint16    // the gate's number at its station
	SAM       *sam.SAM
	Journal   *Journal
	HotList   *HotList // nil: none
	Now       func() time.Time
	// StaleAfter is how old an open journey may be before a new entry
	// closes it with the line's highest fare (default 4 h).
	StaleAfter time.Duration
	// DoubleTapWithin is how soon a second tap at the entry station is
	// taken as the same entry (default 2 min).
	DoubleTapWithin time.Duration
}

// Gate is a transit gate. Tap is safe for concurrent use; taps run one at
// a time, as a gate has one reader.
type Gate struct {
	cfg Config
	mu  sync.Mutex
}

// New returns a gate. It fails with fault.Invalid "bad_gate" if the
// station is not on the line, the SAM is missing, or the SAM's terminal
// number is not this gate's.
func New(cfg Config) (*Gate, error) {
	switch {
	case cfg.City == nil || cfg.Line == nil || cfg.Station == nil:
		return nil, fault.E(fault.Invalid, "bad_gate", "a gate needs a city, a line and a station")
	case cfg.SAM == nil || cfg.Journal == nil:
		return nil, fault.E(fault.Invalid, "bad_gate", "a gate needs a SAM and a journal")
	}
	if _, err := cfg.Line.Station(cfg.Station.ID); err != nil {
		return nil, fault.E(fault.Invalid, "bad_gate", "station %s is not on %s", cfg.Station.Name, cfg.Line.Name)
	}
	if cfg.SAM.Terminal() != TerminalOf(cfg.Line, cfg.Station, cfg.Device) {
		return nil, fault.E(fault.Invalid, "bad_gate", "the SAM's terminal number is not this gate's")
	}
	if cfg.Direction == "" || cfg.Line.Mode == fare.Bus {
		cfg.Direction = Auto
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 4 * time.Hour
	}
	if cfg.DoubleTapWithin <= 0 {
		cfg.DoubleTapWithin = 2 * time.Minute
	}
	return &Gate{cfg: cfg}, nil
}

// TerminalOf returns the terminal number of a gate: line code, station
// code, device.
func TerminalOf(l *fare.Line, s *fare.Station, device uint16) [6]byte {
	return epurse.TerminalNumber(l.Code, s.Code, device)
}

// Config returns the gate's configuration.
func (g *Gate) Config() Config { return g.cfg }

// tap is one tap in progress.
type tap struct {
	g    *Gate
	ctx  context.Context
	link Link
	out  *Outcome
}

var errLink = errors.New("the card left the field")

func (t *tap) send(c apdu.Command) (apdu.Response, error) {
	b, err := c.Marshal()
	if err != nil {
		return apdu.Response{}, fault.Wrap(err, fault.Internal, "gate_apdu", "encode a command")
	}
	ex, err := t.link.Exchange(t.ctx, b)
	if err != nil {
		return apdu.Response{}, errLink
	}
	t.out.Exchanges++
	t.out.Bytes += ex.Sent + ex.Received
	t.out.Air += ex.AirTime
	t.out.Link += ex.Elapsed
	r, err := apdu.ParseResponse(ex.Response)
	if err != nil {
		return apdu.Response{}, errLink
	}
	return r, nil
}

func (t *tap) done(r Result, format string, args ...any) Outcome {
	t.out.Result = r
	t.out.Message = fmt.Sprintf(format, args...)
	return *t.out
}

// Tap runs one tap over link and returns its outcome. It returns an error
// only when the gate itself failed (its journal could not be written); a
// card that misbehaves or leaves is an outcome.
func (g *Gate) Tap(ctx context.Context, link Link) (Outcome, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	start := time.Now()
	out := &Outcome{}
	t := &tap{g: g, ctx: ctx, link: link, out: out}
	o, err := t.run()
	o.Elapsed = time.Since(start)
	if errors.Is(err, errLink) {
		o.Result, o.Message, err = PulledAway, "Hold the phone still and tap again", nil
	}
	return o, err
}

func (t *tap) run() (Outcome, error) {
	g := t.g
	c := g.cfg
	now := c.Now()
	r, err := t.send(apdu.Select(c.City.AID()))
	if err != nil {
		return *t.out, err
	}
	switch r.SW {
	case apdu.SWSuccess:
	case epurse.SWBlocked:
		if pub, ok := publicFromFCI(r.Data); ok {
			t.out.Card = pub.Number.String()
		}
		return t.done(Blocked, "Card blocked — see the service counter"), nil
	case apdu.SWConditionsNotSatisfied:
		return t.done(ExpressOff, "Unlock the phone or turn on express mode for this card"), nil
	case apdu.SWFileNotFound:
		return t.done(NotAccepted, "No %s card on this phone", c.City.Name), nil
	default:
		return t.done(Failed, "Card not readable (%04X)", uint16(r.SW)), nil
	}
	pub, ok := publicFromFCI(r.Data)
	if !ok {
		return t.done(Failed, "Card not readable"), nil
	}
	card := pub.Number.String()
	t.out.Card = card
	if !pub.ExpiresOn.IsZero() && now.In(epurse.China).After(pub.ExpiresOn.AddDate(0, 0, 1)) {
		return t.done(Expired, "Card expired — see the service counter"), nil
	}
	if c.HotList.Has(card) {
		return t.block(pub.Number)
	}
	if p, ok := c.Journal.PendingFor(card); ok {
		o, handled, err := t.recover(p)
		if err != nil || handled {
			return o, err
		}
	}
	r, err = t.send(apdu.ReadRecord(epurse.SFITrip, 1))
	if err != nil {
		return *t.out, err
	}
	if r.SW != apdu.SWSuccess {
		return t.done(Failed, "Card not readable (%04X)", uint16(r.SW)), nil
	}
	trip, err := epurse.ParseTrip(r.Data)
	if err != nil {
		return t.done(Failed, "Card's trip record is damaged — see the service counter"), nil
	}
	return t.decide(pub.Number, trip, now)
}

// publicFromFCI reads the public information from tag 9F0C of the FCI.
func publicFromFCI(fci []byte) (epurse.Public, bool) {
	objs, err := emv.Decode(fci)
	if err != nil {
		return epurse.Public{}, false
	}
	var find func([]emv.TLV) []byte
	find = func(list []emv.TLV) []byte {
		for _, o := range list {
			if o.Tag == emv.Tag(0x9F0C) {
				return o.Value
			}
			if v := find(o.Children); v != nil {
				return v
			}
		}
		return nil
	}
	v := find(objs)
	if v == nil {
		return epurse.Public{}, false
	}
	p, err := epurse.ParsePublic(v)
	return p, err == nil
}

// block blocks a hot-listed card: GET CHALLENGE, then APPLICATION BLOCK
// with the SAM's MAC.
func (t *tap) block(n epurse.CardNumber) (Outcome, error) {
	r, err := t.send(apdu.Command{INS: apdu.InsGetChallenge, Ne: 4})
	if err != nil {
		return *t.out, err
	}
	if r.SW != apdu.SWSuccess || len(r.Data) != 4 {
		return t.done(Blocked, "Card stopped — see the service counter"), nil
	}
	var ch [4]byte
	copy(ch[:], r.Data)
	m, err := t.g.cfg.SAM.BlockMAC(n, ch, 0x00)
	if err != nil {
		return *t.out, err
	}
	r, err = t.send(apdu.Command{CLA: 0x84, INS: apdu.InsApplicationBlock, P1: 0, P2: 0, Data: m[:]})
	if err != nil {
		return *t.out, err
	}
	if r.SW != apdu.SWSuccess {
		return t.done(Blocked, "Card stopped — see the service counter"), nil
	}
	return t.done(HotListed, "Card reported lost and now blocked — see the service counter"), nil
}

// recover settles a transaction this gate left pending with this card. It
// reads the card's log, newest first, for the pending transaction's
// offline counter: a record with that counter from this gate, for that
// amount and time, means the debit happened — the gate asks for its proof,
// finalises the record and lets the person through; an offline record
// with a lower counter (or that counter from elsewhere), or the end of
// the log, means it never happened and the record is voided. A debit
// that happened longer ago than DoubleTapWithin is not this tap's (a
// pending entry a power cut left before its final entry was synced, and
// the card back hours later): its record is finalised all the same, and
// the tap goes on as a new one, charged as any other.
func (t *tap) recover(p Pending) (Outcome, bool, error) {
	c := t.g.cfg
	stale := c.Now().Sub(p.At) > c.DoubleTapWithin
	happened, decided := false, false
	for rec := byte(1); rec <= epurse.LogRecords && !decided; rec++ {
		r, err := t.send(apdu.ReadRecord(epurse.SFILog, rec))
		if err != nil {
			return *t.out, true, err
		}
		if r.SW != apdu.SWSuccess {
			break
		}
		lr, err := epurse.ParseLogRecord(r.Data)
		if err != nil {
			break
		}
		if lr.Type == epurse.TypeLoad {
			continue // loads count on the online counter
		}
		if lr.ATC == p.Purchase.ATC {
			happened = lr.Terminal == c.SAM.Terminal() && lr.Amount == p.Purchase.Amount &&
				lr.Type == p.Purchase.Type && lr.DateTime == p.Purchase.DateTime
		}
		decided = lr.ATC <= p.Purchase.ATC
	}
	if !decided {
		// The log does not reach back that far (a card moved to a new
		// phone starts a short log): the card's counter decides whether
		// the pending counter was used at all.
		d := []byte{0x01, 0, 0, 0, 0}
		term := c.SAM.Terminal()
		d = append(d, term[:]...)
		r, err := t.send(apdu.Command{CLA: 0x80, INS: apdu.InsInitializeTransaction, P1: 0x03, P2: 0x02, Data: d, Ne: 15})
		if err != nil {
			return *t.out, true, err
		}
		if r.SW == apdu.SWSuccess && len(r.Data) == 15 && binary.BigEndian.Uint16(r.Data[4:]) > p.Purchase.ATC {
			// Used, by this gate or another: the gate cannot tell, so the
			// record goes to the operator grey and the person is let
			// through without a second charge.
			if err := c.Journal.Finalise(p.ID, p.Record); err != nil {
				return *t.out, true, err
			}
			if stale {
				return Outcome{}, false, nil
			}
			t.out.RecordID = p.ID
			return t.done(AlreadyPaid, "Already paid — go through"), true, nil
		}
	}
	if !happened {
		if err := c.Journal.Void(p.ID); err != nil {
			return *t.out, true, err
		}
		return Outcome{}, false, nil
	}
	r, err := t.send(apdu.Command{CLA: 0x80, INS: apdu.InsGetTransactionProof, P2: p.Purchase.Type,
		Data: binary.BigEndian.AppendUint16(nil, p.Purchase.ATC), Ne: 8})
	if err != nil {
		return *t.out, true, err
	}
	rec := p.Record
	if r.SW == apdu.SWSuccess && len(r.Data) == 8 {
		var tac, mac2 [4]byte
		copy(tac[:], r.Data[:4])
		copy(mac2[:], r.Data[4:])
		if ok, err := c.SAM.CheckMAC2(p.Purchase, mac2); err != nil {
			return *t.out, true, err
		} else if ok {
			rec.TAC, rec.MAC2, rec.Status = tac, mac2, transit.StatusFinal
		}
	}
	// Without a valid proof the record stays grey: the card's counter
	// shows the debit happened, the operator settles it in clearing.
	if err := c.Journal.Finalise(p.ID, rec); err != nil {
		return *t.out, true, err
	}
	if stale {
		return Outcome{}, false, nil
	}
	t.out.RecordID, t.out.Charged, t.out.Balance = p.ID, rec.Amount, rec.BalanceAfter
	o := t.done(AlreadyPaid, "Already paid %s — go through", yuan(rec.Amount))
	return o, true, nil
}

// decide prices the tap from the card's trip record and debits it.
func (t *tap) decide(n epurse.CardNumber, trip epurse.Trip, now time.Time) (Outcome, error) {
	c := t.g.cfg
	month := epurse.MonthOf(now)
	spend := trip.MonthSpend
	if trip.Month != month {
		spend = 0
	}
	inside := trip.State == epurse.TripInside
	here := c.Line
	next := trip
	next.Month, next.MonthSpend = month, spend
	var last fare.Mode
	if trip.LastMode != 0 {
		last = fare.ModeOf(trip.LastMode)
	}
	ride := fare.Ride{Line: here, Entry: c.Station.Code, At: now, MonthSpend: spend, LastMode: last, LastAt: trip.LastAt}
	charged := func(q fare.Quote) {
		next.State, next.Mode, next.Line, next.Station, next.EntryAt, next.Terminal = epurse.TripNone, 0, 0, 0, time.Time{}, [6]byte{}
		if c.City.CountsMonthly(here.Mode) {
			next.MonthSpend = spend + q.Fen
		}
		next.LastMode, next.LastAt, next.LastFare = here.Mode.Code(), now, q.Fen
	}
	openHere := inside && trip.Mode == here.Mode.Code() && (here.Mode == fare.Metro || trip.Line == here.Code)
	stale := inside && now.Sub(trip.EntryAt) > c.StaleAfter
	entry := func(penalty int64) (Outcome, error) {
		next.State, next.Mode, next.Line, next.Station, next.EntryAt, next.Terminal =
			epurse.TripInside, here.Mode.Code(), here.Code, c.Station.Code, now, c.SAM.Terminal()
		res, msg := Entered, "Welcome"
		if here.Mode == fare.Bus {
			res, msg = TappedOn, "Tapped on — tap off when you leave"
		}
		if penalty > 0 {
			msg += fmt.Sprintf(" (an unfinished journey was charged %s)", yuan(penalty))
		}
		return t.debit(n, penalty, c.City.Product.MinEntry, false, fare.Quote{}, next, res, msg, trip)
	}
	penalty := func() int64 {
		p := c.City.MaxMetroFen()
		if l := c.City.LineByCode(trip.Line); l != nil && l.Mode == fare.Bus && l.Distance != nil {
			first, last := l.Stations[0], l.Stations[len(l.Stations)-1]
			p = l.Distance.Fen(int64((last.Km - first.Km) * 1000))
		}
		return p
	}
	switch {
	case here.Mode == fare.Bus && here.Charge == fare.AtEntry:
		q, err := c.City.Price(ride)
		if err != nil {
			return t.done(Failed, "This validator cannot price the ride"), nil
		}
		charged(q)
		next.State, next.Mode, next.Line, next.Station, next.EntryAt, next.Terminal = trip.State, trip.Mode, trip.Line, trip.Station, trip.EntryAt, trip.Terminal
		return t.debit(n, q.Fen, q.Fen, false, q, next, Boarded, "Paid "+yuan(q.Fen), trip)
	case inside && trip.Station == c.Station.Code && trip.Line == here.Code && now.Sub(trip.EntryAt) <= c.DoubleTapWithin && c.Direction != Out:
		return t.done(DoubleTap, "Already in — go through"), nil
	case stale && c.Direction == Out:
		q := fare.Quote{Base: penalty()}
		q.Fen = q.Base
		charged(q)
		return t.debit(n, q.Fen, 0, true, q, next, Exited, "Journey over "+c.StaleAfter.String()+": paid "+yuan(q.Fen), trip)
	case stale:
		return entry(penalty())
	case openHere && c.Direction != In:
		ride.Entry, ride.Exit = trip.Station, c.Station.Code
		q, err := c.City.Price(ride)
		if err != nil {
			return t.done(Failed, "This gate cannot price the journey — see the service counter"), nil
		}
		charged(q)
		res := Exited
		if here.Mode == fare.Bus {
			res = TappedOff
		}
		if s := c.City.StationByCode(trip.Station); s != nil {
			t.out.Entry = s.Name
		}
		return t.debit(n, q.Fen, 0, true, q, next, res, "Paid "+yuan(q.Fen), trip)
	case inside:
		name := "another station"
		if s := c.City.StationByCode(trip.Station); s != nil {
			name = s.Name
		}
		t.out.Entry = name
		if c.Direction == Out {
			return t.done(AlreadyInside, "Journey opened at %s is not on this line — see the service counter", name), nil
		}
		return t.done(AlreadyInside, "Already inside since %s at %s — see the service counter", trip.EntryAt.In(epurse.China).Format("15:04"), name), nil
	case c.Direction == Out:
		return t.done(NoEntry, "No entry recorded — see the service counter"), nil
	}
	return entry(0)
}

// debit runs the compound purchase: INITIALIZE FOR CAPP PURCHASE, the
// balance checks, the pending record, UPDATE CAPP DATA CACHE, DEBIT, the
// MAC2 check and the final record. minBalance is what the balance must be
// at least before the debit (entry, flat fares); overdraft says whether
// the card's overdraft may pay the rest.
func (t *tap) debit(n epurse.CardNumber, amount, minBalance int64, overdraft bool, q fare.Quote, next epurse.Trip, res Result, msg string, before epurse.Trip) (Outcome, error) {
	c := t.g.cfg
	now := c.Now()
	term := c.SAM.Terminal()
	d := []byte{0x01}
	d = binary.BigEndian.AppendUint32(d, uint32(amount))
	d = append(d, term[:]...)
	r, err := t.send(apdu.Command{CLA: 0x80, INS: apdu.InsInitializeTransaction, P1: 0x03, P2: 0x02, Data: d, Ne: 15})
	if err != nil {
		return *t.out, err
	}
	t.out.Fare = q
	switch {
	case r.SW == apdu.SWPurseInsufficientFunds:
		return t.done(LowBalance, "Balance too low for %s — top up, or pay at the service counter", yuan(amount)), nil
	case r.SW != apdu.SWSuccess || len(r.Data) != 15:
		return t.done(Failed, "Card refused the payment (%04X)", uint16(r.SW)), nil
	}
	bal := int64(int32(binary.BigEndian.Uint32(r.Data)))
	atc := binary.BigEndian.Uint16(r.Data[4:])
	var rnd [4]byte
	copy(rnd[:], r.Data[11:15])
	t.out.Balance = bal
	if bal < minBalance || (!overdraft && bal < amount) {
		need := max(minBalance, amount)
		return t.done(LowBalance, "Balance %s, %s needed — top up", yuan(bal), yuan(need)), nil
	}
	pur, mac1, err := c.SAM.Open(n, epurse.TypeCAPP, uint32(amount), atc, rnd, now)
	if err != nil {
		return *t.out, err
	}
	rec := transit.Record{Card: n.String(), ATC: atc, Type: epurse.TypeCAPP, Amount: amount, BalanceAfter: bal - amount, Seq: pur.Seq,
		DateTime: pur.DateTime, Status: transit.StatusGrey, Line: c.Line.Code, Station: c.Station.Code,
		Base: q.Base, Off: q.MonthlyOff + q.TransferOff}
	if before.State == epurse.TripInside {
		rec.EntryLine, rec.EntryStation, rec.EntryAt = before.Line, before.Station, epurse.DateTime(before.EntryAt)
	}
	id, err := c.Journal.AddPending(Pending{Purchase: pur, Record: rec, At: now})
	if err != nil {
		return *t.out, err
	}
	t.out.RecordID = id
	r, err = t.send(apdu.Command{CLA: 0x80, INS: apdu.InsUpdateRecord, P1: 0x01, P2: epurse.SFITrip << 3, Data: next.Marshal()})
	if err != nil {
		return *t.out, err // pending stays: nothing was debited, the next tap voids it
	}
	if r.SW != apdu.SWSuccess {
		if err := c.Journal.Void(id); err != nil {
			return *t.out, err
		}
		return t.done(Failed, "Card refused the trip record (%04X)", uint16(r.SW)), nil
	}
	dd := binary.BigEndian.AppendUint32(nil, pur.Seq)
	dd = append(dd, pur.DateTime[:]...)
	dd = append(dd, mac1[:]...)
	r, err = t.send(apdu.Command{CLA: 0x80, INS: apdu.InsDebitForPurchase, P1: 0x01, P2: 0x00, Data: dd, Ne: 8})
	if err != nil {
		return *t.out, err // pending stays: the next tap learns whether the card debited
	}
	if r.SW != apdu.SWSuccess || len(r.Data) != 8 {
		if err := c.Journal.Void(id); err != nil {
			return *t.out, err
		}
		if r.SW == apdu.SWPurseInsufficientFunds {
			return t.done(LowBalance, "Balance too low — top up"), nil
		}
		return t.done(Failed, "Card refused the payment (%04X)", uint16(r.SW)), nil
	}
	copy(rec.TAC[:], r.Data[:4])
	copy(rec.MAC2[:], r.Data[4:])
	okMAC, err := c.SAM.CheckMAC2(pur, rec.MAC2)
	if err != nil {
		return *t.out, err
	}
	rec.Status = transit.StatusFinal
	if err := c.Journal.Finalise(id, rec); err != nil {
		return *t.out, err
	}
	if !okMAC {
		// The card debited (its counter moved) but its MAC2 is wrong: the
		// record goes to clearing, where the TAC decides.
		return t.done(Failed, "Card's answer did not verify — see the service counter"), nil
	}
	t.out.Charged, t.out.Balance = amount, bal-amount
	t.out.Overdrawn = t.out.Balance < 0
	if t.out.Overdrawn {
		msg += fmt.Sprintf(" — balance %s, top up before your next ride", yuan(t.out.Balance))
	} else if amount > 0 {
		msg += " — balance " + yuan(t.out.Balance)
	}
	return t.done(res, "%s", msg), nil
}

// yuan formats fen as "¥3.00".
func yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s¥%d.%02d", sign, fen/100, fen%100)
}

// HotList is the set of blocked card numbers a gate holds, with the
// version it fetched. Its methods are safe for concurrent use; a nil
// *HotList holds nothing.
type HotList struct {
	mu      sync.RWMutex
	version int64
	cards   map[string]bool
}

// NewHotList returns a hot list of a version.
func NewHotList(version int64, cards []string) *HotList {
	h := &HotList{}
	h.Set(version, cards)
	return h
}

// Has reports whether a card is on the list (never fails).
func (h *HotList) Has(card string) bool {
	if h == nil {
		return false
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.cards[card]
}

// Version returns the list's version.
func (h *HotList) Version() int64 {
	if h == nil {
		return 0
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.version
}

// Set replaces the list.
func (h *HotList) Set(version int64, cards []string) {
	m := make(map[string]bool, len(cards))
	for _, c := range cards {
		m[c] = true
	}
	h.mu.Lock()
	h.version, h.cards = version, m
	h.mu.Unlock()
}

// Cards returns the listed card numbers.
func (h *HotList) Cards() []string {
	if h == nil {
		return nil
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]string, 0, len(h.cards))
	for c := range h.cards {
		out = append(out, c)
	}
	return out
}
