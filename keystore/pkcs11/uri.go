package pkcs11

import (
	"net/url"
	"sort"
	"strings"

	"github.com/tapwallet/tapwallet/fault"
)

// Config is what a pkcs11: key-store URI names (RFC 7512 style):
//
//	pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=tapwallet;pin-env=TAPWALLET_HSM_PIN
//
// Attributes are separated by ';' (or given as a '?' query with '&', as
// RFC 7512's module-path and pin-source are); values are percent-decoded.
// The PIN is read from the environment variable pin-env names — never from
// the URI (a pin-value attribute is refused: a command line is visible to
// every user of the machine).
type Config struct {
	Module string // the PKCS#11 library (module or module-path)
	Token  string // the token's label
	PINEnv string // the environment variable holding the user PIN
}

// ParseURI reads a pkcs11: URI. It fails with fault.Invalid "keys_uri"
// naming what is wrong.
func ParseURI(uri string) (Config, error) {
	bad := func(f string, a ...any) (Config, error) {
		return Config{}, fault.E(fault.Invalid, "keys_uri", "--keys "+f, a...)
	}
	rest, ok := strings.CutPrefix(uri, "pkcs11:")
	if !ok {
		return bad("must start with pkcs11:")
	}
	attrs := map[string]string{}
	path, query, _ := strings.Cut(rest, "?")
	parts := strings.Split(path, ";")
	if query != "" {
		parts = append(parts, strings.Split(query, "&")...)
	}
	for _, p := range parts {
		if p == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return bad("attribute %.40q has no value", p)
		}
		dv, err := url.PathUnescape(v)
		if err != nil {
			return bad("attribute %.40q is not percent-encoded correctly", k)
		}
		attrs[k] = dv
	}
	if _, ok := attrs["pin-value"]; ok {
		return bad("must not carry the PIN (pin-value): put it in an environment variable and name it with pin-env=")
	}
	var c Config
	for k, v := range attrs {
		switch k {
		case "module", "module-path":
			c.Module = v
		case "token":
			c.Token = v
		case "pin-env":
			c.PINEnv = v
		default:
			known := []string{"module", "module-path", "token", "pin-env"}
			sort.Strings(known)
			return bad("has an unknown attribute %.40q (known: %s)", k, strings.Join(known, ", "))
		}
	}
	switch {
	case c.Module == "":
		return bad("needs module= (the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so)")
	case c.Token == "":
		return bad("needs token= (the token's label)")
	case c.PINEnv == "":
		return bad("needs pin-env= (the environment variable holding the user PIN)")
	}
	return c, nil
}

// String is the URI again (it never holds the PIN).
func (c Config) String() string {
	return "pkcs11:module=" + c.Module + ";token=" + c.Token + ";pin-env=" + c.PINEnv
}

func sortStrings(s []string) { sort.Strings(s) }
