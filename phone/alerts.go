package phone

import (
	"context"
	"net/url"

	"github.com/tapwallet/tapwallet/walletapi/client"
)

// Alerts lists the account's "was this you?" alerts, newest first (only
// the open ones when open is set).
func (p *Phone) Alerts(ctx context.Context, open bool) ([]client.Alert, error) {
	path := "/v1/alerts"
	if open {
		path += "?state=open"
	}
	var out client.Alerts
	if _, err := p.call(ctx, "GET", path, nil, &out, false); err != nil {
		return nil, err
	}
	return out.Alerts, nil
}

// AnswerAlert answers an alert: yes ("that was me") or no ("that was not
// me": the card is suspended).
func (p *Phone) AnswerAlert(ctx context.Context, id string, yes bool) (client.AlertAnswered, error) {
	in := client.AlertAnswer{Answer: "no"}
	if yes {
		in.Answer = "yes"
	}
	var out client.AlertAnswered
	_, err := p.call(ctx, "POST", "/v1/alerts/"+url.PathEscape(id), in, &out, false)
	return out, err
}
