package pkcs11test

import (
	"runtime"
	"testing"
)

// recorder is a testing.TB that records Fatal and Skip instead of ending
// the real test.
type recorder struct {
	testing.TB
	fatal, skipped bool
}

func (r *recorder) Fatal(...any)          { r.fatal = true; runtime.Goexit() }
func (r *recorder) Fatalf(string, ...any) { r.fatal = true; runtime.Goexit() }
func (r *recorder) Skip(...any)           { r.skipped = true; runtime.Goexit() }

// TestMissingSoftHSM: without SoftHSM2 the PKCS#11 tests skip on a
// developer's machine and fail with CI=true (a CI that lost softhsm2 must
// not pass with the suite skipped).
func TestMissingSoftHSM(t *testing.T) {
	saved := Modules
	defer func() { Modules = saved }()
	Modules = []string{"/nonexistent/libsofthsm2.so"}
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() { defer close(done); Module(r) }()
		<-done
		if ci == "true" && (!r.fatal || r.skipped) || ci == "" && (!r.skipped || r.fatal) {
			t.Errorf("CI=%q: fatal %v, skipped %v; want a failure with CI=true and a skip without", ci, r.fatal, r.skipped)
		}
	}
}
