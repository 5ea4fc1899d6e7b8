// Package lostphone is the wallet's lost-phone switch (flow 5 of the
// design): switching the wallet off on one phone — every token bound to it
// suspended in the token service at once, so the network declines it from
// that moment; its transit cards put on the operators' hot lists; its
// limited-use keys retired on the server and a wipe queued for the phone's
// next check-in — and back on after the card holder verified again (the
// phone then takes fresh keys at its next sync with the token service). It also keeps the requests that wait for
// a phone's next check-in (ring, show a message) and takes the place a phone
// reports then (find my phone). Other phones of the account are untouched.
//
// The portal (package portal) and the wallet API (walletapi/lostphone.go)
// are its two doors; each checks who is asking before it calls in here.
package lostphone

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/wallet"
)

// Command kinds: what waits for a phone's next check-in.
const (
	CommandRing      = "ring"       // ring at full volume, with a message
	CommandMessage   = "message"    // show a message on the lock screen
	CommandWipeKeys  = "wipe_keys"  // destroy every limited-use key (wallet switched off)
	CommandFreshKeys = "fresh_keys" // take new limited-use keys (wallet switched back on)
)

// MaxMessage is the longest message a phone is asked to show.
const MaxMessage = 200

// Command is one request waiting for a phone's next check-in.
type Command struct {
	ID          string
	PhoneID     string
	AccountID   string
	Kind        string
	Message     string
	Actor       string // who asked: "portal:<account>", "phone:<phone>"
	Source      string // from where (IP address)
	CreatedAt   time.Time
	DeliveredAt time.Time
}

// Switch is one switch-off of a phone's wallet and, once it happened, its
// switch back on.
type Switch struct {
	ID        string
	PhoneID   string
	AccountID string
	Reason    string
	OffAt     time.Time
	OffBy     string
	OffSource string
	OffDone   time.Time // when the wallet and the token service had both been told (zero: not yet)
	Tokens    []string  // the tokens this switch-off suspended
	Transit   []string  // the transit cards it put on hot lists
	OnAsked   time.Time // when a verified switch-on began (zero: none asked)
	OnAt      time.Time // when the switch-on was done (zero: the switch is open)
	OnBy      string
	OnSource  string
}

// Store is what the lost-phone switch keeps (the portal's wing): the
// records of each switch and the commands waiting for a phone. The wallet
// and the token service are other parties, told apart and in no shared
// transaction: a switch is recorded before they are told and marked done
// after, so an unfinished one is finished at the next start or retry.
type Store interface {
	// BeginSwitchOff records sw as the phone's open switch, its
	// switch-off not yet done, and queues wipe, in one transaction. If the
	// phone has an open switch already it returns that one with opened =
	// false, and cancels a switch-on asked of it and not done (the later
	// switch-off wins).
	BeginSwitchOff(ctx context.Context, sw Switch, wipe Command) (open Switch, opened bool, err error)
	// FinishSwitchOff saves the tokens and transit cards of an open switch
	// and marks its switch-off done at a time, if no switch-on was asked of
	// it since; it reports whether the switch-off is still the latest
	// (false: a switch-on was asked or done meanwhile, nothing saved).
	FinishSwitchOff(ctx context.Context, sw Switch, at time.Time) (latest bool, err error)
	// BeginSwitchOn marks the phone's open switch as asked to switch on (by
	// whom, from where, at a time); fault.NotFound "no_switch" when the
	// phone has none open.
	BeginSwitchOn(ctx context.Context, phoneID string, at time.Time, by, source string) (Switch, error)
	// FinishSwitchOn closes the open switch id (its switch-on done at a
	// time) and queues fresh, in one transaction; fault.NotFound
	// "no_switch" when it is not open any more, fault.Conflict
	// "switch_superseded" when a later switch-off cancelled the switch-on.
	FinishSwitchOn(ctx context.Context, id string, at time.Time, fresh Command) (Switch, error)
	// OpenSwitch returns the phone's open switch (fault.NotFound "no_switch").
	OpenSwitch(ctx context.Context, phoneID string) (Switch, error)
	// Unfinished lists open switches whose switch-off is not done or whose
	// switch-on was asked, oldest first, at most limit.
	Unfinished(ctx context.Context, limit int) ([]Switch, error)
	// Switches lists a phone's switches, newest first.
	Switches(ctx context.Context, phoneID string, limit int) ([]Switch, error)
	// QueueCommand adds a command for the phone's next check-in.
	QueueCommand(ctx context.Context, c Command) error
	// TakeCommands returns the phone's undelivered commands, oldest first,
	// marking them delivered, in one transaction.
	TakeCommands(ctx context.Context, phoneID string, at time.Time) ([]Command, error)
	// PendingCommands lists the phone's undelivered commands, oldest first.
	PendingCommands(ctx context.Context, phoneID string) ([]Command, error)
}

