// Package tsp is the card network's token service provider: it binds a bank
// card to a phone (with the issuer's ID&V and a one-time-code step-up), keeps
// the PAN only in its encrypted vault, issues a token number from the
// network's token range bound to one phone and the NFC channel, runs the
// token lifecycle (active, suspended, resumed, deleted — each change recorded
// with who and why), enforces at most 8 cards per phone, and issues the
// phone's limited-use keys (derived from the token's card master key, sealed
// to the phone's device key).
package tsp

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/id"
	"github.com/tapwallet/tapwallet/keystore"
)

// MaxCardsPerPhone is the product's limit of cards on one phone.
const MaxCardsPerPhone = 8

// DomainNFC is the only channel a wallet token may be used on: a contactless tap.
const DomainNFC = "nfc"

// UnionPay application identifiers.
const (
	AIDDebit  = "A000000333010101"
	AIDCredit = "A000000333010102"
)

// State is a token's lifecycle state.
type State string

// Token states.
const (
	Active    State = "active"
	Suspended State = "suspended"
	Deleted   State = "deleted"
)

// Token is a payment token as the token service keeps it.
type Token struct {
	Number    card.Token
	PANID     string
	PAR       string
	PANLast4  string
	PhoneID   string
	AccountID string
	Domain    string
	State     State
	Expiry    card.Expiry
	PSN       string
	BankID    string
	Product   string // debit | credit
	AID       string
	// BankName and CardArt describe the issuing bank for display; Cards
	// fills them in (they are not stored).
	BankName string
	CardArt  string
	Default  bool
	Priority int
	NextKey  int
	LastATC  int
	// KeyRoot is the id of the EMV root the token's keys derive from (r1,
	// r2…; "" is r1): the key store's active root when it was made. A
	// rotation of the root changes only tokens made after it.
	KeyRoot   string
	CreatedAt time.Time
}

// VaultPAN is a PAN as the vault keeps it: sealed, found by keyed hash.
type VaultPAN struct {
	ID     string
	Index  []byte
	Sealed []byte
	PAR    string
	BIN    string
	Last4  string
}

// LUK is a limited-use key's record (the key itself is derived again, never stored).
type LUK struct {
	Token     string
	Index     int
	IssuedAt  time.Time
	ExpiresAt time.Time
	UsedAt    time.Time
	UsedATC   int
	// UsedARQC is the cryptogram the key made when the network saw it used
	// (empty for uses recorded before it was kept); read by KeyLister.
	UsedARQC []byte
}

// Binding is a card binding waiting for its one-time code.
type Binding struct {
	ID        string
	PhoneID   string
	AccountID string
	Sealed    []byte
	Expiry    string
	BankID    string
	OTPHash   []byte
	Attempts  int
	State     string // pending | done | failed
	ExpiresAt time.Time
	CreatedAt time.Time
}

// OTPMessage is one message in the one-time-code outbox (standing for SMS).
type OTPMessage struct {
	ID        string
	AccountID string
	BindingID string
	Message   string
	CreatedAt time.Time
}

// TokenEvent records one lifecycle change.
type TokenEvent struct {
	ID, Token, From, To, Actor, Reason string
	At                                 time.Time
}

// NewCard is everything written when a card is bound, in one transaction.
type NewCard struct {
	Vault VaultPAN // ID empty: use the existing vault row with the same index
	Token Token
	LUKs  []LUK
	Event TokenEvent
}

