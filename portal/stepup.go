package portal

import (
	"context"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/wallet"
)

// Sensitive changes — switching a wallet back on, removing a passkey,
// changing the password — ask for the second factor again (step-up), not
// just the session: the passkey, or a one-time code on an account with no
// passkey, and the password. The second factor is checked first, then the
// password (wallet.Service.VerifyPasswordAfterFactor): a lock set by
// someone guessing the password never stops the owner.

// CodeTTL is how long a one-time code lasts.
const CodeTTL = 5 * time.Minute

// Step-up actions.
const (
	actionRemovePasskey  = "remove_passkey"
	actionChangePassword = "change_password"
)

func (p *Portal) codeHash(id, code string) []byte {
	return p.cfg.Keys.Index("portal one-time code", []byte(id+":"+code))
}

// --- switching a wallet back on ---

// walletOnSendCode is the first step without a passkey: a one-time code
// sent to the account's messages; the code page then asks for it and the
// password.
func (p *Portal) walletOnSendCode(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	ph, ok := p.offPhone(w, r, v)
	if !ok {
		return
	}
	if err := p.codeAllowed(ctx, v.AccountID); err != nil {
		p.fail(w, r, v, err)
		return
	}
	id, now := randomID(), p.now()
	code, err := p.sendCode(ctx, p.tr(r), v.AccountID, id, p.tr(r).T("code.wallet_on", "Name", ph.Name))
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	if err := p.cfg.Store.PutCeremony(ctx, Ceremony{IDHash: p.hashID(id), AccountID: v.AccountID, Kind: CeremonyWalletOnCode, PhoneID: ph.ID,
		Data: ceremonyData{Code: code}.encode(), ExpiresAt: now.Add(CodeTTL), CreatedAt: now}); err != nil {
		p.fail(w, r, v, err)
		return
	}
	p.render(w, r, http.StatusOK, "wallet_on_code", &view{Title: "page.code", Nav: "phones", Visit: v,
		Data: walletOnView{Phone: ph, Ceremony: id}})
}

