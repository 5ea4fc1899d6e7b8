// Package pkcs11test makes a fresh SoftHSM2 token for a test: its own
// token folder and configuration (SOFTHSM2_CONF) under t.TempDir(), a user
// PIN in an environment variable, and the pkcs11: URI naming it.
package pkcs11test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Modules are where Debian and others install SoftHSM2's library.
var Modules = []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", "/usr/local/lib/softhsm/libsofthsm2.so"}

// PINEnv is the environment variable the tokens' user PIN is in.
const PINEnv = "TAPWALLET_TEST_HSM_PIN"

// PIN is the test tokens' user PIN.
const PIN = "4711-test-pin"

// Module returns SoftHSM2's library, or skips the test when it is not
// installed — and fails it when CI=true (the CI installs softhsm2: a
// missing one there is a broken build, not a skipped suite).
func Module(t testing.TB) string {
	t.Helper()
	for _, m := range Modules {
		if _, err := os.Stat(m); err == nil {
			if _, err := exec.LookPath("softhsm2-util"); err == nil {
				return m
			}
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("SoftHSM2 is not installed (CI=true: apt-get install softhsm2 opensc); the PKCS#11 key-store tests cannot run")
	}
	t.Skip("SoftHSM2 is not installed (apt-get install softhsm2): skipping the PKCS#11 key-store tests")
	return ""
}

// Token initialises a token labelled label in a fresh SoftHSM2 folder,
// points SOFTHSM2_CONF at it and PINEnv at its PIN, and returns the URI.
// SoftHSM2 reads SOFTHSM2_CONF once per process, at its first
// C_Initialize: every token of a test process lives in the first folder
// made (later calls add their tokens there).
func Token(t testing.TB, label string) string {
	t.Helper()
	mod := Module(t)
	conf := os.Getenv("SOFTHSM2_CONF")
	if conf == "" || os.Getenv("TAPWALLET_TEST_SOFTHSM") != conf {
		dir, err := os.MkdirTemp("", "tapwallet-softhsm-")
		if err != nil {
			t.Fatal(err)
		}
		tokens := filepath.Join(dir, "tokens")
		if err := os.Mkdir(tokens, 0o700); err != nil {
			t.Fatal(err)
		}
		conf = filepath.Join(dir, "softhsm2.conf")
		if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Setenv("SOFTHSM2_CONF", conf)
		os.Setenv("TAPWALLET_TEST_SOFTHSM", conf)
	}
	os.Setenv(PINEnv, PIN)
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", "so-"+PIN, "--pin", PIN).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return "pkcs11:module=" + mod + ";token=" + label + ";pin-env=" + PINEnv
}