// Store is what the token service needs from storage.
type Store interface {
	// CreateCard writes a new token atomically: the device's card count,
	// kept by the token service itself, goes up (fault.Limit CodeCardLimit
	// at 8, fault.Forbidden CodeWalletOff when the device's wallet was
	// switched off), the vault row is reused or added, the token, its event
	// and its keys are inserted. It returns the vault row used.
	CreateCard(ctx context.Context, c NewCard) (VaultPAN, error)
	// Device returns what the token service knows of a device: its live
	// cards and whether its wallet is off (the zero state for a device it
	// never saw).
	Device(ctx context.Context, id string) (DeviceState, error)
	// DeviceOff records that a device's wallet is off (no card can be
	// added from then on), suspends every active token of the device with
	// an event and ends the validity of their unused limited-use keys, in
	// one transaction; it returns the tokens it suspended. Calling it again
	// changes nothing more than what a racing add left.
	DeviceOff(ctx context.Context, d DeviceSwitch) ([]string, error)
	// DeviceOn records that a device's wallet is on again and resumes those
	// of d.Tokens that are suspended and on the device, with an event, in
	// one transaction; it returns the tokens it resumed.
	DeviceOn(ctx context.Context, d DeviceSwitch) ([]string, error)
	VaultByIndex(ctx context.Context, index []byte) (VaultPAN, error) // fault.NotFound
	VaultPAN(ctx context.Context, id string) (VaultPAN, error)
	Token(ctx context.Context, number string) (Token, error) // fault.NotFound
	PhoneTokens(ctx context.Context, phoneID string) ([]Token, error)
	SetDefault(ctx context.Context, phoneID, token string) error
	// ChangeState moves a token to a new state with an event; deleting frees
	// the device's card slot. Deleted tokens never change again
	// (fault.Conflict "token_deleted"); fault.NotFound for an unknown token.
	ChangeState(ctx context.Context, token string, to State, actor, reason string, at time.Time) error
	AddLUKs(ctx context.Context, token string, luks []LUK, nextKey int) error
	CreateBinding(ctx context.Context, b Binding, msg OTPMessage) error
	Binding(ctx context.Context, id string) (Binding, error)
	// BindingAttempt counts a wrong code (failing the binding at max) or
	// marks it done; it returns the binding as it is after.
	BindingAttempt(ctx context.Context, id string, ok bool, max int) (Binding, error)
	Outbox(ctx context.Context, accountID string, limit int) ([]OTPMessage, error)
	TokenEvents(ctx context.Context, token string) ([]TokenEvent, error)
	// LUK returns a limited-use key's record (fault.NotFound if never issued).
	LUK(ctx context.Context, token string, index int) (LUK, error)
	// UseKey marks a key used and moves the token's counter, atomically:
	// fault.Declined luk_used if the key was used meanwhile, atc_replayed if
	// the counter is not above the last one.
	UseKey(ctx context.Context, u KeyUse) error
	// UnusedKeys counts a token's unused, unexpired limited-use keys.
	UnusedKeys(ctx context.Context, token string, now time.Time) (int, error)
}

// Decision is an issuer's ID&V outcome.
//
// Deprecated: the banks' own type is bank.Decision; kept only while
// issuer's bridge (issuer.Directory) still answers in it.
type Decision int

// ID&V outcomes.
//
// Deprecated: use bank.Green, bank.StepUp and bank.Red.
const (
	Green  Decision = iota // approve without a step-up
	StepUp                 // approve after a one-time code
	Red                    // decline
)

// Verdict is the issuer's answer to an ID&V request.
//
// Deprecated: the banks' own type is bank.IDVVerdict.
type Verdict struct {
	Decision   Decision
	BankID     string
	BankName   string
	Product    string // debit | credit
	TokenRange int    // the bank's token range index (tokens start 6288+NN)
	CardArt    string
}

// Issuers is the bank side of card binding in the token service's former
// types.
//
// Deprecated: the token service takes a bank.IDV (the banks' own types);
// kept only while issuer.Directory still implements it.
type Issuers interface {
	Verify(ctx context.Context, pan card.PAN, exp card.Expiry, cvn2 string) (Verdict, error)
	Route(ctx context.Context, pan card.PAN) (Verdict, error)
	Bank(id string) (name, cardArt string, ok bool)
}

