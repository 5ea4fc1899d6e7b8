// Package phone is the phone: the wallet app's side of the wallet API (log-in,
// registering the device, adding and managing cards) with a profile folder
// that keeps its settings and card list, and the secure element (package se)
// that keeps its keys. Requests that change cards are signed inside the
// secure element with the device key.
package phone

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/devicekey"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/se"
	"github.com/tapwallet/tapwallet/walletapi/client"
)

// Card is a card as the phone keeps it (no PAN: the phone never has it).
type Card struct {
	Token      string `json:"token"`
	TokenLast4 string `json:"token_last4"`
	PANLast4   string `json:"pan_last4"`
	Bank       string `json:"bank"`
	BankName   string `json:"bank_name"`
	Product    string `json:"product"`
	CardArt    string `json:"card_art"`
	AID        string `json:"aid"`
	Expiry     string `json:"expiry"` // MMYY
	PSN        string `json:"psn"`
	Default    bool   `json:"default"`
	State      string `json:"state"`
}

// Profile is what the phone app keeps in its profile folder.
type Profile struct {
	Server  string `json:"server"`
	Email   string `json:"email,omitempty"`
	Session string `json:"session,omitempty"`
	PhoneID string `json:"phone_id,omitempty"`
	Name    string `json:"name,omitempty"`
	Cards   []Card `json:"cards,omitempty"`
	// Pending holds the card bindings waiting for a one-time code, one per
	// card (no card number: its last 4 digits and expiry name it).
	Pending []Pending `json:"pending,omitempty"`
}

// Pending is a card binding that waits for its one-time code.
type Pending struct {
	PANLast4 string `json:"pan_last4"`
	Expiry   string `json:"expiry"`
	Binding  string `json:"binding_id"`
	SentTo   string `json:"sent_to"`
}

// Phone is a phone with its profile folder and secure element.
type Phone struct {
	Dir     string
	Profile Profile
	SE      *se.Element
	HTTP    *http.Client
	Now     func() time.Time

	base Profile // the profile as last read or written: what Save merges against
}

// ErrNoProfile is the code of the error Load returns for a folder that
// holds no phone profile.
const ErrNoProfile = "no_profile"

// Open opens (or creates) the phone whose profile lives in dir; server, if
// not empty, replaces the saved server URL.
func Open(dir, server string) (*Phone, error) {
	if dir == "" {
		return nil, fault.E(fault.Invalid, ErrNoProfile, "a phone needs a profile folder (--profile DIR)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "profile", "create the profile folder")
	}
	el, err := se.Open(filepath.Join(dir, "secure-element.json"))
	if err != nil {
		return nil, err
	}
	p := &Phone{Dir: dir, SE: el, HTTP: &http.Client{Timeout: 15 * time.Second}, Now: time.Now}
	if p.Profile, err = readProfile(dir); err != nil {
		return nil, err
	}
	p.base = p.Profile.clone()
	if server != "" {
		p.Profile.Server = strings.TrimRight(server, "/")
	}
	if p.Profile.Server == "" {
		p.Profile.Server = "http://127.0.0.1:8080"
	}
	return p, nil
}

// Load opens the phone whose profile lives in dir, which must exist: it
// creates nothing, and fails with fault.NotFound ErrNoProfile if dir holds
// no profile (a mistyped --profile must not make a new phone).
func Load(dir, server string) (*Phone, error) {
	if dir == "" {
		return nil, fault.E(fault.Invalid, ErrNoProfile, "a phone needs a profile folder (--profile DIR)")
	}
	if _, err := os.Stat(filepath.Join(dir, "profile.json")); errors.Is(err, os.ErrNotExist) {
		if _, derr := os.Stat(dir); errors.Is(derr, os.ErrNotExist) {
			return nil, fault.E(fault.NotFound, ErrNoProfile, "no phone profile at %s: the folder does not exist (check --profile, or start a phone with 'tapwallet phone signup' or 'phone login')", dir)
		}
		return nil, fault.E(fault.NotFound, ErrNoProfile, "no phone profile in %s: it holds no profile.json (check --profile, or start a phone with 'tapwallet phone signup' or 'phone login')", dir)
	} else if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "profile", "read the profile")
	}
	return Open(dir, server)
}

