// Package phonetest makes phones for tests: opened on a wallet service,
// signed up, logged in and registered — the steps every test that pays
// with a phone takes before its own. A tool for tests, never for the
// platform.
package phonetest

import (
	"context"
	"testing"

	"github.com/tapwallet/tapwallet/phone"
)

// Registered opens a phone in dir on the wallet service at url, signs up
// and logs in as email with password, and registers the phone as name
// (model "model"); the test fails at the first step that does.
func Registered(t testing.TB, dir, url, email, password, name string) *phone.Phone {
	t.Helper()
	ctx := context.Background()
	ph, err := phone.Open(dir, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := ph.SignUp(ctx, email, password); err != nil {
		t.Fatal(err)
	}
	if err := ph.LogIn(ctx, email, password); err != nil {
		t.Fatal(err)
	}
	if _, err := ph.Register(ctx, name, "model"); err != nil {
		t.Fatal(err)
	}
	return ph
}
