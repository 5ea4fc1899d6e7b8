package walletapi

import (
	"context"
	"net/http"

	"github.com/tapwallet/tapwallet/devicekey"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/lostphone"
	"github.com/tapwallet/tapwallet/wallet"
	"github.com/tapwallet/tapwallet/walletapi/client"
)

// PasskeyChecker tells whether an account has a passkey (the portal's
// store does); an account with one switches a wallet back on only in the
// portal, where the passkey is asked for.
type PasskeyChecker interface {
	HasPasskey(ctx context.Context, accountID string) (bool, error)
}

// LostPhone is the lost-phone switch as the API uses it (*lostphone.Service).
type LostPhone interface {
	SwitchOff(ctx context.Context, r lostphone.Request) (lostphone.Result, error)
	SwitchOn(ctx context.Context, r lostphone.Request) (lostphone.Result, error)
	Ask(ctx context.Context, r lostphone.Request, kind, message string) (lostphone.Command, error)
	CheckIn(ctx context.Context, ph wallet.Phone, loc *lostphone.Location) (lostphone.CheckIn, error)
}

var _ LostPhone = (*lostphone.Service)(nil)

// MountLostPhone adds the lost-phone routes (docs/openapi.yaml):
//
//	POST /v1/phones/{phone}/wallet-off  switch a phone's wallet off
//	POST /v1/phones/{phone}/wallet-on   switch it back on (password; portal only with a passkey)
//	POST /v1/phones/{phone}/ask         ring it or show a message at its next check-in
//	POST /v1/phones/{phone}/checkin     the phone itself: report its place, take what waits for it
//	                                    (keys come from POST /v1/phones/{phone}/sync)
//
// wallet-off, wallet-on and ask need a session and a signature by the
// device key of any phone of the account — so a lost phone can be switched
// off from another one; checkin must be signed by the phone itself and
// needs no session: a switched-off phone, whose sessions ended, still
// checks in to take its key wipe and report its place.
func (a *API) MountLostPhone(lp LostPhone, passkeys PasskeyChecker) {
	a.mux.HandleFunc("POST /v1/phones/{phone}/wallet-off", a.signedByAccount(func(w http.ResponseWriter, r *http.Request, signer wallet.Phone, body []byte) {
		a.walletOff(w, r, lp, signer, body)
	}))
	a.mux.HandleFunc("POST /v1/phones/{phone}/wallet-on", a.codeLimited(a.signedByAccount(func(w http.ResponseWriter, r *http.Request, signer wallet.Phone, body []byte) {
		a.walletOn(w, r, lp, passkeys, signer, body)
	})))
	a.mux.HandleFunc("POST /v1/phones/{phone}/ask", a.signedByAccount(func(w http.ResponseWriter, r *http.Request, signer wallet.Phone, body []byte) {
		a.askPhone(w, r, lp, signer, body)
	}))
	a.mux.HandleFunc("POST /v1/phones/{phone}/checkin", a.signedByPhone(func(w http.ResponseWriter, r *http.Request, ph wallet.Phone, body []byte) {
		a.checkIn(w, r, lp, ph, body)
	}))
}

