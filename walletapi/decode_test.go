package walletapi

import (
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/fault"
)

func TestDecode(t *testing.T) {
	for _, tt := range []struct {
		name, body, code string
	}{
		{"ok", `{"pan":"1","expiry":"2","cvn2":"3"}`, ""},
		{"empty", ``, "bad_json"},
		{"spaces", `   `, "bad_json"},
		{"array", `[]`, "bad_json"},
		{"truncated", `{"pan":"1"`, "bad_json"},
		{"syntax", `{"pan":1,}`, "bad_json"},
		{"wrong type", `{"pan":123}`, "bad_json"},
		{"unknown field", `{"pan":"1","x":2}`, "unknown_field"},
		{"trailing", `{"pan":"1"} {"pan":"2"}`, "bad_json"},
		{"null", `null`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r addCardReq
			err := decode([]byte(tt.body), &r)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if !fault.Has(err, fault.Invalid, tt.code) {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
		})
	}
}

// FuzzDecode: any body gets either a decoded request or an invalid-input
// error with a code, never a panic, and the message never echoes the body.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"pan":"6222020000000007","expiry":"1230","cvn2":"123"}`, `{`, `[]`, `{"pan":1}`, `{"x":1}`, "\x00\xff", `{"pan":"1"} x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var r addCardReq
		err := decode(body, &r)
		if err == nil {
			return
		}
		if fault.KindOf(err) != fault.Invalid || fault.CodeOf(err) == "" {
			t.Fatalf("got %v, want an invalid-input error with a code", err)
		}
		if len(body) > 12 && len(fault.MessageOf(err)) > 0 && contains(fault.MessageOf(err), string(body)) {
			t.Fatalf("error message echoes the body")
		}
	})
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestDecodeStrict: a field given twice, or named with other letter case
// than documented, is refused with a 400 naming the field (encoding/json
// alone lets the last duplicate win and matches names case-insensitively).
func TestDecodeStrict(t *testing.T) {
	for _, tt := range []struct {
		name, body, code, names string
	}{
		{"duplicate", `{"pan":"1","pan":"2"}`, "duplicate_field", "pan"},
		{"duplicate in a nested object", `{"tokens":[{"token":"1","token":"2"}]}`, "duplicate_field", "token"},
		{"upper case", `{"PAN":"1"}`, "field_case", "PAN"},
		{"mixed case", `{"Expiry":"1230"}`, "field_case", "Expiry"},
		{"duplicate by case", `{"pan":"1","Pan":"2"}`, "field_case", "Pan"},
		{"digits in the name are not echoed", `{"6222020000000007":"1","6222020000000007":"2"}`, "duplicate_field", ""},
		{"same key in two objects is fine", `{"tokens":[{"token":"1"},{"token":"2"}]}`, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if strings.Contains(tt.body, "tokens") {
				var r SyncRequest
				err = decode([]byte(tt.body), &r)
			} else {
				var r addCardReq
				err = decode([]byte(tt.body), &r)
			}
			if tt.code == "" {
				if err != nil && fault.CodeOf(err) != "unknown_field" && fault.CodeOf(err) != "bad_json" {
					t.Fatalf("got %v, want it accepted by the strict check", err)
				}
				return
			}
			if !fault.Has(err, fault.Invalid, tt.code) {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
			if tt.names != "" && !strings.Contains(fault.MessageOf(err), tt.names) {
				t.Fatalf("message %q does not name the field %s", fault.MessageOf(err), tt.names)
			}
			if strings.Contains(fault.MessageOf(err), "6222") {
				t.Fatalf("message %q echoes a card-number-like field name", fault.MessageOf(err))
			}
		})
	}
}
