package phone

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/fault"
)

// The fingerprint (consumer-device CVM) rules of the phone.
const (
	// FingerWindow is how long a verified fingerprint allows a payment.
	FingerWindow = 30 * time.Second
	// MaxFingerFailures is how many wrong fingers in a row lock payments
	// until the account password is entered again (Unlock).
	MaxFingerFailures = 5
	// DefaultFinger is the finger enrolled and verified when none is named.
	DefaultFinger = "right-thumb"
)

// fingerFile is the fingerprint state in the profile folder (mode 0600).
const fingerFile = "fingerprint.json"

// fingerState is what the phone keeps about fingerprints: the enrolled
// templates (a salt and SHA-256(salt ‖ finger id) each, never the id) and
// the verification state that the payment applet asks.
type fingerState struct {
	Templates  []fingerTemplate `json:"templates,omitempty"`
	VerifiedAt int64            `json:"verified_at,omitempty"` // Unix ms on the phone's clock; 0 = none
	Failures   int              `json:"failures,omitempty"`    // wrong fingers in a row
	Locked     bool             `json:"locked,omitempty"`      // payments locked until Unlock
	// ConsentFor is the request the verification consents to: the one
	// the phone showed before it (Shown), or the first one it met after.
	// nil while the verification has met no request.
	ConsentFor *applet.Request `json:"consent_for,omitempty"`
	// Shown is the last request the phone showed its holder without
	// paying it (see phone), and when (Unix ms): a fingerprint verified
	// within RequestWindow after it consents to that request only.
	Shown   *applet.Request `json:"shown,omitempty"`
	ShownAt int64           `json:"shown_at,omitempty"`
}

// RequestWindow is how long after the phone showed a terminal's request
// (see phone) a fingerprint consents to that request only.
const RequestWindow = 2 * time.Minute

type fingerTemplate struct {
	Salt []byte `json:"salt"`
	Hash []byte `json:"hash"`
}

func fingerHash(salt []byte, finger string) []byte {
	h := sha256.New()
	h.Write([]byte("tapwallet-finger-v1\x00"))
	h.Write(salt)
	h.Write([]byte(finger))
	return h.Sum(nil)
}