// signedByAccount requires a session and a request signed by the device
// key of any phone of the session's account (named by X-Phone-Id; the
// phone in the path may be another of the account's phones).
func (a *API) signedByAccount(h func(w http.ResponseWriter, r *http.Request, signer wallet.Phone, body []byte)) http.HandlerFunc {
	return a.authed(func(w http.ResponseWriter, r *http.Request, acc string) {
		body, err := readBody(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		signer, err := a.Wallet.VerifyPhone(r.Context(), acc, signedRequest(r, r.Header.Get(devicekey.HeaderPhone), body), source(r))
		if err != nil {
			if fault.KindOf(err) == fault.NotFound {
				// The signing phone is not the account's: a bad signature, not a missing phone.
				err = fault.E(fault.Unauthorized, "bad_signature", "the request is not signed by a phone of this account")
			}
			a.fail(w, r, err)
			return
		}
		a.holdSession(r, signer)
		h(w, r, signer, body)
	})
}

// signedByPhone requires only a request signed by the device key of the
// phone in the path (no session): the signature is the phone's proof.
func (a *API) signedByPhone(h func(w http.ResponseWriter, r *http.Request, ph wallet.Phone, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		phoneID := r.PathValue("phone")
		if hdr := r.Header.Get(devicekey.HeaderPhone); hdr != phoneID {
			a.fail(w, r, fault.E(fault.Unauthorized, "bad_signature", "the request must be signed by the phone it names"))
			return
		}
		ph, err := a.Wallet.Phone(r.Context(), phoneID)
		if err != nil {
			a.fail(w, r, fault.E(fault.Unauthorized, "bad_signature", "the request is not signed by a registered phone"))
			return
		}
		ph, err = a.Wallet.VerifyPhone(r.Context(), ph.AccountID, signedRequest(r, phoneID, body), source(r))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		h(w, r, ph, body)
	}
}

// SwitchJSON is the answer to wallet-off and wallet-on.
type SwitchJSON = client.Switch

func switchView(res lostphone.Result, msg string) SwitchJSON {
	j := SwitchJSON{Phone: PhoneView(res.Phone), Changed: res.Changed, Tokens: []string{}, Transit: []string{}, NoTransit: res.NoTransit, Message: msg}
	for _, t := range res.Tokens {
		j.Tokens = append(j.Tokens, last4(t))
	}
	j.Transit = append(j.Transit, res.Transit...)
	return j
}

type walletOffReq = client.WalletOff

func (a *API) walletOff(w http.ResponseWriter, r *http.Request, lp LostPhone, signer wallet.Phone, body []byte) {
	var req walletOffReq
	if len(body) > 0 {
		if err := decode(body, &req); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	res, err := lp.SwitchOff(r.Context(), lostphone.Request{AccountID: signer.AccountID, PhoneID: r.PathValue("phone"),
		Actor: "phone:" + signer.ID, Source: source(r), Reason: req.Reason})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, switchView(res, "the wallet is off: its cards are suspended and the phone wipes its keys at its next check-in"))
}

type walletOnReq = client.WalletOn

func (a *API) walletOn(w http.ResponseWriter, r *http.Request, lp LostPhone, passkeys PasskeyChecker, signer wallet.Phone, body []byte) {
	var req walletOnReq
	if err := decode(body, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	ctx := r.Context()
	target, err := a.Wallet.OwnedPhone(ctx, signer.AccountID, r.PathValue("phone"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if passkeys != nil {
		has, err := passkeys.HasPasskey(ctx, signer.AccountID)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if has {
			a.fail(w, r, fault.E(fault.Forbidden, "passkey_required", "this account has a passkey: switch the wallet back on in the portal, where the passkey is asked for"))
			return
		}
	}
	if _, err := a.Wallet.VerifyAccountPassword(ctx, signer.AccountID, req.Password, source(r)); err != nil {
		a.Wallet.Record(ctx, wallet.Event{AccountID: signer.AccountID, PhoneID: target.ID, Kind: wallet.EventWalletOnFailed, Detail: "wrong password (wallet API)", Source: source(r)})
		a.fail(w, r, err)
		return
	}
	res, err := lp.SwitchOn(ctx, lostphone.Request{AccountID: signer.AccountID, PhoneID: target.ID, Actor: "phone:" + signer.ID, Source: source(r)})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, switchView(res, "the wallet is on: the phone gets fresh keys at its next check-in"))
}

type askReq = client.Ask

func (a *API) askPhone(w http.ResponseWriter, r *http.Request, lp LostPhone, signer wallet.Phone, body []byte) {
	var req askReq
	if err := decode(body, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	c, err := lp.Ask(r.Context(), lostphone.Request{AccountID: signer.AccountID, PhoneID: r.PathValue("phone"), Actor: "phone:" + signer.ID, Source: source(r)}, req.Kind, req.Message)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, CommandJSON{ID: c.ID, Kind: c.Kind, Message: c.Message, At: c.CreatedAt})
}

// CommandJSON is a request waiting for (or handed to) a phone.
type CommandJSON = client.Command

type checkInReq = client.CheckIn

// CheckInJSON is the answer to a check-in.
type CheckInJSON = client.CheckInAnswer

func (a *API) checkIn(w http.ResponseWriter, r *http.Request, lp LostPhone, ph wallet.Phone, body []byte) {
	var req checkInReq
	if len(body) > 0 {
		if err := decode(body, &req); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	var loc *lostphone.Location
	switch {
	case req.Lat != nil && req.Lon != nil:
		loc = &lostphone.Location{Lat: *req.Lat, Lon: *req.Lon}
	case req.Lat != nil || req.Lon != nil:
		a.fail(w, r, fault.E(fault.Invalid, "bad_location", "give both lat and lon, or neither"))
		return
	}
	res, err := lp.CheckIn(r.Context(), ph, loc)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := CheckInJSON{WalletOn: res.WalletOn, Commands: []CommandJSON{}, FreshKeys: res.FreshKeys}
	for _, c := range res.Commands {
		out.Commands = append(out.Commands, CommandJSON{ID: c.ID, Kind: c.Kind, Message: c.Message, At: c.CreatedAt})
	}
	writeJSON(w, http.StatusOK, out)
}
