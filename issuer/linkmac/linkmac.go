// Package linkmac holds what the links between the network and the issuer
// processes (issuer/idvhttp, issuer/clearinghttp) share: the HMAC-SHA256
// of a body under the network–issuer shared secret, carried in a header
// in both directions (the secret itself never crosses), and errors on the
// wire as {"kind","code","message"} with the HTTP status of their kind,
// so a party's fault codes survive the wire.
package linkmac

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"

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