// Wallet is what the switch asks of the wallet service (*wallet.Service):
// the account's phones, the wallet's own on/off fact, its sessions and
// its security events.
type Wallet interface {
	OwnedPhone(ctx context.Context, accountID, phoneID string) (wallet.Phone, error)
	Phone(ctx context.Context, phoneID string) (wallet.Phone, error)
	SetWalletOn(ctx context.Context, phoneID string, on bool) (bool, error)
	EndPhoneSessions(ctx context.Context, accountID, phoneID, keep string) (int, error)
	Record(ctx context.Context, e wallet.Event)
	ReportLocation(ctx context.Context, phoneID string, lat, lon float64) error
	Seen(ctx context.Context, phoneID string) error
}

var _ Wallet = (*wallet.Service)(nil)

// Tokens is what the switch asks of the token service (tsp.Requestor,
// in process or over HTTP).
type Tokens interface {
	Cards(ctx context.Context, deviceID string) ([]tsp.Token, error)
	DeviceOff(ctx context.Context, d tsp.DeviceSwitch) ([]string, error)
	DeviceOn(ctx context.Context, d tsp.DeviceSwitch) ([]string, error)
}

// TransitCard is a transit card on a phone, as the portal shows it.
type TransitCard struct {
	ID      string
	City    string
	Number  string // the card number as printed (not a secret)
	Balance string // formatted, e.g. "23.50 CNY"
	State   string // active | blocked | …
}

// Transit is the transit side of the switch: the transit cards on a phone
// and the operators' hot lists. Until the transit operators are part of the
// platform it is nil, and switching off touches no transit card (the
// result says so).
type Transit interface {
	// Cards lists the transit cards on a phone.
	Cards(ctx context.Context, phoneID string) ([]TransitCard, error)
	// Block puts every transit card of the phone on its operator's hot
	// list; it returns the cards it blocked.
	Block(ctx context.Context, phoneID, actor, reason string) ([]string, error)
	// Unblock lifts the hot-list entries of the given cards.
	Unblock(ctx context.Context, phoneID string, cards []string, actor, reason string) error
}

// Service is the lost-phone switch.
type Service struct {
	Store   Store
	Wallet  Wallet
	Tokens  Tokens
	Transit Transit // nil: no transit operators in this platform
	Log     *slog.Logger
	Now     func() time.Time
}

// New returns the service.
func New(st Store, w Wallet, t Tokens, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{Store: st, Wallet: w, Tokens: t, Log: log, Now: time.Now}
}

// Request names a phone of an account and who asks for a change, from where.
type Request struct {
	AccountID string // the account the asker is logged in to
	PhoneID   string // the phone to change
	Actor     string // "portal:<account>" or "phone:<phone that signed>"
	Source    string // the asker's IP address
	Reason    string // free text, kept with the switch
	// KeepSession is the asker's own portal session token, left open when
	// a switch-off ends the account's other portal sessions ("" for a
	// request from the wallet API).
	KeepSession string
}

// Result is what a switch did.
type Result struct {
	Phone     wallet.Phone
	Switch    Switch
	Changed   bool     // false: the wallet was already in that state
	Tokens    []string // tokens suspended (off) or resumed (on)
	Transit   []string // transit cards blocked (off) or unblocked (on)
	NoTransit bool     // no transit operators are connected: nothing hot-listed
	Sessions  int      // sessions a switch-off ended
}

