package tsp

import (
	"context"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/id"
)

// Device is a phone as the token service knows it: the wallet service
// tells it which device and account a request is for (after checking that
// the device is the account's), and the device's public key, to which the
// limited-use keys are sealed. The token service keeps its own facts about
// a device (its cards, whether its wallet is off); it never reads the
// wallet service's records.
type Device struct {
	ID        string `json:"id"`
	AccountID string `json:"account_id"`
	// PublicKey is the device key (PKIX DER, P-256; devicekey.ParsePublic).
	PublicKey []byte `json:"public_key"`
}

// DeviceState is the token service's own record of a device.
type DeviceState struct {
	Cards int  // live (not deleted) tokens bound to the device
	Off   bool // the wallet on the device was switched off (DeviceOff)
}

// DeviceSwitch tells the token service that the wallet on a device went off
// or on (the lost-phone switch), by whom and why. Tokens names, for
// DeviceOn, the tokens the switch-off suspended (the only ones resumed).
type DeviceSwitch struct {
	DeviceID string   `json:"device_id"`
	Actor    string   `json:"actor"`
	Reason   string   `json:"reason"`
	Tokens   []string `json:"tokens,omitempty"`
	// At is when the token service was told (its clock; set by Service).
	At time.Time `json:"-"`
}

// Requestor is the token service as a token requestor (the wallet service)
// uses it: bind a card to a device (with the bank's ID&V and a one-time
// code), list, choose the default, remove, suspend and resume cards, a
// device's sync (fresh limited-use keys), the one-time-code outbox, and
// the wallet on a device going off or on. *Service is the in-process side;
// tsphttp.Client the remote one. Errors are fault errors with the kinds
// and codes each method of Service documents.
type Requestor interface {
	AddCard(ctx context.Context, r AddCardRequest) (AddCardResult, error)
	ConfirmOTP(ctx context.Context, d Device, bindingID, code string) (*Provisioned, error)
	Cards(ctx context.Context, deviceID string) ([]Token, error)
	SetDefault(ctx context.Context, d Device, token string) error
	RemoveCard(ctx context.Context, d Device, token, actor string) error
	Suspend(ctx context.Context, token, actor, reason string) error
	Resume(ctx context.Context, token, actor, reason string) error
	Replenish(ctx context.Context, d Device, logs []TokenLog) ([]SyncResult, error)
	Outbox(ctx context.Context, accountID string) ([]OTPMessage, error)
	Notify(ctx context.Context, accountID, message string) error
	DeviceOff(ctx context.Context, d DeviceSwitch) ([]string, error)
	DeviceOn(ctx context.Context, d DeviceSwitch) ([]string, error)
}

// TokenCheck is the token service as the card network uses it: the token
// check of an authorization (swapping the token for the PAN) and of a
// credit to the card (a refund). *Service is the in-process side;
// tsphttp.Client the remote one.
type TokenCheck interface {
	Authorize(ctx context.Context, r AuthRequest) (AuthResult, error)
	Credit(ctx context.Context, token string) (CreditResult, error)
}

var (
	_ Requestor  = (*Service)(nil)
	_ TokenCheck = (*Service)(nil)
)

func (d DeviceSwitch) check() error {
	if strings.TrimSpace(d.DeviceID) == "" {
		return fault.E(fault.Invalid, "device_missing", "no device named")
	}
	if strings.TrimSpace(d.Actor) == "" {
		return fault.E(fault.Invalid, "actor_missing", "no actor named for the change")
	}
	return nil
}

// DeviceOff is told that the wallet on a device was switched off: from then
// on no card can be added to it (fault.Forbidden CodeWalletOff), every
// active token of the device is suspended (the network declines it) and
// its unused limited-use keys expire — in one transaction of the token
// service's own store, so an add racing the switch either lands before it
// (and is suspended) or fails. It returns the tokens it suspended (none
// when told again). It fails with fault.Invalid for a missing device or
// actor, and with the store's errors.
func (s *Service) DeviceOff(ctx context.Context, d DeviceSwitch) ([]string, error) {
	return s.deviceSwitch(ctx, d, "wallet switched off", s.Store.DeviceOff)
}

// DeviceOn is told that the wallet on a device was switched back on: cards
// may be added again, and those of d.Tokens still suspended and on the
// device are resumed (tokens suspended for another reason and not named
// stay suspended). It returns the tokens it resumed, and fails like
// DeviceOff.
func (s *Service) DeviceOn(ctx context.Context, d DeviceSwitch) ([]string, error) {
	return s.deviceSwitch(ctx, d, "wallet switched back on", s.Store.DeviceOn)
}

// deviceSwitch checks d, fills in the default reason and the time, and
// hands it to the store.
func (s *Service) deviceSwitch(ctx context.Context, d DeviceSwitch, reason string, apply func(context.Context, DeviceSwitch) ([]string, error)) ([]string, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	if d.Reason == "" {
		d.Reason = reason
	}
	d.At = s.Now().UTC()
	return apply(ctx, d)
}

// Notify queues a message to a card holder in the account's outbox, which
// stands for SMS (what Outbox lists): the wallet service's own one-time
// codes go there too. It fails with fault.Invalid for an empty account or
// message, fault.Unavailable "no_outbox" when the store keeps no outbox
// (it is no Alerter), and with the store's errors.
func (s *Service) Notify(ctx context.Context, accountID, message string) error {
	if strings.TrimSpace(accountID) == "" || strings.TrimSpace(message) == "" {
		return fault.E(fault.Invalid, "message_missing", "a message needs an account and a text")
	}
	a, ok := s.Store.(Alerter)
	if !ok {
		return fault.E(fault.Unavailable, "no_outbox", "the token service keeps no outbox")
	}
	return a.AddMessage(ctx, OTPMessage{ID: id.New("otp"), AccountID: accountID, Message: message, CreatedAt: s.Now().UTC()})
}
