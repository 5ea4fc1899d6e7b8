package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/tapwallet/tapwallet/fault"
)

// passkeyBody is the JSON the passkey script posts: the form's fields when
// a ceremony begins, and the ceremony's id with the browser's credential
// when it finishes.
type passkeyBody struct {
	Ceremony    string          `json:"ceremony"`
	Name        string          `json:"name"`
	Password    string          `json:"password"`
	NewPassword string          `json:"new_password"`
	ID          string          `json:"id"` // a passkey's id (base64url), to remove it
	Credential  json.RawMessage `json:"credential"`
}

// MaxCredential is the largest credential (attestation or assertion) JSON
// the portal accepts.
const MaxCredential = 16 << 10

// parsePasskeyBody parses the passkey script's JSON strictly: one object,
// known fields only, bounded sizes, a credential that is a JSON object. It
// fails with fault.Invalid "bad_json" (or "bad_field") with a safe message.
func parsePasskeyBody(b []byte) (passkeyBody, error) {
	var pb passkeyBody
	if len(bytes.TrimSpace(b)) == 0 {
		return pb, fault.E(fault.Invalid, "bad_json", "the request body must be a JSON object")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&pb); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return passkeyBody{}, fault.E(fault.Invalid, "bad_json", "malformed JSON at byte %d", se.Offset)
		case errors.As(err, &te):
			return passkeyBody{}, fault.E(fault.Invalid, "bad_json", "field %q has the wrong type", te.Field)
		}
		return passkeyBody{}, fault.E(fault.Invalid, "bad_json", "the request body must be one JSON object with the fields ceremony, name, id, password, new_password and credential")
	}
	if _, err := d.Token(); err != io.EOF {
		return passkeyBody{}, fault.E(fault.Invalid, "bad_json", "the request body must hold one JSON object only")
	}
	switch {
	case len(pb.ID) > 1400 || strings.Trim(pb.ID, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "":
		return passkeyBody{}, fault.E(fault.Invalid, "bad_field", "id must be a passkey id in base64url")
	case len(pb.Ceremony) > 100 || strings.Trim(pb.Ceremony, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "":
		return passkeyBody{}, fault.E(fault.Invalid, "bad_field", "ceremony must be the id the portal gave")
	case len(pb.Password) > 256 || len(pb.NewPassword) > 256:
		return passkeyBody{}, fault.E(fault.Invalid, "bad_field", "password must have at most 256 characters")
	case len(pb.Credential) > MaxCredential:
		return passkeyBody{}, fault.E(fault.Invalid, "bad_field", "credential is larger than %d bytes", MaxCredential)
	}
	name, err := passkeyName(pb.Name)
	if err != nil {
		return passkeyBody{}, err
	}
	pb.Name = name
	if c := bytes.TrimSpace(pb.Credential); len(c) > 0 && !bytes.Equal(c, []byte("null")) && c[0] != '{' {
		return passkeyBody{}, fault.E(fault.Invalid, "bad_field", "credential must be a JSON object")
	}
	return pb, nil
}

// passkeyName cleans a passkey's name: trimmed, printable, at most 64
// characters; empty becomes "Passkey".
func passkeyName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "Passkey", nil
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > 64 || strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return "", fault.E(fault.Invalid, "bad_field", "a passkey's name must be at most 64 printable characters")
	}
	return s, nil
}

// readPasskeyBody reads and parses the passkey script's JSON body.
func readPasskeyBody(r *http.Request) (passkeyBody, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return passkeyBody{}, fault.E(fault.Invalid, "body_too_large", "the request body is too large or could not be read")
	}
	return parsePasskeyBody(b)
}

var safePath = regexp.MustCompile(`^/[A-Za-z0-9_/-]*$`)

// safeNext returns where to go after logging in: a path of the portal only
// (never another site), else the phones page.
func safeNext(s string) string {
	if len(s) > 200 || !safePath.MatchString(s) || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/login") || strings.HasPrefix(s, "/static") {
		return "/phones"
	}
	return s
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// writeJSONError writes the wallet API's error shape, its message in
// the visitor's language (the passkey script shows it).
func (p *Portal) writeJSONError(w http.ResponseWriter, r *http.Request, err error) {
	var b struct {
		Error struct {
			Kind    string `json:"kind"`
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	b.Error.Kind, b.Error.Code, b.Error.Message = string(fault.KindOf(err)), fault.CodeOf(err), p.tr(r).errText(err)
	writeJSON(w, status(fault.KindOf(err)), b)
}