func (s *Service) now() time.Time { return s.Now().UTC() }

// HasTransit reports whether transit operators are connected (their
// cards are hot-listed with the wallet).
func (s *Service) HasTransit() bool { return s.Transit != nil }

// SwitchOff switches the wallet off on one phone of the account: the switch
// is recorded first, then the wallet is marked off (no card can be added),
// every session the phone holds ends (and every portal session of the
// account but the asker's), the token service suspends every live token
// of the phone (the network declines it from then on, response code 78)
// and retires its unused limited-use keys, its transit cards go on the hot
// lists, a wipe of its keys waits for its next check-in, and the switch is
// marked done. Switching off a wallet that is off again finishes anything
// an earlier attempt left undone (as Recover does at start). It fails with
// fault.NotFound when the phone is not the account's (exactly as if it did
// not exist), or with the error of the step that failed (the switch can
// then be asked again).
func (s *Service) SwitchOff(ctx context.Context, r Request) (Result, error) {
	ph, err := s.Wallet.OwnedPhone(ctx, r.AccountID, r.PhoneID)
	if err != nil {
		return Result{}, err
	}
	now := s.now()
	toks, err := s.Tokens.Cards(ctx, ph.ID)
	if err != nil {
		return Result{}, err
	}
	var live []string
	for _, t := range toks {
		if t.State == tsp.Active {
			live = append(live, t.Number.Digits())
		}
	}
	reason := strings.TrimSpace(r.Reason)
	if reason == "" {
		reason = "wallet switched off: phone lost"
	}
	sw := Switch{ID: wallet.NewID("sw"), PhoneID: ph.ID, AccountID: ph.AccountID, Reason: clip(reason, MaxMessage),
		OffAt: now, OffBy: r.Actor, OffSource: r.Source, Tokens: live}
	wipe := Command{ID: wallet.NewID("cmd"), PhoneID: ph.ID, AccountID: ph.AccountID, Kind: CommandWipeKeys,
		Message: "The wallet on this phone was switched off: its payment keys are destroyed.", Actor: r.Actor, Source: r.Source, CreatedAt: now}
	open, opened, err := s.Store.BeginSwitchOff(ctx, sw, wipe)
	if err != nil {
		return Result{}, err
	}
	res, err := s.finishOff(ctx, open, r.Actor, r.Source, r.KeepSession, opened)
	if err != nil {
		return Result{}, err
	}
	if res.Phone, err = s.Wallet.OwnedPhone(ctx, r.AccountID, r.PhoneID); err != nil {
		return Result{}, err
	}
	return res, nil
}

// finishOff tells the parties of a recorded switch-off — the wallet, its
// sessions, the token service, the transit operators — each step
// idempotent, then marks the switch done. opened: this call recorded it.
// If a switch-on was asked of the switch meanwhile (the later intent), the
// switch-on's steps are applied again after these, so the phone ends as
// the latest request left it.
func (s *Service) finishOff(ctx context.Context, open Switch, actor, source, keep string, opened bool) (Result, error) {
	res, err := s.applyOff(ctx, open, keep)
	if err != nil {
		return Result{}, err
	}
	res.Changed = res.Changed || opened
	open.Transit = union(open.Transit, res.Transit)
	open.Tokens = union(open.Tokens, res.Tokens)
	now := s.now()
	latest, err := s.Store.FinishSwitchOff(ctx, open, now)
	if err != nil {
		return Result{}, err
	}
	if !latest {
		if _, err := s.applyOn(ctx, open); err != nil {
			return Result{}, err
		}
		return Result{}, errSuperseded("on")
	}
	if open.OffDone.IsZero() {
		open.OffDone = now
	}
	res.Switch = open
	if res.Changed || len(res.Tokens) > 0 {
		detail := plural(len(res.Tokens), "card") + " suspended"
		if s.Transit != nil {
			detail += ", " + plural(len(res.Transit), "transit card") + " hot-listed"
		}
		detail += ", key wipe queued, " + plural(res.Sessions, "session") + " ended; by " + actor
		s.Wallet.Record(ctx, wallet.Event{AccountID: open.AccountID, PhoneID: open.PhoneID, Kind: wallet.EventWalletOff, Detail: detail, Source: source})
	}
	return res, nil
}