func (p *Portal) walletOnCode(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	ph, err := p.cfg.Wallet.OwnedPhone(ctx, v.AccountID, r.PathValue("phone"))
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	if _, err := p.takeCode(r, v, CeremonyWalletOnCode, ph.ID); err != nil {
		p.fail(w, r, v, err)
		return
	}
	if err := p.stepUpPassword(ctx, r, v, ph.ID, r.PostForm.Get("password")); err != nil {
		p.fail(w, r, v, err)
		return
	}
	if _, err := p.cfg.Lost.SwitchOn(ctx, p.request(r, v, ph.ID, "")); err != nil {
		p.fail(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/phones/"+ph.ID+"?done=on", http.StatusSeeOther)
}

// codeAllowed is nil for an account with no passkey: a one-time code is
// its second factor. With a passkey it is fault.Forbidden
// "passkey_required".
// Codes are limited per account (Config.CodesPerAccount): fault.Limit
// "throttled" beyond.
func (p *Portal) codeAllowed(ctx context.Context, accountID string) error {
	has, err := p.HasPasskey(ctx, accountID)
	if err == nil && has {
		err = fault.E(fault.Forbidden, "passkey_required", "this account has a passkey: confirm with it (a one-time code is not enough)")
	}
	if err == nil {
		if ok, wait := p.codes.Allow(accountID); !ok {
			err = fault.E(fault.Limit, "throttled", "too many one-time codes for this account: try again in %d seconds", int(wait.Seconds())+1)
		}
	}
	return err
}

// takeCode takes the form's code ceremony (of the visitor, the kind and
// the phone) and checks the form's code against it, once; a wrong code is
// fault.Unauthorized "wrong_code", recorded on the phone if there is one.
func (p *Portal) takeCode(r *http.Request, v *visit, kind, phoneID string) (ceremonyData, error) {
	ctx := r.Context()
	id := r.PostForm.Get("ceremony")
	c, err := p.takeCeremony(ctx, id, v.AccountID, kind, phoneID)
	if err != nil {
		return ceremonyData{}, err
	}
	cd, err := parseCeremonyData(c.Data)
	if err != nil {
		return ceremonyData{}, err
	}
	if !p.codeOK(id, r.PostForm.Get("code"), cd.Code) {
		if phoneID != "" {
			p.cfg.Wallet.Record(ctx, wallet.Event{AccountID: v.AccountID, PhoneID: phoneID, Kind: wallet.EventWalletOnFailed, Detail: "wrong one-time code", Source: source(r)})
		}
		return ceremonyData{}, fault.E(fault.Unauthorized, "wrong_code", "wrong code: start again (a new code will be sent)")
	}
	return cd, nil
}

// stepUpPassword checks the password after the second factor, recording a
// wrong one as a refused switch-on when phoneID names the phone.
func (p *Portal) stepUpPassword(ctx context.Context, r *http.Request, v *visit, phoneID, password string) error {
	_, err := p.cfg.Wallet.VerifyPasswordAfterFactor(ctx, v.AccountID, password, source(r))
	if err != nil && phoneID != "" {
		p.cfg.Wallet.Record(ctx, wallet.Event{AccountID: v.AccountID, PhoneID: phoneID, Kind: wallet.EventWalletOnFailed, Detail: "wrong password", Source: source(r)})
	}
	return err
}

func (p *Portal) walletOnBegin(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	if _, err := readPasskeyBody(r); err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	ph, err := p.cfg.Wallet.OwnedPhone(ctx, v.AccountID, r.PathValue("phone"))
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	if ph.WalletOn {
		p.writeJSONError(w, r, fault.E(fault.Conflict, "wallet_on", "the wallet on this phone is already on"))
		return
	}
	id := randomID()
	opts, err := p.beginAssertion(ctx, v.AccountID, CeremonyWalletOn, ph.ID, id, time.Time{}, ceremonyData{})
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ceremony": id, "options": opts})
}

// verifiedAssertion reads the passkey script's finishing body, takes its
// ceremony (of the visitor, the kind and the phone) and verifies the
// assertion; it returns the body and the ceremony's data.
func (p *Portal) verifiedAssertion(r *http.Request, v *visit, kind, phoneID, what string) (passkeyBody, ceremonyData, error) {
	ctx := r.Context()
	body, err := readPasskeyBody(r)
	if err != nil {
		return body, ceremonyData{}, err
	}
	c, err := p.takeCeremony(ctx, body.Ceremony, v.AccountID, kind, phoneID)
	if err != nil {
		return body, ceremonyData{}, err
	}
	cd, err := p.finishAssertion(ctx, c, body.Credential, what, source(r))
	return body, cd, err
}

func (p *Portal) walletOnFinish(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	ph, err := p.cfg.Wallet.OwnedPhone(ctx, v.AccountID, r.PathValue("phone"))
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	body, _, err := p.verifiedAssertion(r, v, CeremonyWalletOn, ph.ID, "switching the wallet on")
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	if err := p.stepUpPassword(ctx, r, v, ph.ID, body.Password); err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	if _, err := p.cfg.Lost.SwitchOn(ctx, p.request(r, v, ph.ID, "")); err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect": "/phones/" + ph.ID + "?done=on"})
}

// --- removing a passkey, changing the password ---

// stepUpBegin starts the passkey step of a sensitive change (JSON):
// remove_passkey names the passkey (id, base64url), change_password
// nothing. It answers the ceremony and the assertion options.
func (p *Portal) stepUpBegin(action string) func(w http.ResponseWriter, r *http.Request, v *visit) {
	return func(w http.ResponseWriter, r *http.Request, v *visit) {
		ctx := r.Context()
		body, err := readPasskeyBody(r)
		if err != nil {
			p.writeJSONError(w, r, err)
			return
		}
		cd := ceremonyData{Action: action}
		if action == actionRemovePasskey {
			if _, err := p.ownPasskey(ctx, v.AccountID, body.ID); err != nil {
				p.writeJSONError(w, r, err)
				return
			}
			cd.Arg = body.ID
		}
		id := randomID()
		opts, err := p.beginAssertion(ctx, v.AccountID, CeremonyStepUp, "", id, time.Time{}, cd)
		if err != nil {
			p.writeJSONError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ceremony": id, "options": opts})
	}
}

// stepUpFinish verifies the passkey, then the password, then makes the
// change the ceremony was begun for.
func (p *Portal) stepUpFinish(w http.ResponseWriter, r *http.Request, v *visit) {
	body, cd, err := p.verifiedAssertion(r, v, CeremonyStepUp, "", "confirming a change")
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	next, err := p.change(r.Context(), r, v, cd, body.Password, body.NewPassword)
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect": next})
}

// change checks the password (after the second factor) and makes a
// step-up's change; it returns where to go next.
func (p *Portal) change(ctx context.Context, r *http.Request, v *visit, cd ceremonyData, password, newPassword string) (string, error) {
	if err := p.stepUpPassword(ctx, r, v, "", password); err != nil {
		return "", err
	}
	switch cd.Action {
	case actionRemovePasskey:
		id, err := p.ownPasskey(ctx, v.AccountID, cd.Arg)
		if err != nil {
			return "", err
		}
		if err := p.cfg.Store.RemovePasskey(ctx, v.AccountID, id); err != nil {
			return "", err
		}
		p.cfg.Wallet.Record(ctx, wallet.Event{AccountID: v.AccountID, Kind: wallet.EventPasskeyRemoved, Source: source(r)})
		return "/settings?done=passkey-gone", nil
	case actionChangePassword:
		if err := p.cfg.Wallet.ChangePassword(ctx, v.AccountID, newPassword, v.Token, source(r)); err != nil {
			return "", err
		}
		return "/settings?done=password", nil
	}
	return "", fault.E(fault.Invalid, "bad_action", "this verification was for nothing the portal knows: start again")
}

// ownPasskey decodes a passkey id (base64url) and checks it is one of the
// account's; any other is fault.NotFound "passkey_not_found".
func (p *Portal) ownPasskey(ctx context.Context, accountID, b64 string) ([]byte, error) {
	notFound := fault.E(fault.NotFound, "passkey_not_found", "no such passkey on this account")
	id, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil || len(id) == 0 || len(id) > 1024 {
		return nil, notFound
	}
	keys, err := p.cfg.Store.Passkeys(ctx, accountID)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if string(k.ID) == string(id) {
			return id, nil
		}
	}
	return nil, notFound
}

// passwordSendCode is the first step of changing the password on an
// account with no passkey: a one-time code to its messages, then a page
// asking for the code, the password and the new password.
func (p *Portal) passwordSendCode(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	if err := p.codeAllowed(ctx, v.AccountID); err != nil {
		p.fail(w, r, v, err)
		return
	}
	id, now := randomID(), p.now()
	code, err := p.sendCode(ctx, p.tr(r), v.AccountID, id, p.tr(r).T("code.password"))
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	if err := p.cfg.Store.PutCeremony(ctx, Ceremony{IDHash: p.hashID(id), AccountID: v.AccountID, Kind: CeremonyStepUpCode,
		Data: ceremonyData{Code: code, Action: actionChangePassword}.encode(), ExpiresAt: now.Add(CodeTTL), CreatedAt: now}); err != nil {
		p.fail(w, r, v, err)
		return
	}
	p.render(w, r, http.StatusOK, "password_code", &view{Title: "page.password", Nav: "settings", Visit: v, Data: id})
}

func (p *Portal) passwordCode(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	cd, err := p.takeCode(r, v, CeremonyStepUpCode, "")
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	next, err := p.change(ctx, r, v, cd, r.PostForm.Get("password"), r.PostForm.Get("new_password"))
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}
