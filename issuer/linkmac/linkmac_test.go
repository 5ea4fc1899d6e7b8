package linkmac

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tapwallet/tapwallet/fault"
)

func TestSignCheck(t *testing.T) {
	secret, body := []byte("shared"), []byte(`{"a":1}`)
	s := Sign(secret, body)
	if len(s) != 64 || !Check(secret, body, s) {
		t.Fatalf("Sign %q does not check", s)
	}
	for name, c := range map[string]struct {
		secret, body []byte
		got          string
	}{
		"other body":   {secret, []byte(`{"a":2}`), s},
		"other secret": {[]byte("other"), body, s},
		"missing":      {secret, body, ""},
		"not hex":      {secret, body, "zz" + s[2:]},
		"truncated":    {secret, body, s[:62]},
	} {
		if Check(c.secret, c.body, c.got) {
			t.Errorf("%s: checks, want refused", name)
		}
	}
}

func TestFaultOverHTTP(t *testing.T) {
	for _, c := range []struct {
		kind   fault.Kind
		status int
	}{
		{fault.Invalid, 400}, {fault.Unauthorized, 401}, {fault.NotFound, 404},
		{fault.Conflict, 409}, {fault.Unavailable, 503}, {fault.Internal, 500},
	} {
		rec := httptest.NewRecorder()
		WriteFault(rec, fault.E(c.kind, "some_code", "what went wrong"))
		if rec.Code != c.status || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: status %d (%s), want %d JSON", c.kind, rec.Code, rec.Header().Get("Content-Type"), c.status)
		}
		f, ok := ReadFault(rec.Body.Bytes())
		if !ok || f.Kind != c.kind || f.Code != "some_code" || f.Message != "what went wrong" {
			t.Errorf("%s: read back %+v %v", c.kind, f, ok)
		}
	}
	if _, ok := ReadFault([]byte("<html>bad gateway</html>")); ok {
		t.Error("an HTML page read as a fault")
	}
	if _, ok := ReadFault([]byte(`{"code":"x"}`)); ok {
		t.Error("a fault without a kind read as one")
	}
	rec := httptest.NewRecorder()
	WriteSigned(rec, "X-MAC", []byte("k"), []byte(`{}`))
	if rec.Code != http.StatusOK || !Check([]byte("k"), []byte(`{}`), rec.Header().Get("X-MAC")) {
		t.Errorf("WriteSigned: %d, MAC %q", rec.Code, rec.Header().Get("X-MAC"))
	}
}
