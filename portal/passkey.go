package portal

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/lostphone"
	"github.com/tapwallet/tapwallet/wallet"
)

// CeremonyTTL is how long a passkey ceremony may take.
const CeremonyTTL = 3 * time.Minute

// user is an account as WebAuthn sees it.
type user struct {
	handle []byte
	email  string
	creds  []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.handle }
func (u *user) WebAuthnName() string                       { return u.email }
func (u *user) WebAuthnDisplayName() string                { return u.email }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// relyingParty returns the WebAuthn relying party for the portal's
// address, or fault.Unavailable when passkeys cannot work there.
func (p *Portal) relyingParty() (*webauthn.WebAuthn, error) {
	if !p.PasskeysUsable() {
		return nil, fault.E(fault.Unavailable, "passkeys_unavailable", "passkeys work only when the portal is opened at a domain name, such as %s", "http://localhost")
	}
	return webauthn.New(&webauthn.Config{
		RPID:                  p.rpID,
		RPDisplayName:         "tapwallet",
		RPOrigins:             []string{p.origin},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
		},
	})
}

func (p *Portal) loadUser(ctx context.Context, accountID string) (*user, error) {
	a, err := p.cfg.Wallet.Account(ctx, accountID)
	if err != nil {
		return nil, err
	}
	fresh := make([]byte, 32)
	rand.Read(fresh)
	h, err := p.cfg.Store.WebAuthnHandle(ctx, accountID, fresh)
	if err != nil {
		return nil, err
	}
	keys, err := p.cfg.Store.Passkeys(ctx, accountID)
	if err != nil {
		return nil, err
	}
	u := &user{handle: h, email: a.Email}
	for _, k := range keys {
		var c webauthn.Credential
		if err := json.Unmarshal(k.Record, &c); err != nil {
			return nil, fault.E(fault.Internal, "passkey_record", "a stored passkey is damaged")
		}
		u.creds = append(u.creds, c)
	}
	return u, nil
}

func (p *Portal) hashID(id string) []byte { return p.cfg.Keys.Index("portal ceremony", []byte(id)) }

// ceremonyData is what a ceremony keeps: the WebAuthn challenge of a
// passkey step or a one-time code's keyed hash, which factors are proven
// already, and what a step-up is for.
type ceremonyData struct {
	WebAuthn     *webauthn.SessionData `json:"webauthn,omitempty"`
	Code         []byte                `json:"code,omitempty"`
	PasswordDone bool                  `json:"password_done,omitempty"` // the password was checked before the second factor
	FactorDone   bool                  `json:"factor_done,omitempty"`   // the passkey was verified; the password comes next
	Action       string                `json:"action,omitempty"`        // a step-up's action
	Arg          string                `json:"arg,omitempty"`           // its argument (a passkey id, base64url)
}

func (c ceremonyData) encode() []byte {
	b, _ := json.Marshal(c)
	return b
}

func parseCeremonyData(b []byte) (ceremonyData, error) {
	var cd ceremonyData
	if err := json.Unmarshal(b, &cd); err != nil {
		return cd, fault.E(fault.Internal, "ceremony_data", "the stored ceremony is damaged")
	}
	return cd, nil
}

// beginAssertion starts a passkey assertion for the account and stores its
// challenge under a ceremony, with extra; it returns the options for the
// browser.
func (p *Portal) beginAssertion(ctx context.Context, accountID, kind, phoneID, id string, expires time.Time, extra ceremonyData) (*protocol.CredentialAssertion, error) {
	rp, err := p.relyingParty()
	if err != nil {
		return nil, err
	}
	u, err := p.loadUser(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if len(u.creds) == 0 {
		return nil, fault.E(fault.Invalid, "no_passkey", "this account has no passkey yet")
	}
	opts, sd, err := rp.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "passkey_begin", "cannot start the passkey check")
	}
	extra.WebAuthn = sd
	data := extra.encode()
	now := p.now()
	if expires.IsZero() || expires.After(now.Add(CeremonyTTL)) {
		expires = now.Add(CeremonyTTL)
	}
	if err := p.cfg.Store.PutCeremony(ctx, Ceremony{IDHash: p.hashID(id), AccountID: accountID, Kind: kind, PhoneID: phoneID, Data: data, ExpiresAt: expires, CreatedAt: now}); err != nil {
		return nil, err
	}
	return opts, nil
}

