// Package linkmac holds what the links between the network and the issuer
// processes (issuer/idvhttp, issuer/clearinghttp, issuer/rewardshttp) share: the HMAC-SHA256
// of a body under the network–issuer shared secret, carried in a header
// in both directions (the secret itself never crosses), and errors on the
// wire as {"kind","code","message"} with the HTTP status of their kind,
// so a party's fault codes survive the wire.
package linkmac

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// Sign is the HMAC-SHA256 (hex) of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Check reports whether got (hex) is the HMAC-SHA256 of body under
// secret, in constant time; a missing or malformed value does not check.
func Check(secret, body []byte, got string) bool {
	want, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(m.Sum(nil), want)
}

// Fault is an error on the wire: the fault's kind, code and safe message.
type Fault struct {
	Kind    fault.Kind `json:"kind"`
	Code    string     `json:"code"`
	Message string     `json:"message"`
}

// FaultOf is err as it crosses the wire (fault.MessageOf: its safe words).
func FaultOf(err error) *Fault {
	return &Fault{Kind: fault.KindOf(err), Code: fault.CodeOf(err), Message: fault.MessageOf(err)}
}

// WriteFault answers err as JSON with the status of its kind.
func WriteFault(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(fault.HTTPStatus(fault.KindOf(err)))
	json.NewEncoder(w).Encode(FaultOf(err))
}

// WriteSigned answers 200 with the JSON body out and its MAC under secret
// in header.
func WriteSigned(w http.ResponseWriter, header string, secret, out []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(header, Sign(secret, out))
	w.Write(out)
}

// ReadFault decodes an error answer; ok is false for a body that is not
// one (a proxy's page, a broken answer).
func ReadFault(body []byte) (f Fault, ok bool) {
	if json.Unmarshal(body, &f) != nil || f.Kind == "" {
		return Fault{}, false
	}
	return f, true
}

// Door is what a link's server side says of its requests when it refuses
// one (ReadSigned): what the request is ("the ID&V request") and the code
// of a body that cannot be read.
type Door struct {
	What       string // e.g. "the clearing file"
	Path       string // where it is POSTed
	BadRequest string // the fault code of an unreadable body
	MaxBody    int64
}

// ReadSigned reads the body of a request on a link: a POST (else 400
// "method" with Allow), at most d.MaxBody bytes (else 400 d.BadRequest),
// whose MAC in header checks under secret (else 401 "unauthorized"). On a
// refusal it has answered w and returns false.
func ReadSigned(w http.ResponseWriter, r *http.Request, d Door, secret []byte, header string) ([]byte, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		WriteFault(w, fault.E(fault.Invalid, "method", "POST %s to %s", d.What, d.Path))
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, d.MaxBody))
	if err != nil {
		WriteFault(w, fault.E(fault.Invalid, d.BadRequest, "%s is unreadable or larger than %d bytes", d.What, d.MaxBody))
		return nil, false
	}
	if !Check(secret, body, r.Header.Get(header)) {
		WriteFault(w, fault.E(fault.Unauthorized, "unauthorized", "%s's MAC does not check under the network's shared secret", d.What))
		return nil, false
	}
	return body, true
}

// DecodeStrict decodes the one JSON value of body into v: an unknown field,
// a value of the wrong type or anything after the value is refused, the
// error naming what was wrong (never the body).
func DecodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return fmt.Errorf("%s: wrong type", te.Field)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return errors.New("unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return errors.New("not JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// Call is one signed request of a link's client side (PostSigned): where it
// goes, what it carries, and the words and codes of its failures.
type Call struct {
	HTTP        *http.Client // nil: a client with a 10 s timeout
	URL         string       // base + path
	ContentType string
	Body        []byte
	Secret      []byte
	Header      string // the MAC's header, both ways
	MaxAnswer   int64
	Bank        string // whose process is asked, for the errors
	// Unreachable and BadAnswer are the fault codes of no answer and of
	// an answer whose MAC does not check; Unanswered, BrokeOff and
	// Unsigned the errors' words (each after the bank's id, e.g. "the
	// issuer process of %s did not answer ID&V").
	Unreachable, BadAnswer         string
	Unanswered, BrokeOff, Unsigned string
}

var defaultHTTP = &http.Client{Timeout: 10 * time.Second}

// PostSigned POSTs c.Body signed under c.Secret and returns the answer's
// body once its MAC checks: an error answer comes back as its fault (the
// kind and code the far side gave, its words after the bank's id), no or
// a broken answer fault.Unavailable c.Unreachable, an unsigned one
// fault.Internal c.BadAnswer. The errors never carry the URL or the body.
func PostSigned(ctx context.Context, c Call) ([]byte, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(c.Body))
	if err != nil {
		return nil, fault.E(fault.Invalid, "issuer_url", "bad address of the issuer process of %s", c.Bank)
	}
	hr.Header.Set("Content-Type", c.ContentType)
	hr.Header.Set(c.Header, Sign(c.Secret, c.Body))
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(hr)
	if err != nil {
		// The error of Do names the URL: keep only our own words.
		return nil, fault.E(fault.Unavailable, c.Unreachable, c.Unanswered, c.Bank)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, c.MaxAnswer))
	if err != nil {
		return nil, fault.E(fault.Unavailable, c.Unreachable, c.BrokeOff, c.Bank)
	}
	if resp.StatusCode != http.StatusOK {
		fj, ok := ReadFault(got)
		if !ok {
			return nil, fault.E(fault.Unavailable, c.Unreachable, "the issuer process of %s answered HTTP %d", c.Bank, resp.StatusCode)
		}
		return nil, fault.E(fj.Kind, fj.Code, "%s: %s", c.Bank, fj.Message)
	}
	if !Check(c.Secret, got, resp.Header.Get(c.Header)) {
		return nil, fault.E(fault.Internal, c.BadAnswer, c.Unsigned, c.Bank)
	}
	return got, nil
}