func readProfile(dir string) (Profile, error) {
	var pr Profile
	b, err := os.ReadFile(filepath.Join(dir, "profile.json"))
	if errors.Is(err, os.ErrNotExist) {
		return pr, nil
	}
	if err != nil {
		return pr, fault.Wrap(err, fault.Unavailable, "profile", "read the profile")
	}
	if err := json.Unmarshal(b, &pr); err != nil {
		return pr, fault.E(fault.Invalid, "profile", "profile.json in %s is damaged", dir)
	}
	return pr, nil
}

func (pr Profile) clone() Profile {
	pr.Cards = append([]Card(nil), pr.Cards...)
	pr.Pending = append([]Pending(nil), pr.Pending...)
	return pr
}

// Save writes the profile atomically, under the profile's lock. Another
// command may have saved the profile since this one read it: Save merges
// what this one changed (since it read or last saved it) into what the
// file now holds — a field or card this one left alone keeps the file's
// value — so that no command's update is lost.
func (p *Phone) Save() error {
	path := filepath.Join(p.Dir, "profile.json")
	unlock, err := se.Lock(path, true)
	if err != nil {
		return err
	}
	defer unlock()
	theirs, err := readProfile(p.Dir)
	if err != nil {
		return err
	}
	merged := mergeProfile(p.base, p.Profile, theirs)
	b, _ := json.MarshalIndent(merged, "", "  ")
	if err := se.WriteFile(path, b, "profile", "the profile"); err != nil {
		return err
	}
	p.Profile, p.base = merged, merged.clone()
	return nil
}

// mergeProfile is a three-way merge: base is what this command read, mine
// what it has now, theirs what the file holds now.
func mergeProfile(base, mine, theirs Profile) Profile {
	pick := func(b, m, t string) string {
		if m != b {
			return m
		}
		return t
	}
	out := Profile{
		Server:  pick(base.Server, mine.Server, theirs.Server),
		Email:   pick(base.Email, mine.Email, theirs.Email),
		Session: pick(base.Session, mine.Session, theirs.Session),
		PhoneID: pick(base.PhoneID, mine.PhoneID, theirs.PhoneID),
		Name:    pick(base.Name, mine.Name, theirs.Name),
	}
	out.Cards = merge3(base.Cards, mine.Cards, theirs.Cards, func(c Card) string { return c.Token })
	out.Pending = merge3(base.Pending, mine.Pending, theirs.Pending, func(c Pending) string { return c.PANLast4 + "/" + c.Expiry })
	return out
}

// merge3 merges lists of records with a key: a record this side added,
// changed or removed since base wins; otherwise the other side's stays.
// The order is mine, then what only theirs added.
func merge3[V comparable](base, mine, theirs []V, key func(V) string) []V {
	index := func(l []V) map[string]V {
		m := make(map[string]V, len(l))
		for _, v := range l {
			m[key(v)] = v
		}
		return m
	}
	b, m, t := index(base), index(mine), index(theirs)
	var out []V
	for _, v := range mine {
		k := key(v)
		old, wasThere := b[k]
		tv, inTheirs := t[k]
		switch {
		case !wasThere || old != v: // added or changed here
			out = append(out, v)
		case inTheirs: // left alone here: theirs
			out = append(out, tv)
		} // else: removed by them
	}
	for _, v := range theirs {
		k := key(v)
		if _, inMine := m[k]; inMine {
			continue
		}
		if _, wasThere := b[k]; !wasThere { // added by them; else removed here
			out = append(out, v)
		}
	}
	return out
}

// APIError is an error answer of the wallet API.
type APIError struct {
	Status  int
	Kind    string
	Code    string
	Message string
}

func (e *APIError) Error() string { return e.Message + " (" + e.Code + ")" }

// Fault converts an API error into a fault error of the same kind and code.
func (e *APIError) Fault() *fault.Error {
	return fault.E(fault.Kind(e.Kind), e.Code, "%s", e.Message)
}