// errSuperseded: a later switch of the other way was asked while this one
// ran; its steps were applied again after this one's.
func errSuperseded(now string) error {
	return fault.E(fault.Conflict, "switch_superseded", "the wallet was switched %s again meanwhile: it stays %s", now, now)
}

// applyOff is a switch-off's steps at the other parties: the wallet marked
// off, the phone's sessions (and the account's portal sessions but keep's)
// ended, the token service told, the transit cards hot-listed.
func (s *Service) applyOff(ctx context.Context, open Switch, keep string) (Result, error) {
	changed, err := s.Wallet.SetWalletOn(ctx, open.PhoneID, false)
	if err != nil {
		return Result{}, err
	}
	// End every session the phone holds, and the account's portal
	// sessions but the asker's: whoever has the phone is logged out of the
	// wallet API and of any portal page left open on it.
	ended, err := s.Wallet.EndPhoneSessions(ctx, open.AccountID, open.PhoneID, keep)
	if err != nil {
		return Result{}, err
	}
	// Tell the token service: it marks the device's wallet off (no card
	// can be added from now on), suspends every live token of the device —
	// any a racing add made live too — and retires their unused keys, in
	// one transaction of its own.
	suspended, err := s.Tokens.DeviceOff(ctx, tsp.DeviceSwitch{DeviceID: open.PhoneID, Actor: open.OffBy, Reason: open.Reason})
	if err != nil {
		return Result{}, err
	}
	res := Result{Changed: changed, Tokens: suspended, NoTransit: s.Transit == nil, Sessions: ended}
	if s.Transit != nil {
		blocked, err := s.Transit.Block(ctx, open.PhoneID, open.OffBy, open.Reason)
		if err != nil {
			return Result{}, err
		}
		res.Transit = blocked
	}
	return res, nil
}

// SwitchOn switches the wallet back on on one phone of the account. The
// caller has verified the card holder again (password and passkey, or
// password and a one-time code). The switch-on is recorded on the open
// switch first; then the tokens the switch-off suspended are resumed
// (tokens suspended for other reasons, e.g. by the issuer, stay
// suspended), the transit cards come off the hot lists, the wallet is
// marked on, and the switch is closed with fresh limited-use keys waiting
// for the phone's next check-in. It fails with fault.NotFound for a phone
// not the account's, fault.Conflict "wallet_on" when the wallet is on, or
// the error of the step that failed (asking again, or Recover, finishes it).
func (s *Service) SwitchOn(ctx context.Context, r Request) (Result, error) {
	ph, err := s.Wallet.OwnedPhone(ctx, r.AccountID, r.PhoneID)
	if err != nil {
		return Result{}, err
	}
	open, err := s.Store.BeginSwitchOn(ctx, ph.ID, s.now(), r.Actor, r.Source)
	if fault.CodeOf(err) == "no_switch" {
		return Result{}, fault.E(fault.Conflict, "wallet_on", "the wallet on this phone is already on")
	}
	if err != nil {
		return Result{}, err
	}
	res, err := s.finishOn(ctx, open)
	if err != nil {
		return Result{}, err
	}
	if res.Phone, err = s.Wallet.OwnedPhone(ctx, r.AccountID, r.PhoneID); err != nil {
		return Result{}, err
	}
	return res, nil
}

