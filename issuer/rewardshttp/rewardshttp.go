// Package rewardshttp is how the wallet service reaches a bank's points
// programme (bank.Rewards) when the bank's issuer host runs in another
// process: it POSTs a strict JSON request to PointsPath or PayPath on the
// process hosting the bank, which answers from the bank's own books. A
// card is named by its PAR, never its number. Both directions carry an
// HMAC-SHA256 of the body under the network–issuer shared secret
// (issuer/linkmac, as issuer/idvhttp), so neither a request nor an answer
// can be forged on the way; errors cross as {"kind","code","message"}
// with the HTTP status of their kind (a purchase the bank never posted:
// 404), so the bank's codes survive the wire.
package rewardshttp

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/issuer/linkmac"
)

// The routes of rewards on an issuer process: Path is their prefix, to
// mount the Handler at.
const (
	Path       = "/rewards/v1/"
	PointsPath = Path + "points"
	PayPath    = Path + "pay"
)

// MACHeader carries the HMAC-SHA256 (hex) of a request's or an answer's
// body under the shared secret.
const MACHeader = "X-Rewards-MAC"

// The error codes of the link (fault.CodeOf); the bank's own are issuer's.
const (
	CodeNoAddress    = "rewards_no_address"  // fault.Unavailable: no address for the bank's issuer process
	CodeUnreachable  = "issuer_unreachable"  // fault.Unavailable: the issuer process did not answer
	CodeBadRequest   = "bad_rewards_request" // fault.Invalid: the body is not a strict request
	CodeBadAnswer    = "bad_rewards_answer"  // fault.Internal: the answer's MAC does not check or it does not decode
	CodeUnauthorized = "unauthorized"        // fault.Unauthorized: the request's MAC does not check
	CodeNoRoute      = "no_route"            // fault.NotFound: neither points nor pay
)

// maxBody bounds a request or an answer.
const maxBody = 8 << 10

// pointsRequest asks a card's points.
type pointsRequest struct {
	Bank string `json:"bank"`
	PAR  string `json:"par"`
}

// Handler serves PointsPath and PayPath (mount it at Path) for the banks
// rw answers (issuer.RewardsHosts of the hosts in this process): POST with
// a strict JSON body — {"bank","par"} for points, bank.PayWithPoints for
// pay — and its MAC in MACHeader. It answers 200 with bank.Points or
// bank.PointsPayment (JSON, its MAC in MACHeader); 401 unauthorized for a
// missing or wrong MAC; 400 bad_rewards_request for a body that is not a
// request (an unknown field, data after it, a wrong type); and the bank's
// error with the status of its kind — 404 purchase_not_found for a
// purchase the bank has not posted for that card, 404 rewards_not_hosted
// for a bank not in this process, 429 points_short — each as
// {"kind","code","message"}. log (nil: none) gets a line per payment: the
// bank, the points and the credit, never the PAR.
func Handler(rw bank.Rewards, secret []byte, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(err error) { linkmac.WriteFault(w, err) }
		if r.URL.Path != PointsPath && r.URL.Path != PayPath {
			fail(fault.E(fault.NotFound, CodeNoRoute, "no such route: POST %s or %s", PointsPath, PayPath))
			return
		}
		body, ok := linkmac.ReadSigned(w, r, linkmac.Door{What: "the rewards request", Path: r.URL.Path, BadRequest: CodeBadRequest, MaxBody: maxBody}, secret, MACHeader)
		if !ok {
			return
		}
		var out any
		if r.URL.Path == PointsPath {
			var in pointsRequest
			if err := linkmac.DecodeStrict(body, &in); err != nil {
				fail(fault.E(fault.Invalid, CodeBadRequest, "the points request is not the JSON object of %s: %s", PointsPath, err))
				return
			}
			p, err := rw.Points(r.Context(), in.Bank, in.PAR)
			if err != nil {
				fail(err)
				return
			}
			out = p
		} else {
			var in bank.PayWithPoints
			if err := linkmac.DecodeStrict(body, &in); err != nil {
				fail(fault.E(fault.Invalid, CodeBadRequest, "the payment request is not the JSON object of %s: %s", PayPath, err))
				return
			}
			p, err := rw.PayWithPoints(r.Context(), in)
			if err != nil {
				fail(err)
				return
			}
			log.Info("issuer: paid with points over HTTP", "bank", in.Bank, "points", p.Points, "credit", p.Credit, "again", p.Again)
			out = p
		}
		b, _ := json.Marshal(out)
		linkmac.WriteSigned(w, MACHeader, secret, b)
	})
}

// Client is the wallet's bank.Rewards: a bank in At over HTTP at its
// issuer process, else Local (the hosts of this process).
type Client struct {
	At     map[string]string // bank id → base URL of the issuer process hosting it (http://HOST:PORT)
	Secret []byte            // the network–issuer shared secret
	Local  bank.Rewards      // nil: none
	HTTP   *http.Client      // nil: a client with a 10-second timeout
}

var _ bank.Rewards = (*Client)(nil)

var defaultHTTP = &http.Client{Timeout: 10 * time.Second}

// Points asks the card's bank for its points. It fails with
// fault.Unavailable rewards_no_address for a bank neither in At nor Local,
// issuer_unreachable when the process does not answer; fault.Internal
// bad_rewards_answer for an answer whose MAC does not check or that does
// not decode; and with the bank's error as it sent it.
func (c *Client) Points(ctx context.Context, bankID, par string) (bank.Points, error) {
	var out bank.Points
	if _, remote := c.At[bankID]; !remote && c.Local != nil {
		return c.Local.Points(ctx, bankID, par)
	}
	err := c.call(ctx, bankID, PointsPath, pointsRequest{Bank: bankID, PAR: par}, &out)
	return out, err
}

// PayWithPoints asks req.Bank to pay a purchase with points; it fails as
// Points.
func (c *Client) PayWithPoints(ctx context.Context, req bank.PayWithPoints) (bank.PointsPayment, error) {
	var out bank.PointsPayment
	if _, remote := c.At[req.Bank]; !remote && c.Local != nil {
		return c.Local.PayWithPoints(ctx, req)
	}
	err := c.call(ctx, req.Bank, PayPath, req, &out)
	return out, err
}

// call POSTs in to path at the process hosting bankID and decodes its
// answer into out.
func (c *Client) call(ctx context.Context, bankID, path string, in, out any) error {
	base, ok := c.At[bankID]
	if !ok {
		return fault.E(fault.Unavailable, CodeNoAddress, "no address for the issuer of %s to ask its points", bankID)
	}
	body, _ := json.Marshal(in)
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	got, err := linkmac.PostSigned(ctx, linkmac.Call{HTTP: hc, URL: strings.TrimSuffix(base, "/") + path, ContentType: "application/json",
		Body: body, Secret: c.Secret, Header: MACHeader, MaxAnswer: maxBody, Bank: bankID,
		Unreachable: CodeUnreachable, BadAnswer: CodeBadAnswer, Unanswered: "the issuer process of %s did not answer",
		BrokeOff: "the rewards answer of %s broke off", Unsigned: "the rewards answer of %s does not carry the shared secret's MAC"})
	if err != nil {
		return err
	}
	if err := linkmac.DecodeStrict(got, out); err != nil {
		return fault.E(fault.Internal, CodeBadAnswer, "the rewards answer of %s does not decode", bankID)
	}
	return nil
}
