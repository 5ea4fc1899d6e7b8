package phone_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/phone"
)

// clock is a settable phone clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func openPhone(t *testing.T, dir string, c *clock) *phone.Phone {
	t.Helper()
	p, err := phone.Open(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	p.Now = c.now
	return p
}

func TestFingerWindow(t *testing.T) {
	c := &clock{t: time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)}
	p := openPhone(t, t.TempDir(), c)
	if err := p.EnrollFinger("right-thumb"); err != nil {
		t.Fatal(err)
	}
	if p.CDCVM().Verified() {
		t.Fatalf("verified before any fingerprint; want not")
	}
	if err := p.VerifyFinger("right-thumb"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		after time.Duration
		want  bool
	}{{0, true}, {29 * time.Second, true}, {30 * time.Second, true}, {31 * time.Second, false}, {-time.Second, false}} {
		c.t = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC).Add(tc.after)
		if got := p.CDCVM().Verified(); got != tc.want {
			t.Errorf("%v after the fingerprint: verified %v, want %v", tc.after, got, tc.want)
		}
	}
}

func TestFingerUsedOnce(t *testing.T) {
	c := &clock{t: time.Now()}
	dir := t.TempDir()
	p := openPhone(t, dir, c)
	if err := p.EnrollFinger("index"); err != nil {
		t.Fatal(err)
	}
	if err := p.VerifyFinger("index"); err != nil {
		t.Fatal(err)
	}
	// Another process (the tap command) sees the verification.
	q := openPhone(t, dir, c)
	cvm := q.CDCVM()
	if !cvm.Verified() {
		t.Fatalf("a second open of the profile: verified false, want true")
	}
	cvm.Used()
	if p.CDCVM().Verified() {
		t.Errorf("after one payment: verified true, want the fingerprint used up")
	}
}

func TestFingerLock(t *testing.T) {
	c := &clock{t: time.Now()}
	p := openPhone(t, t.TempDir(), c)
	if err := p.VerifyFinger("right-thumb"); !fault.Has(err, fault.NotFound, "no_finger") {
		t.Errorf("verify with nothing enrolled: got %v, want no_finger", err)
	}
	if err := p.EnrollFinger("right-thumb"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < phone.MaxFingerFailures; i++ {
		if err := p.VerifyFinger("left-pinky"); !fault.Has(err, fault.Unauthorized, "wrong_finger") {
			t.Fatalf("wrong finger %d: got %v, want wrong_finger", i, err)
		}
	}
	// A right finger in between resets the count.
	if err := p.VerifyFinger("right-thumb"); err != nil {
		t.Fatalf("right finger after 4 wrong: got %v, want nil", err)
	}
	for i := 1; i <= phone.MaxFingerFailures; i++ {
		err := p.VerifyFinger("left-pinky")
		want := "wrong_finger"
		if i == phone.MaxFingerFailures {
			want = "payments_locked"
		}
		if fault.CodeOf(err) != want {
			t.Fatalf("wrong finger %d in a row: got %v, want %s", i, err, want)
		}
	}
	st, err := p.Fingers()
	if err != nil {
		t.Fatal(err)
	}
	if !st.Locked || st.Fresh || st.Failures != phone.MaxFingerFailures {
		t.Errorf("status: got %+v, want locked, not fresh, %d failures", st, phone.MaxFingerFailures)
	}
	if err := p.VerifyFinger("right-thumb"); fault.CodeOf(err) != "payments_locked" {
		t.Errorf("right finger while locked: got %v, want payments_locked", err)
	}
	if p.CDCVM().Verified() {
		t.Errorf("verified while locked; want not")
	}
	if err := p.EnrollFinger("thiefs-thumb"); fault.CodeOf(err) != "payments_locked" {
		t.Errorf("enroll while locked: got %v, want payments_locked", err)
	}
}

func TestFingerTemplateHoldsNoName(t *testing.T) {
	dir := t.TempDir()
	p := openPhone(t, dir, &clock{t: time.Now()})
	if err := p.EnrollFinger("secret-finger-name"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "fingerprint.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); strings.Contains(got, "secret-finger-name") {
		t.Errorf("the profile holds the finger's name: %s", got)
	}
	fi, err := os.Stat(filepath.Join(dir, "fingerprint.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("fingerprint.json mode: got %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}

// Issue 9 item 9: a fingerprint given before the phone showed a request
// consents to the first request of a non-zero amount, then to that one
// only; a request shown (refused) is what the next fingerprint covers.
func TestFingerConsentIsForOneRequest(t *testing.T) {
	c := &clock{t: time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)}
	p := openPhone(t, t.TempDir(), c)
	if err := p.EnrollFinger("right-thumb"); err != nil {
		t.Fatal(err)
	}
	if err := p.VerifyFinger("right-thumb"); err != nil {
		t.Fatal(err)
	}
	cvm := p.CDCVM()
	zeroEUR := applet.Request{Amount: 0, Currency: 978, Merchant: "CARDPEEK"}
	cny := applet.Request{Amount: 500, Currency: 156}
	for i, tc := range []struct {
		req  applet.Request
		want bool
	}{
		{zeroEUR, false}, // a read is never paid on a consent given before it was shown
		{cny, true},      // the first real request: the consent is now for it
		{applet.Request{Amount: 600, Currency: 156}, false},
		{applet.Request{Amount: 500, Currency: 344}, false},
		{cny, true},
	} {
		if got := cvm.Consented(tc.req); got != tc.want {
			t.Errorf("request %d %+v: consented %v, want %v", i, tc.req, got, tc.want)
		}
	}
	cvm.Used()
	// The phone showed 0.00 EUR (refused); a fingerprint now pays it.
	if cvm.Consented(zeroEUR) {
		t.Fatal("consented with no fingerprint")
	}
	if err := p.VerifyFinger("right-thumb"); err != nil {
		t.Fatal(err)
	}
	if st, _ := p.Fingers(); st.For == nil || !st.For.Same(zeroEUR) {
		t.Errorf("consent after the shown request: got %+v, want 0.00 EUR", st.For)
	}
	if !cvm.Consented(zeroEUR) || cvm.Consented(cny) {
		t.Errorf("want the shown 0.00 EUR consented and 5.00 CNY not")
	}
	// A request shown longer ago than RequestWindow is not what a new
	// fingerprint covers.
	cvm.Used()
	cvm.Consented(zeroEUR)
	c.t = c.t.Add(phone.RequestWindow + time.Second)
	if err := p.VerifyFinger("right-thumb"); err != nil {
		t.Fatal(err)
	}
	if st, _ := p.Fingers(); st.For != nil {
		t.Errorf("consent after a stale shown request: got %+v, want none yet", st.For)
	}
	// phone tap --finger: the consent is for what this tap meets, not for
	// what was shown before (a reader's 0.00 read stays refused).
	cvm.Used()
	cvm.Consented(zeroEUR)
	if err := p.VerifyFingerToTap("right-thumb"); err != nil {
		t.Fatal(err)
	}
	if cvm.Consented(zeroEUR) || !cvm.Consented(cny) {
		t.Errorf("after VerifyFingerToTap: want 0.00 EUR refused and 5.00 CNY consented")
	}
}
