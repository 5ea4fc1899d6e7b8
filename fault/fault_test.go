package fault

import (
	"errors"
	"fmt"
	"testing"
)

func TestKindsAndCodes(t *testing.T) {
	err := fmt.Errorf("adding card: %w", E(Invalid, "bad_luhn", "card number fails the Luhn check"))
	if !Has(err, Invalid, "bad_luhn") || Has(err, Invalid, "bad_pan") || Has(err, NotFound, "bad_luhn") {
		t.Error("Has does not match kind and code through wrapping")
	}
	if !errors.Is(err, &Error{Kind: Invalid}) {
		t.Error("errors.Is with a kind only must match any code")
	}
	if KindOf(err) != Invalid || CodeOf(err) != "bad_luhn" || MessageOf(err) != "card number fails the Luhn check" {
		t.Errorf("got %s %s %q", KindOf(err), CodeOf(err), MessageOf(err))
	}
	plain := errors.New("driver: secret detail")
	if KindOf(plain) != Internal || CodeOf(plain) != "internal" || MessageOf(plain) != "internal error" {
		t.Error("a plain error must report as internal without its text")
	}
	w := Wrap(plain, Unavailable, "db", "database error")
	if !errors.Is(w, plain) || w.Error() != "database error: driver: secret detail" || MessageOf(w) != "database error" {
		t.Errorf("Wrap: got %q", w.Error())
	}
}

func TestInjectCallsTheHook(t *testing.T) {
	Inject("nothing set") // no hook: nothing happens
	var got []string
	restore := SetHook(func(p string) { got = append(got, p) })
	Inject("a")
	Inject("b")
	restore()
	Inject("after restore")
	if fmt.Sprint(got) != "[a b]" {
		t.Errorf("got points %v, want [a b]", got)
	}
}