// call sends a request; sign adds the device-key proof of possession.
func (p *Phone) call(ctx context.Context, method, path string, in, out any, sign bool) (int, error) {
	if strings.HasPrefix(path, "/v1/phones//") { // this phone's own resources, and it has no id
		return 0, fault.E(fault.Invalid, "not_registered", "this phone is not registered: run 'tapwallet phone register' (after 'phone login')")
	}
	var body []byte
	if in != nil {
		body, _ = json.Marshal(in)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.Profile.Server+path, bytes.NewReader(body))
	if err != nil {
		return 0, fault.Wrap(err, fault.Invalid, "bad_server", "bad server URL")
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if p.Profile.Session != "" {
		req.Header.Set("Authorization", "Bearer "+p.Profile.Session)
	}
	if sign {
		if p.Profile.PhoneID == "" {
			return 0, fault.E(fault.Invalid, "not_registered", "register this phone first (tapwallet phone register)")
		}
		ts := strconv.FormatInt(p.Now().Unix(), 10)
		var nb [12]byte
		rand.Read(nb[:])
		nonce := hex.EncodeToString(nb[:])
		sig, err := p.SE.Sign(devicekey.SigningString(method, path, ts, nonce, body))
		if err != nil {
			return 0, err
		}
		req.Header.Set(devicekey.HeaderPhone, p.Profile.PhoneID)
		req.Header.Set(devicekey.HeaderTime, ts)
		req.Header.Set(devicekey.HeaderNonce, nonce)
		req.Header.Set(devicekey.HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	}
	resp, err := p.HTTP.Do(req)
	if err != nil {
		return 0, fault.Wrap(err, fault.Unavailable, "server_down", "the wallet service at %s does not answer", p.Profile.Server)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, fault.Wrap(err, fault.Unavailable, "server_down", "reading the answer")
	}
	if resp.StatusCode >= 400 {
		var eb client.Error
		if json.Unmarshal(rb, &eb) != nil || eb.Error.Code == "" {
			return resp.StatusCode, &APIError{Status: resp.StatusCode, Kind: "internal", Code: "http_" + strconv.Itoa(resp.StatusCode), Message: "the server answered " + resp.Status}
		}
		return resp.StatusCode, &APIError{Status: resp.StatusCode, Kind: eb.Error.Kind, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	if out != nil {
		if err := json.Unmarshal(rb, out); err != nil {
			return resp.StatusCode, fault.E(fault.Internal, "bad_answer", "the server's answer is not the expected JSON")
		}
	}
	return resp.StatusCode, nil
}

// SignUp creates the account.
func (p *Phone) SignUp(ctx context.Context, email, password string) error {
	_, err := p.call(ctx, "POST", "/v1/signup", client.Credentials{Email: email, Password: password}, nil, false)
	if err == nil {
		p.Profile.Email = email
		err = p.Save()
	}
	return err
}

// LogIn logs in and keeps the session in the profile.
func (p *Phone) LogIn(ctx context.Context, email, password string) error {
	var s client.Session
	if _, err := p.call(ctx, "POST", "/v1/login", client.Credentials{Email: email, Password: password}, &s, false); err != nil {
		return err
	}
	p.Profile.Email, p.Profile.Session = email, s.Token
	return p.Save()
}

// LogOut ends the session.
func (p *Phone) LogOut(ctx context.Context) error {
	_, err := p.call(ctx, "POST", "/v1/logout", nil, nil, false)
	p.Profile.Session = ""
	if serr := p.Save(); err == nil {
		err = serr
	}
	return err
}

// Register registers this phone's device key under the logged-in account.
func (p *Phone) Register(ctx context.Context, name, model string) (string, error) {
	var out client.Phone
	_, err := p.call(ctx, "POST", "/v1/phones", client.RegisterPhone{Name: name, Model: model,
		PublicKey: base64.StdEncoding.EncodeToString(p.SE.PublicKey())}, &out, false)
	if err != nil {
		return "", err
	}
	p.Profile.PhoneID, p.Profile.Name = out.ID, name
	return out.ID, p.Save()
}

// AddResult is the outcome of adding a card: the card, or a step-up.
type AddResult struct {
	Card      *Card
	KeysLeft  int
	BindingID string
	SentTo    string
}

// AddCard sends the card's details to the wallet service (signed); on a
// step-up it returns the binding to answer with VerifyOTP and remembers it
// in the profile as the card's pending binding (PendingBinding).
func (p *Phone) AddCard(ctx context.Context, pan, expiry, cvn2 string) (AddResult, error) {
	var out client.Provisioned
	_, err := p.call(ctx, "POST", "/v1/phones/"+p.Profile.PhoneID+"/cards", client.AddCard{PAN: pan, Expiry: expiry, CVN2: cvn2}, &out, true)
	if err != nil {
		return AddResult{}, err
	}
	if out.Status == "otp_required" {
		pd := Pending{PANLast4: last4(pan), Expiry: expiry, Binding: out.BindingID, SentTo: out.SentTo}
		p.setPending(pd.PANLast4, pd.Expiry, &pd)
		return AddResult{BindingID: out.BindingID, SentTo: out.SentTo}, p.Save()
	}
	return p.install(out)
}

// PendingBinding returns the binding of the card (number and expiry)
// that waits for its one-time code, if AddCard left one.
func (p *Phone) PendingBinding(pan, expiry string) (Pending, bool) {
	for _, pd := range p.Profile.Pending {
		if pd.PANLast4 == last4(pan) && pd.Expiry == expiry {
			return pd, true
		}
	}
	return Pending{}, false
}

func (p *Phone) setPending(panLast4, expiry string, pd *Pending) {
	var keep []Pending
	for _, o := range p.Profile.Pending {
		if o.PANLast4 != panLast4 || o.Expiry != expiry {
			keep = append(keep, o)
		}
	}
	if pd != nil {
		keep = append(keep, *pd)
	}
	p.Profile.Pending = keep
}

func last4(pan string) string {
	if len(pan) < 4 {
		return pan
	}
	return pan[len(pan)-4:]
}

// VerifyOTP answers a step-up with the one-time code. The binding stops
// being pending when it succeeds, or when the service says it can no
// longer (expired, closed, too many wrong codes, unknown).
func (p *Phone) VerifyOTP(ctx context.Context, bindingID, code string) (AddResult, error) {
	var out client.Provisioned
	_, err := p.call(ctx, "POST", "/v1/phones/"+p.Profile.PhoneID+"/cards/verify", client.VerifyOTP{BindingID: bindingID, OTP: code}, &out, true)
	var ae *APIError
	if err == nil || errors.As(err, &ae) && ae.Code != "wrong_otp" && ae.Status < 500 {
		for _, pd := range p.Profile.Pending {
			if pd.Binding == bindingID {
				p.setPending(pd.PANLast4, pd.Expiry, nil)
			}
		}
	}
	if err != nil {
		if serr := p.Save(); serr != nil {
			return AddResult{}, errors.Join(err, serr)
		}
		return AddResult{}, err
	}
	return p.install(out)
}

func (p *Phone) install(out client.Provisioned) (AddResult, error) {
	sealed, err := base64.StdEncoding.DecodeString(out.KeyBatch)
	if err != nil || out.Token == "" {
		return AddResult{}, fault.E(fault.Internal, "bad_answer", "the server sent no key batch")
	}
	n, err := p.SE.InstallKeys(out.Token, sealed)
	if err != nil {
		return AddResult{}, err
	}
	c := cardOf(out.Card)
	c.Token = out.Token
	p.upsertCard(c)
	if err := p.Save(); err != nil {
		return AddResult{}, err
	}
	return AddResult{Card: &c, KeysLeft: n}, nil
}

// cardOf is a card of the wallet API's answer as the phone keeps it (its
// token number is the card's handle).
func cardOf(c client.Card) Card {
	return Card{Token: c.TokenHandle, TokenLast4: c.TokenLast4, PANLast4: c.PANLast4, Bank: c.Bank, BankName: c.BankName, Product: c.Product,
		CardArt: c.CardArt, AID: c.AID, Expiry: c.Expiry, PSN: c.PSN, Default: c.Default, State: c.State}
}

func (p *Phone) upsertCard(c Card) {
	for i := range p.Profile.Cards {
		if p.Profile.Cards[i].Token == c.Token {
			p.Profile.Cards[i] = c
			return
		}
	}
	p.Profile.Cards = append(p.Profile.Cards, c)
}

// Cards fetches the card list from the wallet service and refreshes the
// profile's copy (default first).
func (p *Phone) Cards(ctx context.Context) ([]Card, error) {
	var out client.Cards
	if _, err := p.call(ctx, "GET", "/v1/phones/"+p.Profile.PhoneID+"/cards", nil, &out, false); err != nil {
		return nil, err
	}
	local := map[string]Card{}
	for _, c := range p.Profile.Cards {
		local[c.Token] = c
	}
	var cards []Card
	for _, c := range out.Cards {
		card := cardOf(c)
		if l, ok := local[card.Token]; ok {
			card.PSN = l.PSN
		}
		if card.PSN == "" {
			card.PSN = "00"
		}
		cards = append(cards, card)
	}
	p.Profile.Cards = cards
	return cards, p.Save()
}

// FindCard finds a card by the last four digits of its token or PAN, or by
// its full token number.
func (p *Phone) FindCard(ref string) (Card, error) {
	var found []Card
	for _, c := range p.Profile.Cards {
		if c.Token == ref || c.TokenLast4 == ref || c.PANLast4 == ref {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 0:
		return Card{}, fault.E(fault.NotFound, "card_not_found", "no card %q on this phone (run 'tapwallet phone cards')", ref)
	case 1:
		return found[0], nil
	}
	return Card{}, fault.E(fault.Invalid, "ambiguous_card", "more than one card matches %q: give the token's last 4 digits", ref)
}

// SetDefault makes a card the default.
func (p *Phone) SetDefault(ctx context.Context, ref string) error {
	c, err := p.FindCard(ref)
	if err != nil {
		return err
	}
	if _, err := p.call(ctx, "PUT", "/v1/phones/"+p.Profile.PhoneID+"/cards/"+c.Token+"/default", nil, nil, true); err != nil {
		return err
	}
	_, err = p.Cards(ctx)
	return err
}

// RemoveCard deletes a card's token and wipes its keys.
func (p *Phone) RemoveCard(ctx context.Context, ref string) error {
	c, err := p.FindCard(ref)
	if err != nil {
		return err
	}
	if _, err := p.call(ctx, "DELETE", "/v1/phones/"+p.Profile.PhoneID+"/cards/"+c.Token, nil, nil, true); err != nil {
		return err
	}
	if err := p.SE.Wipe(c.Token); err != nil {
		return err
	}
	_, err = p.Cards(ctx)
	return err
}

// OTPMessages reads the one-time-code messages waiting for the account (the
// phone's SMS inbox in this system), newest first.
func (p *Phone) OTPMessages(ctx context.Context) ([]string, error) {
	var out client.Messages
	if _, err := p.call(ctx, "GET", "/v1/otp", nil, &out, false); err != nil {
		return nil, err
	}
	var msgs []string
	for _, m := range out.Messages {
		msgs = append(msgs, m.Message)
	}
	return msgs, nil
}

// LatestOTP extracts the code from the newest one-time-code message.
func (p *Phone) LatestOTP(ctx context.Context) (string, error) {
	msgs, err := p.OTPMessages(ctx)
	if err != nil {
		return "", err
	}
	if len(msgs) == 0 {
		return "", fault.E(fault.NotFound, "no_otp", "no one-time code has been sent")
	}
	for _, f := range strings.Fields(msgs[0]) {
		f = strings.TrimRight(f, ".")
		if len(f) == 6 && strings.Trim(f, "0123456789") == "" {
			return f, nil
		}
	}
	return "", fault.E(fault.NotFound, "no_otp", "the newest message holds no code")
}

// Describe is a one-line description of a card.
func (c Card) Describe() string {
	def := ""
	if c.Default {
		def = " (default)"
	}
	return fmt.Sprintf("%s %s card ending %s, token ending %s%s", c.BankName, c.Product, c.PANLast4, c.TokenLast4, def)
}