// Service is the token service.
type Service struct {
	Store Store
	// Keys is the key store, as operations: the token service seals and
	// finds card numbers, checks cryptograms and has key batches made with
	// it, and never holds a key.
	Keys keystore.Store
	// Issuers is the banks' side of card binding (bank.IDV, in the banks'
	// own types): find the issuer by BIN, check the card, run ID&V.
	// Errors are fault errors with bank's codes (bank.CodeUnknownBIN,
	// bank.CodeWrongCVN2, bank.CodeCardExpired…).
	Issuers bank.IDV
	// Alg is the algorithm of the tokens' card keys (EMVKeys.Alg).
	Alg emv.Alg
	Log *slog.Logger
	Now func() time.Time
	// LUKBatch is how many limited-use keys a phone gets at a time (default 10).
	LUKBatch int
	// LUKTTL is how long a limited-use key is valid (default 72h).
	LUKTTL time.Duration
	// OTPTTL and OTPAttempts bound a step-up (default 5 minutes, 3 tries).
	OTPTTL      time.Duration
	OTPAttempts int
	// Security receives the security events of a suspected clone (nil:
	// they are only logged).
	Security Security
	// Risk, if set, is the risk engine asked before ID&V (risk.go).
	Risk *Risk
	// Meter, if set, is told each token check's outcome and each
	// binding's ID&V verdict (meter.go).
	Meter Meter
}

// New returns a token service with the product's defaults: the card keys'
// algorithm is ck's, TDES when ck names none.
func New(st Store, keys keystore.Store, iss bank.IDV, ck EMVKeys, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if ck.Alg == 0 {
		ck.Alg = emv.TDES
	}
	return &Service{Store: st, Keys: keys, Issuers: iss, Alg: ck.Alg, Log: log, Now: time.Now,
		LUKBatch: 10, LUKTTL: 72 * time.Hour, OTPTTL: 5 * time.Minute, OTPAttempts: 3}
}

// AddCardRequest is a request to bind a card to a phone.
type AddCardRequest struct {
	Device Device // verified to belong to the account by the caller
	PAN    string
	Expiry string // MMYY
	CVN2   string
}

// Provisioned is what the phone receives for a new token.
type Provisioned struct {
	Token    Token
	BankName string
	CardArt  string
	// KeyBatch is the limited-use keys sealed to the phone's device key
	// (devicekey.Seal, aad = token number); see KeyBatch.
	KeyBatch []byte
}

// AddCardResult is either a provisioned token or a step-up to answer.
type AddCardResult struct {
	Card      *Provisioned
	BindingID string // set when a one-time code is needed
	SentTo    string // where the code went, masked
}

// AddCard binds a card to a phone. It returns a provisioned token (green
// ID&V), a binding waiting for a one-time code (step-up), or an error:
// fault.Invalid (bad_pan, bad_luhn, bad_expiry, card_expired, wrong_cvn2,
// bad_cvn2), fault.NotFound unknown_bin, fault.Declined idv_declined,
// fault.Limit card_limit, fault.Forbidden wallet_off, fault.Conflict
// card_on_phone (the card is already on this phone).
func (s *Service) AddCard(ctx context.Context, r AddCardRequest) (AddCardResult, error) {
	pan, exp, err := parseCard(r.PAN, r.Expiry, r.CVN2)
	if err != nil {
		return AddCardResult{}, err
	}
	// Checked early to spare the bank an ID&V; CreateCard checks both
	// again, race-safe, when it binds the card.
	st, err := s.Store.Device(ctx, r.Device.ID)
	if err != nil {
		return AddCardResult{}, err
	}
	if st.Off {
		return AddCardResult{}, walletOff()
	}
	if st.Cards >= MaxCardsPerPhone {
		return AddCardResult{}, cardLimit()
	}
	if err := s.notOnPhone(ctx, pan, r.Device.ID); err != nil {
		return AddCardResult{}, err
	}
	rc, err := s.screenBinding(ctx, r.Device, pan, st)
	if err != nil {
		return AddCardResult{}, err
	}
	req := bank.IDVRequest{PAN: pan, Expiry: exp, CVN2: r.CVN2}
	rc.idv(&req)
	v, err := s.Issuers.Verify(ctx, req)
	s.meterIDV(v, err, rc.stepUp())
	if err != nil {
		return AddCardResult{}, err
	}
	if v.Decision != bank.Red { // the holder's name the bank gave: a third on one phone steps up (bind.names_per_phone)
		if err := s.screenHolder(ctx, rc, v); err != nil {
			return AddCardResult{}, err
		}
	}
	switch v.Decision {
	case bank.Green:
		if rc.stepUp() { // the risk engine's step-up: a one-time code even for a green card
			return s.stepUp(ctx, r.Device, pan, exp, v)
		}
	case bank.StepUp:
		return s.stepUp(ctx, r.Device, pan, exp, v)
	default:
		return AddCardResult{}, fault.E(fault.Declined, bank.CodeIDVDeclined, "the bank declined to add this card to a wallet")
	}
	p, err := s.provision(ctx, r.Device, pan, exp, v, "card_bound")
	if err != nil {
		return AddCardResult{}, err
	}
	return AddCardResult{Card: p}, nil
}