// finishAssertion checks the browser's assertion against a ceremony taken
// from the store, saves the passkey's counter, and records a failure as a
// security event; it returns the ceremony's data. It fails with
// fault.Unauthorized "passkey_failed".
func (p *Portal) finishAssertion(ctx context.Context, c Ceremony, credential []byte, what, src string) (ceremonyData, error) {
	rp, err := p.relyingParty()
	if err != nil {
		return ceremonyData{}, err
	}
	cd, err := parseCeremonyData(c.Data)
	if err != nil || cd.WebAuthn == nil || cd.WebAuthn.Challenge == "" {
		return ceremonyData{}, fault.E(fault.Invalid, "ceremony_not_started", "the passkey check was not started: start again")
	}
	sd := *cd.WebAuthn
	u, err := p.loadUser(ctx, c.AccountID)
	if err != nil {
		return ceremonyData{}, err
	}
	bad := func(why string) error {
		p.cfg.Wallet.Record(ctx, wallet.Event{AccountID: c.AccountID, PhoneID: c.PhoneID, Kind: wallet.EventPasskeyFailed, Detail: what + ": " + why, Source: src})
		return fault.E(fault.Unauthorized, "passkey_failed", "the passkey did not verify: start again")
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		return ceremonyData{}, bad("unreadable assertion")
	}
	cred, err := rp.ValidateLogin(u, sd, parsed)
	if err != nil {
		return ceremonyData{}, bad("assertion refused")
	}
	if cred.Authenticator.CloneWarning {
		return ceremonyData{}, bad("signature counter went backwards (cloned authenticator?)")
	}
	rec, _ := json.Marshal(cred)
	return cd, p.cfg.Store.UsePasskey(ctx, c.AccountID, cred.ID, cred.Authenticator.SignCount, rec, p.now())
}

// takeCeremony takes a ceremony of the visitor's account and of the
// expected kind (and phone); any other is fault.NotFound.
func (p *Portal) takeCeremony(ctx context.Context, id, accountID, kind, phoneID string) (Ceremony, error) {
	notFound := fault.E(fault.NotFound, "ceremony_not_found", "this verification is unknown or was used already: start again")
	if id == "" {
		return Ceremony{}, notFound
	}
	return p.cfg.Store.TakeCeremony(ctx, p.hashID(id), Ceremony{AccountID: accountID, Kind: kind, PhoneID: phoneID}, p.now())
}

// --- adding and removing passkeys ---

func (p *Portal) passkeyAddBegin(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	body, err := readPasskeyBody(r)
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	if _, err := p.cfg.Wallet.VerifyAccountPassword(ctx, v.AccountID, body.Password, source(r)); err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	rp, err := p.relyingParty()
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	u, err := p.loadUser(ctx, v.AccountID)
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range u.creds {
		exclude = append(exclude, c.Descriptor())
	}
	opts, sd, err := rp.BeginRegistration(u, webauthn.WithExclusions(exclude))
	if err != nil {
		p.writeJSONError(w, r, fault.Wrap(err, fault.Internal, "passkey_begin", "cannot start adding a passkey"))
		return
	}
	data, _ := json.Marshal(sd)
	id, now := randomID(), p.now()
	if err := p.cfg.Store.PutCeremony(ctx, Ceremony{IDHash: p.hashID(id), AccountID: v.AccountID, Kind: CeremonyRegister, Data: data, ExpiresAt: now.Add(CeremonyTTL), CreatedAt: now}); err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ceremony": id, "options": opts})
}

func (p *Portal) passkeyAddFinish(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	body, err := readPasskeyBody(r)
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	c, err := p.takeCeremony(ctx, body.Ceremony, v.AccountID, CeremonyRegister, "")
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	rp, err := p.relyingParty()
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(c.Data, &sd); err != nil {
		p.writeJSONError(w, r, fault.E(fault.Internal, "ceremony_data", "the stored ceremony is damaged"))
		return
	}
	u, err := p.loadUser(ctx, v.AccountID)
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body.Credential)
	if err != nil {
		p.writeJSONError(w, r, fault.E(fault.Invalid, "passkey_failed", "the browser's answer could not be read: try again"))
		return
	}
	cred, err := rp.CreateCredential(u, sd, parsed)
	if err != nil {
		p.writeJSONError(w, r, fault.E(fault.Invalid, "passkey_failed", "the passkey could not be verified: try again"))
		return
	}
	rec, _ := json.Marshal(cred)
	if err := p.cfg.Store.AddPasskey(ctx, Passkey{ID: cred.ID, AccountID: v.AccountID, Name: body.Name, Record: rec, SignCount: cred.Authenticator.SignCount, CreatedAt: p.now()}); err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	p.cfg.Wallet.Record(ctx, wallet.Event{AccountID: v.AccountID, Kind: wallet.EventPasskeyAdded, Detail: body.Name, Source: source(r)})
	writeJSON(w, http.StatusOK, map[string]string{"redirect": "/settings?done=passkey-added"})
}

func (p *Portal) request(r *http.Request, v *visit, phoneID, reason string) lostphone.Request {
	return lostphone.Request{AccountID: v.AccountID, PhoneID: phoneID, Actor: "portal:" + v.AccountID, Source: source(r), Reason: reason}
}

// HasPasskey reports whether the account has a passkey (the wallet API
// then leaves switching a wallet back on to the portal).
func (p *Portal) HasPasskey(ctx context.Context, accountID string) (bool, error) {
	keys, err := p.cfg.Store.Passkeys(ctx, accountID)
	return len(keys) > 0, err
}
