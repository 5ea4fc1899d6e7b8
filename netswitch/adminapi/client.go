package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// Client calls the admin routes of a running platform (tapwallet serve)
// with the operator token.
type Client struct {
	URL   string       // the platform's HTTP address, e.g. http://127.0.0.1:8080
	Token string       // the operator token (header X-Operator-Token)
	HTTP  *http.Client // nil: a client with a 30 s timeout
}

// SavePromotions posts a campaign file (JSON {"campaigns": [ … ]}): all
// saved, or none. It fails with the platform's error (fault.Invalid
// promo_campaign naming the campaign and field, fault.Unauthorized
// operator_only, …) or fault.Unavailable when the platform cannot be
// reached.
func (c *Client) SavePromotions(ctx context.Context, file []byte) (Saved, error) {
	var out Saved
	err := c.do(ctx, "POST", "/v1/admin/promotions", file, &out)
	return out, err
}

// Promotions returns the campaigns (of owner only, when not empty) with
// their budgets. It fails as SavePromotions.
func (c *Client) Promotions(ctx context.Context, owner string) ([]Listed, error) {
	path := "/v1/admin/promotions"
	if owner != "" {
		path += "?owner=" + url.QueryEscape(owner)
	}
	var out Campaigns
	err := c.do(ctx, "GET", path, nil, &out)
	return out.Campaigns, err
}

// SetPaused pauses or resumes the campaign id. It fails as SavePromotions,
// with fault.NotFound for an unknown campaign.
func (c *Client) SetPaused(ctx context.Context, id string, paused bool) error {
	action := "resume"
	if paused {
		action = "pause"
	}
	return c.do(ctx, "POST", "/v1/admin/promotions/"+url.PathEscape(id)+"/"+action, nil, &Paused{})
}

// BudgetReport returns every campaign's budget. It fails as
// SavePromotions.
func (c *Client) BudgetReport(ctx context.Context) ([]Budget, error) {
	var out Report
	err := c.do(ctx, "GET", "/v1/admin/promotions/report", nil, &out)
	return out.Campaigns, err
}

// do sends one request and decodes its answer into out, or its error
// answer into a *fault.Error.
func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	base := strings.TrimSuffix(c.URL, "/")
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return fault.E(fault.Invalid, "server_url", "server %q: not a URL", c.URL)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(HeaderOperatorToken, c.Token)
	resp, err := hc.Do(req)
	if err != nil {
		return fault.E(fault.Unavailable, "server_unreachable", "%s %s: the platform did not answer (%v)", method, base+path, errText(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fault.E(fault.Unavailable, "server_unreachable", "%s %s: the answer was cut short", method, base+path)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Kind, Code, Message string } `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error.Message == "" {
			return fault.E(fault.Unavailable, "server_answer", "%s %s: answered %s, not the admin API's error (is %s a tapwallet serve with the network role?)", method, base+path, resp.Status, c.URL)
		}
		return fault.E(fault.Kind(e.Error.Kind), e.Error.Code, "%s", e.Error.Message)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fault.E(fault.Unavailable, "server_answer", "%s %s: the answer is not the admin API's JSON", method, base+path)
	}
	return nil
}

// errText is a transport error without the URL net/http repeats.
func errText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