// Error codes of the token service's requestor side (fault codes) that
// callers may check with fault.CodeOf.
const (
	CodeCardLimit       = "card_limit"        // fault.Limit: 8 cards on the phone
	CodeWalletOff       = "wallet_off"        // fault.Forbidden: the wallet on the phone is off
	CodeCardOnPhone     = "card_on_phone"     // fault.Conflict
	CodeCardNotFound    = "card_not_found"    // fault.NotFound
	CodeBindingNotFound = "binding_not_found" // fault.NotFound
	CodeTokenTaken      = "token_taken"       // fault.Conflict: a store's answer to a token number in use
)

func cardLimit() error {
	return fault.E(fault.Limit, CodeCardLimit, "a phone holds at most %d cards: remove one first", MaxCardsPerPhone)
}

func walletOff() error {
	return fault.E(fault.Forbidden, CodeWalletOff, "the wallet on this phone is switched off")
}

func parseCard(panS, expS, cvn2 string) (card.PAN, card.Expiry, error) {
	pan, err := card.ParsePAN(strings.ReplaceAll(panS, " ", ""))
	if err != nil {
		return card.PAN{}, card.Expiry{}, err
	}
	exp, err := card.ParseExpiry(expS)
	if err != nil {
		return card.PAN{}, card.Expiry{}, err
	}
	if len(cvn2) != 3 || strings.Trim(cvn2, "0123456789") != "" {
		return card.PAN{}, card.Expiry{}, fault.E(fault.Invalid, "bad_cvn2", "CVN2 must be 3 digits")
	}
	return pan, exp, nil
}

func (s *Service) notOnPhone(ctx context.Context, pan card.PAN, phoneID string) error {
	v, err := s.vaultByPAN(ctx, pan.Digits())
	if fault.KindOf(err) == fault.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	toks, err := s.Store.PhoneTokens(ctx, phoneID)
	if err != nil {
		return err
	}
	for _, t := range toks {
		if t.PANID == v.ID && t.State != Deleted {
			return fault.E(fault.Conflict, CodeCardOnPhone, "this card is already on this phone (token ending %s)", t.Number.Last4())
		}
	}
	return nil
}

func (s *Service) panIndex(ctx context.Context, pan card.PAN) ([]byte, error) {
	return s.Keys.Index(ctx, "pan", []byte(pan.Digits()))
}

// vaultByPAN finds a card number's vault record by its keyed hash under
// each index key the key store holds (the active one first), so that a
// record indexed before a rotation of the index key is still found. It
// fails with fault.NotFound when none finds it.
func (s *Service) vaultByPAN(ctx context.Context, digits string) (VaultPAN, error) {
	idxs, err := s.Keys.Indexes(ctx, "pan", []byte(digits))
	if err != nil {
		return VaultPAN{}, err
	}
	for _, idx := range idxs {
		var v VaultPAN
		if v, err = s.Store.VaultByIndex(ctx, idx); fault.KindOf(err) != fault.NotFound {
			return v, err
		}
	}
	return VaultPAN{}, err
}

