// Package linkmac holds what the links between the network and the issuer
// processes (issuer/idvhttp, issuer/clearinghttp) share: the HMAC-SHA256
// of a body under the network–issuer shared secret, carried in a header
// in both directions (the secret itself never crosses), and errors on the
// wire as {"kind","code","message"} with the HTTP status of their kind,
// so a party's fault codes survive the wire.
package linkmac

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

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
