package tsphttp

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/reqid"
	"github.com/tapwallet/tapwallet/tsp"
)

// Client is the token service in another process, reached at URL (e.g.
// "http://tsp.internal:8443"): tsp.Requestor for the wallet service and
// tsp.TokenCheck for the network. Its errors are the service's fault
// errors, or fault.Unavailable "tsp_unreachable" when it does not answer.
type Client struct {
	URL    string
	Secret string       // sent as a bearer token when set
	HTTP   *http.Client // nil: a client with a 10 s timeout
}

var (
	_ tsp.Requestor  = (*Client)(nil)
	_ tsp.TokenCheck = (*Client)(nil)
)

var defaultHTTP = &http.Client{Timeout: 10 * time.Second}

// call posts in as JSON to the call name and decodes the answer into out.
func call[In, Out any](ctx context.Context, c *Client, name string, in In) (Out, error) {
	var out Out
	body, err := json.Marshal(in)
	if err != nil {
		return out, fault.Wrap(err, fault.Internal, "tsp_request", "cannot encode the %s request", name)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+Prefix+name, bytes.NewReader(body))
	if err != nil {
		return out, fault.Wrap(err, fault.Invalid, "tsp_url", "bad token service address")
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Secret != "" {
		req.Header.Set("Authorization", "Bearer "+c.Secret)
	}
	if id := reqid.From(ctx); id != "" {
		// The token service's log lines of this call carry the id of the
		// request that made it.
		req.Header.Set(reqid.Header, id)
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return out, fault.Wrap(err, fault.Unavailable, "tsp_unreachable", "the token service did not answer")
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return out, fault.Wrap(err, fault.Unavailable, "tsp_unreachable", "the token service's answer broke off")
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error errorJSON }
		if json.Unmarshal(data, &e) != nil || e.Error.Kind == "" {
			return out, fault.E(fault.Unavailable, "tsp_unreachable", "the token service answered HTTP %d", resp.StatusCode)
		}
		return out, fault.E(e.Error.Kind, e.Error.Code, "%s", e.Error.Message)
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return out, fault.Wrap(err, fault.Internal, "tsp_answer", "the token service's answer to %s is not its JSON", name)
	}
	return out, nil
}

// AddCard binds a card to a device; see tsp.Service.AddCard.
func (c *Client) AddCard(ctx context.Context, r tsp.AddCardRequest) (tsp.AddCardResult, error) {
	res, err := call[addCardJSON, addCardResultJSON](ctx, c, "add-card", addCardJSON{Device: r.Device, PAN: r.PAN, Expiry: r.Expiry, CVN2: r.CVN2})
	if err != nil {
		return tsp.AddCardResult{}, err
	}
	p, err := res.Card.provisioned()
	return tsp.AddCardResult{Card: p, BindingID: res.BindingID, SentTo: res.SentTo}, err
}

// ConfirmOTP finishes a step-up binding; see tsp.Service.ConfirmOTP.
func (c *Client) ConfirmOTP(ctx context.Context, d tsp.Device, bindingID, code string) (*tsp.Provisioned, error) {
	res, err := call[confirmJSON, *provisionedJSON](ctx, c, "confirm-otp", confirmJSON{Device: d, BindingID: bindingID, Code: code})
	if err != nil {
		return nil, err
	}
	return res.provisioned()
}

// Cards lists a device's live cards; see tsp.Service.Cards.
func (c *Client) Cards(ctx context.Context, deviceID string) ([]tsp.Token, error) {
	res, err := call[cardJSON, []tokenJSON](ctx, c, "cards", cardJSON{DeviceID: deviceID})
	if err != nil {
		return nil, err
	}
	return tokensIn(res)
}

func (c *Client) none(ctx context.Context, name string, in cardJSON) error {
	_, err := call[cardJSON, none](ctx, c, name, in)
	return err
}

// SetDefault makes a card the device's default; see tsp.Service.SetDefault.
func (c *Client) SetDefault(ctx context.Context, d tsp.Device, token string) error {
	return c.none(ctx, "set-default", cardJSON{Device: d, Token: token})
}

// RemoveCard deletes a card's token; see tsp.Service.RemoveCard.
func (c *Client) RemoveCard(ctx context.Context, d tsp.Device, token, actor string) error {
	return c.none(ctx, "remove-card", cardJSON{Device: d, Token: token, Actor: actor})
}