func (s *Service) stepUp(ctx context.Context, ph Device, pan card.PAN, exp card.Expiry, v bank.IDVVerdict) (AddCardResult, error) {
	bid := id.New("bind")
	sealed, err := s.Keys.Seal(ctx, []byte(pan.Digits()), []byte("binding:"+bid))
	if err != nil {
		return AddCardResult{}, err
	}
	code := otpCode()
	otpHash, err := s.Keys.Index(ctx, "otp", []byte(bid+":"+code))
	if err != nil {
		return AddCardResult{}, err
	}
	now := s.Now().UTC()
	b := Binding{ID: bid, PhoneID: ph.ID, AccountID: ph.AccountID, Sealed: sealed, Expiry: exp.MMYY(), BankID: v.BankID,
		OTPHash: otpHash, State: "pending", ExpiresAt: now.Add(s.OTPTTL), CreatedAt: now}
	msg := OTPMessage{ID: id.New("otp"), AccountID: ph.AccountID, BindingID: bid, CreatedAt: now,
		Message: fmt.Sprintf("[%s] Your code to add the card ending %s to tapwallet is %s. It expires in %d minutes. Never share it.",
			v.BankName, pan.Last4(), code, int(s.OTPTTL.Minutes()))}
	if err := s.Store.CreateBinding(ctx, b, msg); err != nil {
		return AddCardResult{}, err
	}
	return AddCardResult{BindingID: bid, SentTo: "the phone number the bank holds for the card ending " + pan.Last4()}, nil
}

func otpCode() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	return fmt.Sprintf("%06d", n.Int64())
}

// ConfirmOTP finishes a step-up binding with the one-time code. It fails
// with fault.NotFound "binding_not_found", fault.Invalid "wrong_otp" (with
// the tries left), fault.Limit "otp_attempts" after 3 wrong codes, or
// fault.Invalid "otp_expired" after 5 minutes; a failed or finished binding
// cannot be used again (fault.Conflict "binding_closed").
func (s *Service) ConfirmOTP(ctx context.Context, ph Device, bindingID, code string) (*Provisioned, error) {
	b, err := s.Store.Binding(ctx, bindingID)
	if err != nil || b.PhoneID != ph.ID || b.AccountID != ph.AccountID {
		return nil, fault.E(fault.NotFound, CodeBindingNotFound, "no such card binding waiting on this phone")
	}
	if b.State != "pending" {
		return nil, fault.E(fault.Conflict, "binding_closed", "this card binding is already %s: add the card again", b.State)
	}
	now := s.Now().UTC()
	if !now.Before(b.ExpiresAt) {
		s.Store.BindingAttempt(ctx, b.ID, false, 0)
		return nil, fault.E(fault.Invalid, "otp_expired", "the one-time code has expired: add the card again")
	}
	ok := false
	hashes, err := s.Keys.Indexes(ctx, "otp", []byte(b.ID+":"+code))
	if err != nil {
		return nil, err
	}
	for _, h := range hashes { // a code sent before a rotation of the index key
		ok = ok || len(code) == 6 && subtle.ConstantTimeCompare(h, b.OTPHash) == 1
	}
	after, err := s.Store.BindingAttempt(ctx, b.ID, ok, s.OTPAttempts)
	if err != nil {
		return nil, err
	}
	if !ok {
		s.recordWrongOTP(ctx, ph, b, after.Attempts)
		if after.State == "failed" {
			return nil, fault.E(fault.Limit, "otp_attempts", "wrong one-time code %d times: add the card again", s.OTPAttempts)
		}
		return nil, fault.E(fault.Invalid, "wrong_otp", "wrong one-time code: %d tries left", s.OTPAttempts-after.Attempts)
	}
	if after.State != "done" {
		return nil, fault.E(fault.Conflict, "binding_closed", "this card binding is already %s: add the card again", after.State)
	}
	panB, err := s.Keys.Open(ctx, b.Sealed, []byte("binding:"+b.ID))
	if err != nil {
		return nil, err
	}
	pan, err := card.ParsePAN(string(panB))
	if err != nil {
		return nil, err
	}
	exp, _ := card.ParseExpiry(b.Expiry)
	v, err := s.Issuers.Route(ctx, pan)
	if err != nil {
		return nil, err
	}
	return s.provision(ctx, ph, pan, exp, v, "card_bound_after_otp")
}

