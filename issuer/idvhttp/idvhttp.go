// Package idvhttp is how the token service asks a bank for ID&V (bank.IDV)
// when the bank's issuer host runs in another process: the token service
// POSTs the card as JSON to Path on the process hosting the bank, which
// checks it against the bank's own card holders (only that process reads
// them) and answers with the bank's verdict. The card number, expiry and
// CVN2 travel in the body only, never in a URL, a header or a log. Both
// directions carry an HMAC-SHA256 of the body under the network–issuer
// shared secret (as issuer/clearinghttp), so neither a request nor a
// verdict can be forged on the way, and the secret itself never crosses.
// Errors cross as {"kind","code","message"}, so the bank's codes
// (bank.CodeWrongCVN2, …) survive the wire.
package idvhttp

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/issuer/linkmac"
)

// Path is the route of ID&V on an issuer process.
const Path = "/idv/v1/verify"

// MACHeader carries the HMAC-SHA256 (hex) of a request's or an answer's
// body under the shared secret.
const MACHeader = "X-IDV-MAC"

// The error codes of the link (fault.CodeOf); the bank's own are bank's.
const (
	CodeNotHosted    = "bank_not_hosted"    // fault.NotFound: the process does not host the card's bank
	CodeNoAddress    = "idv_no_address"     // fault.Unavailable: no address for the bank's issuer process
	CodeUnreachable  = "issuer_unreachable" // fault.Unavailable: the issuer process did not answer
	CodeBadRequest   = "bad_idv_request"    // fault.Invalid: the body is not a strict IDV request
	CodeBadAnswer    = "bad_idv_answer"     // fault.Internal: the answer's MAC does not check or it does not decode
	CodeUnauthorized = "unauthorized"       // fault.Unauthorized: the request's MAC does not check
)

// maxBody bounds a request or an answer.
const maxBody = 16 << 10

// request is an IDV request on the wire.
type request struct {
	PAN         string   `json:"pan"`
	Expiry      string   `json:"expiry"` // MMYY
	CVN2        string   `json:"cvn2"`
	RiskScore   int      `json:"risk_score"`
	RiskVerdict string   `json:"risk_verdict"`
	RiskReasons []string `json:"risk_reasons"`
}

// answer is an IDV verdict on the wire; a failed Verify carries its error.
type answer struct {
	Verdict bank.IDVVerdict `json:"verdict"`
	Error   *linkmac.Fault  `json:"error,omitempty"`
}

// Handler serves Path for the banks of idv (an issuer.IDV holding the card
// holders of the banks hosted in this process): POST with the request as a
// strict JSON body and its MAC in MACHeader. It answers 200 with the
// verdict (JSON, its MAC in MACHeader) — a bank's Red carries the bank's
// error too; 401 unauthorized for a missing or wrong MAC; 400
// bad_idv_request for a body that is not a request; 404 bank_not_hosted
// for a card whose bank this process does not host (or unknown_bin); each
// error as {"kind","code","message"}, never with the card number. log
// (nil: none) gets a line per verdict: the bank and the decision, never
// the card.
func Handler(idv *issuer.IDV, secret []byte, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(err error) { linkmac.WriteFault(w, err) }
		body, ok := linkmac.ReadSigned(w, r, linkmac.Door{What: "the ID&V request", Path: Path, BadRequest: CodeBadRequest, MaxBody: maxBody}, secret, MACHeader)
		if !ok {
			return
		}
		var in request
		if err := linkmac.DecodeStrict(body, &in); err != nil {
			fail(fault.E(fault.Invalid, CodeBadRequest, "the ID&V request is not the JSON object of %s", Path))
			return
		}
		req, err := in.parse()
		if err != nil {
			fail(err)
			return
		}
		route, err := idv.Route(r.Context(), req.PAN)
		if err != nil {
			fail(err)
			return
		}
		if _, ok := idv.Holders[route.BankID]; !ok {
			fail(fault.E(fault.NotFound, CodeNotHosted, "%s is not hosted by this issuer process", route.BankID))
			return
		}
		v, err := idv.Verify(r.Context(), req)
		a := answer{Verdict: v}
		if err != nil {
			a.Error = linkmac.FaultOf(err)
		}
		log.Info("issuer: ID&V", "bank", route.BankID, "decision", string(v.Decision), "reason", v.Reason)
		out, _ := json.Marshal(a)
		linkmac.WriteSigned(w, MACHeader, secret, out)
	})
}