// finishOn tells the parties of a switch-on recorded on open — the token
// service, the transit operators, the wallet — each step idempotent, then
// closes the switch. If a switch-off was asked again meanwhile (the later
// intent), its steps are applied again after these and the switch stays
// open: fault.Conflict "switch_superseded".
func (s *Service) finishOn(ctx context.Context, open Switch) (Result, error) {
	res, err := s.applyOn(ctx, open)
	if err != nil {
		return Result{}, err
	}
	now := s.now()
	fresh := Command{ID: wallet.NewID("cmd"), PhoneID: open.PhoneID, AccountID: open.AccountID, Kind: CommandFreshKeys,
		Message: "The wallet on this phone was switched back on: new payment keys are installed.", Actor: open.OnBy, Source: open.OnSource, CreatedAt: now}
	closed, err := s.Store.FinishSwitchOn(ctx, open.ID, now, fresh)
	switch fault.CodeOf(err) {
	case "no_switch":
		return Result{}, fault.E(fault.Conflict, "wallet_on", "the wallet on this phone is already on")
	case "switch_superseded":
		if _, err := s.applyOff(ctx, open, ""); err != nil {
			return Result{}, err
		}
		return Result{}, errSuperseded("off")
	}
	if err != nil {
		return Result{}, err
	}
	res.Switch = closed
	detail := plural(len(res.Tokens), "card") + " resumed"
	if s.Transit != nil {
		detail += ", " + plural(len(res.Transit), "transit card") + " off the hot list"
	}
	detail += ", fresh keys queued; by " + open.OnBy
	s.Wallet.Record(ctx, wallet.Event{AccountID: open.AccountID, PhoneID: open.PhoneID, Kind: wallet.EventWalletOn, Detail: detail, Source: open.OnSource})
	return res, nil
}

// applyOn is a switch-on's steps at the other parties: the token service
// resumes the tokens the switch-off suspended that are still suspended and
// on this phone (and lets cards be added again), the transit cards come
// off the hot lists, the wallet is marked on.
func (s *Service) applyOn(ctx context.Context, open Switch) (Result, error) {
	resumed, err := s.Tokens.DeviceOn(ctx, tsp.DeviceSwitch{DeviceID: open.PhoneID, Actor: open.OnBy,
		Reason: "wallet switched back on after verification", Tokens: open.Tokens})
	if err != nil {
		return Result{}, err
	}
	res := Result{Tokens: resumed, NoTransit: s.Transit == nil, Changed: true}
	if s.Transit != nil && len(open.Transit) > 0 {
		if err := s.Transit.Unblock(ctx, open.PhoneID, open.Transit, open.OnBy, "wallet switched back on"); err != nil {
			return Result{}, err
		}
		res.Transit = open.Transit
	}
	if _, err := s.Wallet.SetWalletOn(ctx, open.PhoneID, true); err != nil {
		return Result{}, err
	}
	return res, nil
}

// Recover finishes every switch a crash or a failed party left half done
// (recorded but not marked done): a switch-off is told again to the
// wallet, the token service and the transit operators (ending the phone's
// sessions and the account's portal sessions), a switch-on asked is
// finished. The platform calls it at start. It returns how many switches
// it finished and the first error (the others are still tried).
func (s *Service) Recover(ctx context.Context) (int, error) {
	list, err := s.Store.Unfinished(ctx, 1000)
	if err != nil {
		return 0, err
	}
	n := 0
	var first error
	for _, sw := range list {
		if !sw.OnAsked.IsZero() {
			_, err = s.finishOn(ctx, sw)
		} else {
			_, err = s.finishOff(ctx, sw, sw.OffBy, sw.OffSource, "", false)
		}
		if fault.CodeOf(err) == "switch_superseded" { // the later switch's steps were applied again
			err = nil
		}
		if err != nil {
			s.Log.Error("lost-phone switch not finished", "switch", sw.ID, "phone", sw.PhoneID, "err", err)
			if first == nil {
				first = err
			}
			continue
		}
		n++
	}
	return n, first
}