// provision makes the token, its keys and the vault row, atomically.
func (s *Service) provision(ctx context.Context, ph Device, pan card.PAN, exp card.Expiry, v bank.IDVVerdict, reason string) (*Provisioned, error) {
	now := s.Now().UTC()
	index, err := s.panIndex(ctx, pan)
	if err != nil {
		return nil, err
	}
	vault := VaultPAN{Index: index, BIN: pan.BIN(), Last4: pan.Last4()}
	if existing, err := s.vaultByPAN(ctx, pan.Digits()); err == nil {
		vault = existing
	} else if fault.KindOf(err) != fault.NotFound {
		return nil, err
	} else {
		vault.ID = id.New("pan")
		vault.PAR = newPAR()
		sealed, err := s.Keys.Seal(ctx, []byte(pan.Digits()), []byte("vault:"+vault.ID))
		if err != nil {
			return nil, err
		}
		vault.Sealed = sealed
	}
	aid := AIDDebit
	if v.Product == bank.Credit {
		aid = AIDCredit
	}
	root, err := s.Keys.ActiveRoot(ctx) // new tokens' keys come from the active EMV root
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < 5; attempt++ {
		num, err := s.newTokenNumber(ctx, v.TokenRange)
		if err != nil {
			return nil, err
		}
		tok := Token{Number: num, PANID: vault.ID, PAR: vault.PAR, PANLast4: pan.Last4(), PhoneID: ph.ID, AccountID: ph.AccountID,
			Domain: DomainNFC, State: Active, Expiry: exp, PSN: "00", BankID: v.BankID, Product: string(v.Product), AID: aid,
			BankName: v.BankName, CardArt: v.CardArt, CreatedAt: now, NextKey: 1, KeyRoot: root}
		luks, batch, err := s.keyBatch(ctx, ph, tok, 1)
		if err != nil {
			return nil, err
		}
		tok.NextKey = 1 + len(luks)
		used, err := s.Store.CreateCard(ctx, NewCard{Vault: vault, Token: tok, LUKs: luks,
			Event: TokenEvent{ID: id.New("tev"), Token: num.Digits(), From: "", To: string(Active), Actor: "account:" + ph.AccountID, Reason: reason, At: now}})
		if fault.CodeOf(err) == CodeTokenTaken {
			continue
		}
		if err != nil {
			return nil, err
		}
		tok.PANID, tok.PAR = used.ID, used.PAR
		if t, err := s.Store.Token(ctx, num.Digits()); err == nil {
			tok.Default = t.Default
		}
		return &Provisioned{Token: tok, BankName: v.BankName, CardArt: v.CardArt, KeyBatch: batch}, nil
	}
	return nil, fault.E(fault.Internal, "token_exhausted", "could not find a free token number")
}

// TokenRangePrefix returns the 6-digit token BIN prefix of a bank's range.
func TokenRangePrefix(rangeIndex int) string { return fmt.Sprintf(tokenBIN+"%02d", rangeIndex) }

// tokenBIN is the first four digits of every token range.
const tokenBIN = "6288"

// IMKName names the issuer master key of a token range in the key store:
// "token-range-" and the token's first six digits. The names of the 100
// ranges of TokenRangePrefix are made once (imkNames): every
// authorization asks for one.
func IMKName(tokenDigits string) string {
	p := tokenDigits[:6]
	if p[:4] == tokenBIN && isDigit(p[4]) && isDigit(p[5]) {
		return imkNames[int(p[4]-'0')*10+int(p[5]-'0')]
	}
	return imkNamePrefix + p
}

const imkNamePrefix = "token-range-"

// imkNames are IMKName of the ranges of TokenRangePrefix, by range index.
var imkNames = func() (n [100]string) {
	for i := range n {
		n[i] = imkNamePrefix + TokenRangePrefix(i)
	}
	return n
}()

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (s *Service) newTokenNumber(ctx context.Context, rangeIndex int) (card.Token, error) {
	if rangeIndex < 1 || rangeIndex > 99 {
		return card.Token{}, fault.E(fault.Internal, "token_range", "bank has no token range")
	}
	for {
		n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000_000))
		body := TokenRangePrefix(rangeIndex) + fmt.Sprintf("%09d", n.Int64())
		digits := body + string(card.LuhnDigit(body))
		// A token is never equal to a PAN we hold.
		if _, err := s.vaultByPAN(ctx, digits); err == nil {
			continue
		}
		return card.ParseToken(digits)
	}
}