func (p *Phone) loadFingers() (fingerState, error) {
	var st fingerState
	b, err := os.ReadFile(filepath.Join(p.Dir, fingerFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fault.Wrap(err, fault.Unavailable, "profile", "read the fingerprint state")
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fault.E(fault.Invalid, "profile", "%s in the profile is damaged", fingerFile)
	}
	return st, nil
}

func (p *Phone) saveFingers(st fingerState) error {
	b, _ := json.Marshal(st)
	tmp := filepath.Join(p.Dir, fingerFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fault.Wrap(err, fault.Unavailable, "profile", "write the fingerprint state")
	}
	if err := os.Rename(tmp, filepath.Join(p.Dir, fingerFile)); err != nil {
		return fault.Wrap(err, fault.Unavailable, "profile", "write the fingerprint state")
	}
	return nil
}

// EnrollFinger enrolls a finger: it stores a salted hash of the finger's
// id in the profile. Enrolling the same finger twice keeps one template.
// It fails with fault.Invalid "bad_finger" for an empty id and
// fault.Forbidden "payments_locked" while payments are locked (a thief
// must not enroll a finger to get round the lock).
func (p *Phone) EnrollFinger(finger string) error {
	if finger == "" {
		return fault.E(fault.Invalid, "bad_finger", "name the finger to enroll")
	}
	st, err := p.loadFingers()
	if err != nil {
		return err
	}
	if st.Locked {
		return lockedErr()
	}
	if _, ok := match(st, finger); ok {
		return nil
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return fault.Wrap(err, fault.Internal, "rand", "no randomness for the template")
	}
	st.Templates = append(st.Templates, fingerTemplate{Salt: salt, Hash: fingerHash(salt, finger)})
	return p.saveFingers(st)
}

func match(st fingerState, finger string) (int, bool) {
	found := -1
	for i, t := range st.Templates {
		if subtle.ConstantTimeCompare(fingerHash(t.Salt, finger), t.Hash) == 1 {
			found = i
		}
	}
	return found, found >= 0
}

func lockedErr() error {
	return fault.E(fault.Forbidden, "payments_locked",
		"payments are locked after %d wrong fingers: enter the account password (tapwallet phone unlock)", MaxFingerFailures)
}

// VerifyFinger checks a finger against the enrolled templates. A match
// starts the FingerWindow in which one payment may be made and clears the
// count of wrong fingers; the consent is for the request the phone showed
// in the last RequestWindow (a "see phone" tap), else for the first
// request of a non-zero amount the phone meets (see Consented). A wrong finger counts: it fails with
// fault.Unauthorized "wrong_finger", and the MaxFingerFailures-th in a row
// locks payments and fails with fault.Forbidden "payments_locked", as does
// any verification while locked. It fails with fault.NotFound "no_finger"
// when no finger is enrolled.
func (p *Phone) VerifyFinger(finger string) error { return p.verifyFinger(finger, true) }

// VerifyFingerToTap is VerifyFinger just before a tap (phone tap
// --finger): the consent is for the first request of a non-zero amount
// this tap meets, not for a request shown before.
func (p *Phone) VerifyFingerToTap(finger string) error { return p.verifyFinger(finger, false) }

func (p *Phone) verifyFinger(finger string, shown bool) error {
	st, err := p.loadFingers()
	if err != nil {
		return err
	}
	if st.Locked {
		return lockedErr()
	}
	if len(st.Templates) == 0 {
		return fault.E(fault.NotFound, "no_finger", "no fingerprint is enrolled on this phone (tapwallet phone enroll-finger)")
	}
	if _, ok := match(st, finger); ok {
		now := p.Now()
		st.Failures, st.VerifiedAt, st.ConsentFor = 0, now.UnixMilli(), nil
		if shown && st.Shown != nil && now.Sub(time.UnixMilli(st.ShownAt)) <= RequestWindow {
			st.ConsentFor = st.Shown
		}
		return p.saveFingers(st)
	}
	st.Failures++
	st.VerifiedAt = 0
	if st.Failures >= MaxFingerFailures {
		st.Locked = true
	}
	if err := p.saveFingers(st); err != nil {
		return err
	}
	if st.Locked {
		return lockedErr()
	}
	return fault.E(fault.Unauthorized, "wrong_finger", "fingerprint not recognised (%d of %d tries before payments lock)", st.Failures, MaxFingerFailures)
}

// Unlock lifts the payment lock after too many wrong fingers: it checks the
// account password with the wallet service by logging in again, then
// clears the lock and the count. It returns the log-in's error (the wallet
// service's unauthorized for a wrong password) and leaves the lock on then.
func (p *Phone) Unlock(ctx context.Context, password string) error {
	if p.Profile.Email == "" {
		return fault.E(fault.Invalid, "not_logged_in", "this phone has no account: sign up or log in first")
	}
	if err := p.LogIn(ctx, p.Profile.Email, password); err != nil {
		return err
	}
	st, err := p.loadFingers()
	if err != nil {
		return err
	}
	st.Locked, st.Failures, st.VerifiedAt = false, 0, 0
	return p.saveFingers(st)
}

// FingerStatus is the phone's fingerprint state as the app shows it.
type FingerStatus struct {
	Enrolled   int       // fingers enrolled
	Failures   int       // wrong fingers in a row
	Locked     bool      // payments locked until Unlock
	VerifiedAt time.Time // last verification still unused (zero if none)
	Fresh      bool      // verified within FingerWindow: a tap pays
	// For is the request the fresh verification consents to; nil when it
	// consents to the first request of a non-zero amount the phone meets.
	For *applet.Request
}

// Fingers returns the fingerprint state; it fails if the state file is
// damaged.
func (p *Phone) Fingers() (FingerStatus, error) {
	st, err := p.loadFingers()
	if err != nil {
		return FingerStatus{}, err
	}
	s := FingerStatus{Enrolled: len(st.Templates), Failures: st.Failures, Locked: st.Locked}
	if st.VerifiedAt != 0 {
		s.VerifiedAt = time.UnixMilli(st.VerifiedAt)
		s.Fresh = fresh(st, p.Now())
		if s.Fresh {
			s.For = st.ConsentFor
		}
	}
	return s, nil
}

func fresh(st fingerState, now time.Time) bool {
	if st.Locked || st.VerifiedAt == 0 {
		return false
	}
	age := now.Sub(time.UnixMilli(st.VerifiedAt))
	return age >= 0 && age <= FingerWindow
}

// phoneCDCVM is the payment applet's view of the fingerprint: it reads the
// state from the profile at each GET PROCESSING OPTIONS, so a verification
// made by another process (tapwallet phone verify-finger) counts.
type phoneCDCVM struct{ p *Phone }

// CDCVM returns the phone's consumer-device CVM for the payment applet:
// it consents when a fingerprint was verified within FingerWindow on the
// phone's clock, payments are not locked and the request is the one the
// verification is for (see Consented); each payment uses the
// verification up.
func (p *Phone) CDCVM() CDCVM { return phoneCDCVM{p} }

// CDCVM is the phone's fingerprint as the applets ask it: the payment
// applet for its consent to a request, the transit purses whether it is
// fresh at all.
type CDCVM interface {
	applet.CDCVM
	// Verified reports a fresh fingerprint, whatever it consents to.
	Verified() bool
}

// Verified reports a fresh fingerprint, whatever it consents to (the
// transit purses ask this: a locked phone's purse pays no fare).
func (c phoneCDCVM) Verified() bool {
	st, err := c.p.loadFingers()
	return err == nil && fresh(st, c.p.Now())
}

// Consented reports whether a fresh fingerprint consents to req:
//   - consented to this amount and currency: yes;
//   - consented to another request: no — a second, different request in
//     the window needs its own fingerprint;
//   - met no request yet: yes, and the consent is now for req; but a zero
//     amount (a card reader's read, an account check) is never paid on a
//     fingerprint given before the phone showed it.
//
// A request it refuses is kept as shown: the holder sees it ("see phone"
// with the amount) and the next fingerprint consents to it.
func (c phoneCDCVM) Consented(req applet.Request) bool {
	st, err := c.p.loadFingers()
	if err != nil {
		return false
	}
	now := c.p.Now()
	ok := fresh(st, now)
	switch {
	case !ok:
	case st.ConsentFor != nil:
		ok = st.ConsentFor.Same(req)
	case req.Amount == 0:
		ok = false
	default:
		st.ConsentFor = &req
	}
	if !ok {
		st.Shown, st.ShownAt = &req, now.UnixMilli()
	}
	if err := c.p.saveFingers(st); err != nil {
		return false
	}
	return ok
}

// Used uses the verification up: the next payment needs a new one.
func (c phoneCDCVM) Used() {
	st, err := c.p.loadFingers()
	if err != nil {
		return
	}
	st.VerifiedAt, st.ConsentFor, st.Shown, st.ShownAt = 0, nil, nil, 0
	_ = c.p.saveFingers(st)
}
