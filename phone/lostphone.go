package phone

import (
	"context"
	"errors"
	"net/http"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/walletapi/client"
)

// PhoneInfo is a phone of the account as the wallet service lists it.
type PhoneInfo = client.Phone

// Phones lists the phones of the logged-in account.
func (p *Phone) Phones(ctx context.Context) ([]PhoneInfo, error) {
	var out client.Phones
	_, err := p.call(ctx, "GET", "/v1/phones", nil, &out, false)
	return out.Phones, err
}

// SwitchResult is the wallet service's answer to a switch off or on.
type SwitchResult = client.Switch

// WalletOff switches the wallet off on a phone of the account (this one or
// another, e.g. a lost one); the request is signed by this phone's device
// key. It returns the wallet service's error (not_found for a phone not on
// the account).
func (p *Phone) WalletOff(ctx context.Context, phoneID, reason string) (SwitchResult, error) {
	var out SwitchResult
	_, err := p.call(ctx, "POST", "/v1/phones/"+phoneID+"/wallet-off", client.WalletOff{Reason: reason}, &out, true)
	return out, err
}

// WalletOn switches the wallet back on on a phone of the account with the
// account's password. An account with a passkey is refused
// (passkey_required): it switches on in the portal.
func (p *Phone) WalletOn(ctx context.Context, phoneID, password string) (SwitchResult, error) {
	var out SwitchResult
	_, err := p.call(ctx, "POST", "/v1/phones/"+phoneID+"/wallet-on", client.WalletOn{Password: password}, &out, true)
	return out, err
}

// Ask queues a ring ("ring") or a message ("message") for a phone's next
// check-in.
func (p *Phone) Ask(ctx context.Context, phoneID, kind, message string) error {
	_, err := p.call(ctx, "POST", "/v1/phones/"+phoneID+"/ask", client.Ask{Kind: kind, Message: message}, nil, true)
	return err
}

// Location is a place in WGS 84 degrees.
type Location struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Command is a request the phone took at its check-in.
type Command = client.Command

// CheckInResult is what a check-in did on the phone.
type CheckInResult struct {
	WalletOn  bool
	Commands  []Command
	Wiped     int  // limited-use keys destroyed
	FreshKeys bool // the wallet was switched back on: sync to take fresh keys
}

// CheckIn reports to the wallet service (with the phone's place, if given)
// and carries out what waited for it: when the wallet is switched off the
// secure element destroys every limited-use key of every card; rings and
// messages are returned for the screen; after a switch back on FreshKeys
// says to sync (Sync) for fresh keys. The card list is refreshed. It fails
// with the wallet service's error, or the secure element's.
func (p *Phone) CheckIn(ctx context.Context, loc *Location) (CheckInResult, error) {
	if p.Profile.PhoneID == "" {
		return CheckInResult{}, fault.E(fault.Invalid, "not_registered", "register this phone first (tapwallet phone register)")
	}
	var in any
	if loc != nil {
		in = client.CheckIn{Lat: &loc.Lat, Lon: &loc.Lon}
	}
	var out client.CheckInAnswer
	if _, err := p.call(ctx, "POST", "/v1/phones/"+p.Profile.PhoneID+"/checkin", in, &out, true); err != nil {
		return CheckInResult{}, err
	}
	res := CheckInResult{WalletOn: out.WalletOn, Commands: out.Commands, FreshKeys: out.FreshKeys}
	wipe := !out.WalletOn
	for _, c := range out.Commands {
		if c.Kind == "wipe_keys" {
			wipe = true
		}
	}
	if wipe {
		for _, c := range p.Profile.Cards {
			res.Wiped += p.SE.KeysLeft(c.Token)
			if err := p.SE.Wipe(c.Token); err != nil {
				return res, err
			}
		}
	}
	if _, err := p.Cards(ctx); err != nil {
		var ae *APIError
		if !wipe || !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
			return res, err
		}
		// Switched off: the wallet ended this phone's session with it, and
		// every card of the phone is suspended; log in again once it is on.
		for i := range p.Profile.Cards {
			p.Profile.Cards[i].State = "suspended"
		}
		return res, p.Save()
	}
	return res, nil
}