func newPAR() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 25)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "U001" + string(b) // 29 characters: BIN controller id + 25
}

// KeyBatch is the plaintext of a sealed key batch, as the phone's secure
// element reads it after opening it with its device key: the key store
// makes it (keystore.SealBatch); the token service only passes it on sealed.
type KeyBatch = keystore.BatchPlaintext

// BatchKey is one limited-use key in a batch.
type BatchKey = keystore.BatchKey

func (s *Service) keyBatch(ctx context.Context, ph Device, tok Token, first int) ([]LUK, []byte, error) {
	now := s.Now().UTC()
	exp := now.Add(s.LUKTTL)
	sealed, err := s.Keys.KeyBatch(ctx, keystore.Batch{Range: IMKName(tok.Number.Digits()), Root: tok.KeyRoot, Alg: s.Alg,
		PAN: tok.Number.Digits(), PSN: tok.PSN, First: first, Count: s.LUKBatch, Expires: exp, DeviceKey: ph.PublicKey})
	if err != nil {
		return nil, nil, err
	}
	luks := make([]LUK, 0, s.LUKBatch)
	for i := first; i < first+s.LUKBatch; i++ {
		luks = append(luks, LUK{Token: tok.Number.Digits(), Index: i, IssuedAt: now, ExpiresAt: exp})
	}
	return luks, sealed, nil
}

// Cards lists the live (not deleted) tokens on a phone, default first,
// with the bank's name and card art. It fails with the store's errors.
func (s *Service) Cards(ctx context.Context, phoneID string) ([]Token, error) {
	toks, err := s.Store.PhoneTokens(ctx, phoneID)
	if err != nil || s.Issuers == nil {
		return toks, err
	}
	for i := range toks {
		toks[i].BankName, toks[i].CardArt, _ = s.Issuers.Bank(toks[i].BankID)
	}
	return toks, nil
}

// phoneToken returns a live token on the phone, or fault.NotFound.
func (s *Service) phoneToken(ctx context.Context, ph Device, token string) (Token, error) {
	t, err := s.Store.Token(ctx, token)
	if err != nil || t.PhoneID != ph.ID || t.State == Deleted {
		return Token{}, fault.E(fault.NotFound, CodeCardNotFound, "no such card on this phone")
	}
	return t, nil
}

// SetDefault makes a card the phone's default (first in PPSE).
func (s *Service) SetDefault(ctx context.Context, ph Device, token string) error {
	if _, err := s.phoneToken(ctx, ph, token); err != nil {
		return err
	}
	return s.Store.SetDefault(ctx, ph.ID, token)
}

// RemoveCard deletes a card's token (it can never be used again) and frees
// its slot on the phone.
func (s *Service) RemoveCard(ctx context.Context, ph Device, token, actor string) error {
	if _, err := s.phoneToken(ctx, ph, token); err != nil {
		return err
	}
	return s.Store.ChangeState(ctx, token, Deleted, actor, "removed by the card holder", s.Now().UTC())
}

// Suspend suspends a live token (e.g. wallet switched off); the network
// declines it from that moment.
func (s *Service) Suspend(ctx context.Context, token, actor, reason string) error {
	return s.Store.ChangeState(ctx, token, Suspended, actor, reason, s.Now().UTC())
}

// Resume makes a suspended token active again.
func (s *Service) Resume(ctx context.Context, token, actor, reason string) error {
	return s.Store.ChangeState(ctx, token, Active, actor, reason, s.Now().UTC())
}

// Outbox returns the newest one-time-code messages for an account (what
// the card holder's SMS inbox would show).
func (s *Service) Outbox(ctx context.Context, accountID string) ([]OTPMessage, error) {
	return s.Store.Outbox(ctx, accountID, 10)
}