// parse checks a request's fields; its errors never carry the card number.
func (in request) parse() (bank.IDVRequest, error) {
	pan, err := card.ParsePAN(in.PAN)
	if err != nil {
		return bank.IDVRequest{}, fault.E(fault.Invalid, CodeBadRequest, "the ID&V request's card number is not a card number")
	}
	exp, err := card.ParseExpiry(in.Expiry)
	if err != nil {
		return bank.IDVRequest{}, fault.E(fault.Invalid, CodeBadRequest, "the ID&V request's expiry must be MMYY")
	}
	return bank.IDVRequest{PAN: pan, Expiry: exp, CVN2: in.CVN2, RiskScore: in.RiskScore, RiskVerdict: in.RiskVerdict, RiskReasons: in.RiskReasons}, nil
}

// Client is the token service's bank.IDV: it routes a card by BIN through
// Directory and asks its bank over HTTP at the process named in At, else
// Local (the banks whose card holders this process holds).
type Client struct {
	Directory *bank.Directory
	At        map[string]string // bank id → base URL of the issuer process hosting it (http://HOST:PORT)
	Secret    []byte            // the network–issuer shared secret
	Local     bank.IDV          // nil: none
	HTTP      *http.Client      // nil: a client with a 10-second timeout
}

var _ bank.IDV = (*Client)(nil)

var defaultHTTP = &http.Client{Timeout: 10 * time.Second}

// Verify runs the ID&V of the card's bank: over HTTP for a bank in At,
// else Local. A Red verdict comes with the bank's error (kind, code and
// message as it sent them). It fails with Red and fault.Unavailable
// idv_no_address for a bank neither in At nor Local, issuer_unreachable
// when the process does not answer; fault.Internal bad_idv_answer for an
// answer whose MAC does not check or that does not decode; and with the
// process's error (bank_not_hosted, unauthorized, …).
func (c *Client) Verify(ctx context.Context, req bank.IDVRequest) (bank.IDVVerdict, error) {
	route, err := c.Directory.Route(req.PAN)
	if err != nil {
		return route, err
	}
	base, ok := c.At[route.BankID]
	if !ok {
		if c.Local == nil {
			return red(fault.E(fault.Unavailable, CodeNoAddress, "no address for the issuer of %s to run ID&V", route.BankID))
		}
		return c.Local.Verify(ctx, req)
	}
	body, _ := json.Marshal(request{PAN: req.PAN.Digits(), Expiry: req.Expiry.MMYY(), CVN2: req.CVN2,
		RiskScore: req.RiskScore, RiskVerdict: req.RiskVerdict, RiskReasons: req.RiskReasons})
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	out, err := linkmac.PostSigned(ctx, linkmac.Call{HTTP: hc, URL: strings.TrimSuffix(base, "/") + Path, ContentType: "application/json",
		Body: body, Secret: c.Secret, Header: MACHeader, MaxAnswer: maxBody, Bank: route.BankID,
		Unreachable: CodeUnreachable, BadAnswer: CodeBadAnswer, Unanswered: "the issuer process of %s did not answer ID&V",
		BrokeOff: "the ID&V answer of %s broke off", Unsigned: "the ID&V answer of %s does not carry the shared secret's MAC"})
	if err != nil {
		return red(err)
	}
	var a answer
	if err := linkmac.DecodeStrict(out, &a); err != nil {
		return red(fault.E(fault.Internal, CodeBadAnswer, "the ID&V answer of %s does not decode", route.BankID))
	}
	if a.Error != nil {
		return a.Verdict, fault.E(a.Error.Kind, a.Error.Code, "%s", a.Error.Message)
	}
	return a.Verdict, nil
}

func red(err error) (bank.IDVVerdict, error) {
	return bank.IDVVerdict{Decision: bank.Red, Reason: fault.CodeOf(err)}, err
}

// Route returns the bank, product and token range of a card from the
// directory, without checks.
func (c *Client) Route(_ context.Context, pan card.PAN) (bank.IDVVerdict, error) {
	return c.Directory.Route(pan)
}

// Bank describes a bank for display from the directory (as issuer.IDV).
func (c *Client) Bank(id string) (string, string, bool) {
	return (&issuer.IDV{Directory: c.Directory}).Bank(id)
}
