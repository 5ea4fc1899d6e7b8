package tsphttp

import (
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/tsp"
)

// The wire forms: JSON with the numbers as digit strings. A token's number
// and a card number cross this link (the network needs the PAN to route
// to the bank), never a key.

type tokenJSON struct {
	Number    string    `json:"number"`
	PANID     string    `json:"pan_id"`
	PAR       string    `json:"par"`
	PANLast4  string    `json:"pan_last4"`
	PhoneID   string    `json:"phone_id"`
	AccountID string    `json:"account_id"`
	Domain    string    `json:"domain"`
	State     tsp.State `json:"state"`
	Expiry    string    `json:"expiry"` // MMYY
	PSN       string    `json:"psn"`
	BankID    string    `json:"bank_id"`
	Product   string    `json:"product"`
	AID       string    `json:"aid"`
	BankName  string    `json:"bank_name,omitempty"`
	CardArt   string    `json:"card_art,omitempty"`
	Default   bool      `json:"default"`
	Priority  int       `json:"priority"`
	NextKey   int       `json:"next_key"`
	LastATC   int       `json:"last_atc"`
	CreatedAt time.Time `json:"created_at"`
}

func tokenOut(t tsp.Token) tokenJSON {
	return tokenJSON{Number: t.Number.Digits(), PANID: t.PANID, PAR: t.PAR, PANLast4: t.PANLast4, PhoneID: t.PhoneID, AccountID: t.AccountID,
		Domain: t.Domain, State: t.State, Expiry: t.Expiry.MMYY(), PSN: t.PSN, BankID: t.BankID, Product: t.Product, AID: t.AID,
		BankName: t.BankName, CardArt: t.CardArt, Default: t.Default, Priority: t.Priority, NextKey: t.NextKey, LastATC: t.LastATC, CreatedAt: t.CreatedAt}
}

func (j tokenJSON) token() (tsp.Token, error) {
	num, err := card.ParseToken(j.Number)
	if err != nil {
		return tsp.Token{}, fault.Wrap(err, fault.Internal, "tsp_answer", "the token service answered a bad token number")
	}
	exp, err := card.ParseExpiry(j.Expiry)
	if err != nil {
		return tsp.Token{}, fault.Wrap(err, fault.Internal, "tsp_answer", "the token service answered a bad expiry")
	}
	return tsp.Token{Number: num, PANID: j.PANID, PAR: j.PAR, PANLast4: j.PANLast4, PhoneID: j.PhoneID, AccountID: j.AccountID,
		Domain: j.Domain, State: j.State, Expiry: exp, PSN: j.PSN, BankID: j.BankID, Product: j.Product, AID: j.AID,
		BankName: j.BankName, CardArt: j.CardArt, Default: j.Default, Priority: j.Priority, NextKey: j.NextKey, LastATC: j.LastATC, CreatedAt: j.CreatedAt}, nil
}

func tokensOut(ts []tsp.Token) []tokenJSON {
	out := make([]tokenJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenOut(t))
	}
	return out
}

func tokensIn(js []tokenJSON) ([]tsp.Token, error) {
	out := make([]tsp.Token, 0, len(js))
	for _, j := range js {
		t, err := j.token()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

type provisionedJSON struct {
	Token    tokenJSON `json:"token"`
	BankName string    `json:"bank_name"`
	CardArt  string    `json:"card_art"`
	KeyBatch []byte    `json:"key_batch"`
}

func provisionedOut(p *tsp.Provisioned) *provisionedJSON {
	if p == nil {
		return nil
	}
	return &provisionedJSON{Token: tokenOut(p.Token), BankName: p.BankName, CardArt: p.CardArt, KeyBatch: p.KeyBatch}
}

func (j *provisionedJSON) provisioned() (*tsp.Provisioned, error) {
	if j == nil {
		return nil, nil
	}
	t, err := j.Token.token()
	if err != nil {
		return nil, err
	}
	return &tsp.Provisioned{Token: t, BankName: j.BankName, CardArt: j.CardArt, KeyBatch: j.KeyBatch}, nil
}

type addCardJSON struct {
	Device tsp.Device `json:"device"`
	PAN    string     `json:"pan"`
	Expiry string     `json:"expiry"`
	CVN2   string     `json:"cvn2"`
}

type addCardResultJSON struct {
	Card      *provisionedJSON `json:"card,omitempty"`
	BindingID string           `json:"binding_id,omitempty"`
	SentTo    string           `json:"sent_to,omitempty"`
}

type confirmJSON struct {
	Device    tsp.Device `json:"device"`
	BindingID string     `json:"binding_id"`
	Code      string     `json:"code"`
}

type cardJSON struct {
	Device   tsp.Device `json:"device"`
	DeviceID string     `json:"device_id,omitempty"`
	Token    string     `json:"token,omitempty"`
	Actor    string     `json:"actor,omitempty"`
	Reason   string     `json:"reason,omitempty"`
}

type replenishJSON struct {
	Device tsp.Device     `json:"device"`
	Logs   []tsp.TokenLog `json:"logs"`
}

type accountJSON struct {
	AccountID string `json:"account_id"`
	Message   string `json:"message,omitempty"`
}

type messageJSON struct {
	ID        string    `json:"id"`
	AccountID string    `json:"account_id"`
	BindingID string    `json:"binding_id"`
	Message   string    `json:"message"`
	CreatedAt time.Time `json:"created_at"`
}

type authResultJSON struct {
	Token    tokenJSON `json:"token"`
	PAN      string    `json:"pan"`
	KeyIndex int       `json:"key_index"`
	ATC      int       `json:"atc"`
}

type creditResultJSON struct {
	Token tokenJSON `json:"token"`
	PAN   string    `json:"pan"`
}

type none struct{}

// errorJSON is a fault error on the wire: its kind, code and safe message.
type errorJSON struct {
	Kind    fault.Kind `json:"kind"`
	Code    string     `json:"code"`
	Message string     `json:"message"`
}
