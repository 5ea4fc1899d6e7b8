package walletapi

import (
	"testing"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/lostphone"
	"github.com/tapwallet/tapwallet/wallet"
)

// FuzzLostPhoneBodies feeds the lost-phone routes' JSON bodies (wallet-off,
// wallet-on, ask, check-in) to the strict decoder: it never panics, refuses
// with fault.Invalid only, and a check-in place it accepts is either
// complete and on Earth or is refused by the wallet service.
func FuzzLostPhoneBodies(f *testing.F) {
	for _, s := range []string{
		`{"reason":"lost in a taxi"}`, `{"password":"correct horse battery"}`, `{"kind":"ring","message":"call me"}`,
		`{"lat":39.9087,"lon":116.3975}`, `{"lat":91,"lon":0}`, `{"lat":"x"}`, `{"lat":1e400,"lon":0}`, `{}`, `{"lat":1}`, `{"reason":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range []any{&walletOffReq{}, &walletOnReq{}, &askReq{}} {
			if err := decode(b, v); err != nil && fault.KindOf(err) != fault.Invalid {
				t.Fatalf("error kind: got %s, want invalid", fault.KindOf(err))
			}
		}
		var c checkInReq
		if err := decode(b, &c); err != nil {
			if fault.KindOf(err) != fault.Invalid {
				t.Fatalf("error kind: got %s, want invalid", fault.KindOf(err))
			}
			return
		}
		if c.Lat != nil && c.Lon != nil && !wallet.ValidLocation(*c.Lat, *c.Lon) {
			return // the wallet service refuses it (bad_location)
		}
	})
}

func TestSwitchViewShowsOnlyLast4(t *testing.T) {
	j := switchView(lostphoneResult("6288010000001239", "6288020000004562"), "m")
	if len(j.Tokens) != 2 || j.Tokens[0] != "1239" || j.Tokens[1] != "4562" {
		t.Fatalf("tokens: got %v, want the last 4 digits only", j.Tokens)
	}
}

func lostphoneResult(tokens ...string) lostphone.Result { return lostphone.Result{Tokens: tokens} }