// Ask queues a ring or a message for the phone's next check-in. It fails
// with fault.Invalid "bad_command" for another kind or a message over
// MaxMessage characters, or fault.NotFound for a phone not the account's.
func (s *Service) Ask(ctx context.Context, r Request, kind, message string) (Command, error) {
	message = strings.TrimSpace(message)
	switch kind {
	case CommandRing:
		if message == "" {
			message = "This phone is lost. Please call its owner."
		}
	case CommandMessage:
		if message == "" {
			return Command{}, fault.E(fault.Invalid, "bad_command", "write the message to show on the phone")
		}
	default:
		return Command{}, fault.E(fault.Invalid, "bad_command", "a phone can be asked to ring or to show a message")
	}
	if len([]rune(message)) > MaxMessage || strings.ContainsAny(message, "\x00\r") {
		return Command{}, fault.E(fault.Invalid, "bad_command", "the message must be one text of at most %d characters", MaxMessage)
	}
	ph, err := s.Wallet.OwnedPhone(ctx, r.AccountID, r.PhoneID)
	if err != nil {
		return Command{}, err
	}
	c := Command{ID: wallet.NewID("cmd"), PhoneID: ph.ID, AccountID: ph.AccountID, Kind: kind, Message: message,
		Actor: r.Actor, Source: r.Source, CreatedAt: s.now()}
	if err := s.Store.QueueCommand(ctx, c); err != nil {
		return Command{}, err
	}
	ev := wallet.EventPhoneRing
	if kind == CommandMessage {
		ev = wallet.EventPhoneMessage
	}
	s.Wallet.Record(ctx, wallet.Event{AccountID: ph.AccountID, PhoneID: ph.ID, Kind: ev, Detail: "waits for the phone's next check-in; by " + r.Actor, Source: r.Source})
	return c, nil
}

// Pending lists what waits for a phone's next check-in; fault.NotFound for a
// phone not the account's.
func (s *Service) Pending(ctx context.Context, accountID, phoneID string) ([]Command, error) {
	if _, err := s.Wallet.OwnedPhone(ctx, accountID, phoneID); err != nil {
		return nil, err
	}
	return s.Store.PendingCommands(ctx, phoneID)
}

// History lists a phone's switches, newest first; fault.NotFound for a phone
// not the account's.
func (s *Service) History(ctx context.Context, accountID, phoneID string) ([]Switch, error) {
	if _, err := s.Wallet.OwnedPhone(ctx, accountID, phoneID); err != nil {
		return nil, err
	}
	return s.Store.Switches(ctx, phoneID, 20)
}

// TransitCards lists the transit cards on a phone (none while no transit
// operator is connected); fault.NotFound for a phone not the account's.
func (s *Service) TransitCards(ctx context.Context, accountID, phoneID string) ([]TransitCard, error) {
	if _, err := s.Wallet.OwnedPhone(ctx, accountID, phoneID); err != nil {
		return nil, err
	}
	if s.Transit == nil {
		return nil, nil
	}
	return s.Transit.Cards(ctx, phoneID)
}

// Location is a place a phone reports, in WGS 84 degrees.
type Location struct{ Lat, Lon float64 }

// CheckIn is what a phone learns when it checks in.
type CheckIn struct {
	WalletOn bool
	Commands []Command
	// FreshKeys: the wallet was switched back on since the last check-in;
	// the phone takes fresh limited-use keys at its sync with the token
	// service (tsp.Service.Replenish), which gives every active token a
	// batch.
	FreshKeys bool
}

// CheckIn takes a phone's check-in (the phone proved itself with its
// device key): its place if it reported one (find my phone) and the
// commands waiting for it (marked delivered: a wipe of its keys, rings,
// messages, and after a switch back on the word to take fresh keys). It
// fails with fault.Invalid "bad_location" or the error of the step that
// failed.
func (s *Service) CheckIn(ctx context.Context, ph wallet.Phone, loc *Location) (CheckIn, error) {
	if loc != nil {
		if err := s.Wallet.ReportLocation(ctx, ph.ID, loc.Lat, loc.Lon); err != nil {
			return CheckIn{}, err
		}
	} else if err := s.Wallet.Seen(ctx, ph.ID); err != nil {
		return CheckIn{}, err
	}
	cur, err := s.Wallet.Phone(ctx, ph.ID)
	if err != nil {
		return CheckIn{}, err
	}
	cmds, err := s.Store.TakeCommands(ctx, ph.ID, s.now())
	if err != nil {
		return CheckIn{}, err
	}
	out := CheckIn{WalletOn: cur.WalletOn, Commands: cmds}
	for _, c := range cmds {
		if c.Kind == CommandFreshKeys && cur.WalletOn {
			out.FreshKeys = true
		}
	}
	return out, nil
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range append(append([]string(nil), a...), b...) {
		if x != "" && !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}