// Suspend suspends a token; see tsp.Service.Suspend.
func (c *Client) Suspend(ctx context.Context, token, actor, reason string) error {
	return c.none(ctx, "suspend", cardJSON{Token: token, Actor: actor, Reason: reason})
}

// Resume resumes a suspended token; see tsp.Service.Resume.
func (c *Client) Resume(ctx context.Context, token, actor, reason string) error {
	return c.none(ctx, "resume", cardJSON{Token: token, Actor: actor, Reason: reason})
}

// Replenish runs a device's sync; see tsp.Service.Replenish.
func (c *Client) Replenish(ctx context.Context, d tsp.Device, logs []tsp.TokenLog) ([]tsp.SyncResult, error) {
	return call[replenishJSON, []tsp.SyncResult](ctx, c, "replenish", replenishJSON{Device: d, Logs: logs})
}

// Outbox lists an account's newest messages; see tsp.Service.Outbox.
func (c *Client) Outbox(ctx context.Context, accountID string) ([]tsp.OTPMessage, error) {
	res, err := call[accountJSON, []messageJSON](ctx, c, "outbox", accountJSON{AccountID: accountID})
	out := make([]tsp.OTPMessage, 0, len(res))
	for _, m := range res {
		out = append(out, tsp.OTPMessage(m))
	}
	return out, err
}

// Notify queues a message in an account's outbox; see tsp.Service.Notify.
func (c *Client) Notify(ctx context.Context, accountID, message string) error {
	_, err := call[accountJSON, none](ctx, c, "notify", accountJSON{AccountID: accountID, Message: message})
	return err
}

// DeviceOff tells the token service a device's wallet is off; see
// tsp.Service.DeviceOff.
func (c *Client) DeviceOff(ctx context.Context, d tsp.DeviceSwitch) ([]string, error) {
	return call[tsp.DeviceSwitch, []string](ctx, c, "device-off", d)
}

// DeviceOn tells the token service a device's wallet is on; see
// tsp.Service.DeviceOn.
func (c *Client) DeviceOn(ctx context.Context, d tsp.DeviceSwitch) ([]string, error) {
	return call[tsp.DeviceSwitch, []string](ctx, c, "device-on", d)
}

// Authorize checks a token for one authorization; see
// tsp.Service.Authorize. The result's ARPC is made by the token service
// (the key never crosses the wire), within ctx's life.
func (c *Client) Authorize(ctx context.Context, r tsp.AuthRequest) (tsp.AuthResult, error) {
	res, err := call[tsp.AuthRequest, authResultJSON](ctx, c, "authorize", r)
	if err != nil {
		return tsp.AuthResult{}, err
	}
	t, err := res.Token.token()
	if err != nil {
		return tsp.AuthResult{}, err
	}
	pan, err := card.ParsePAN(res.PAN)
	if err != nil {
		return tsp.AuthResult{}, fault.E(fault.Internal, "tsp_answer", "the token service answered a bad card number")
	}
	out := tsp.AuthResult{Token: t, PAN: pan, KeyIndex: res.KeyIndex, ATC: res.ATC}
	return tsp.RemoteResult(out, func(arqc, arc []byte) ([]byte, error) {
		return call[tsp.ARPCRequest, []byte](context.WithoutCancel(ctx), c, "arpc",
			tsp.ARPCRequest{Token: t.Number.Digits(), KeyIndex: res.KeyIndex, ARQC: arqc, ARC: arc})
	}), nil
}

// Credit checks a token for a credit to the card; see tsp.Service.Credit.
func (c *Client) Credit(ctx context.Context, token string) (tsp.CreditResult, error) {
	res, err := call[cardJSON, creditResultJSON](ctx, c, "credit", cardJSON{Token: token})
	if err != nil {
		return tsp.CreditResult{}, err
	}
	t, err := res.Token.token()
	if err != nil {
		return tsp.CreditResult{}, err
	}
	pan, err := card.ParsePAN(res.PAN)
	if err != nil {
		return tsp.CreditResult{}, fault.E(fault.Internal, "tsp_answer", "the token service answered a bad card number")
	}
	return tsp.CreditResult{Token: t, PAN: pan}, nil
}
