package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/platform"
)

// runCLI runs the real program with args and an environment.
func runCLI(t *testing.T, envv map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return envv[k] }, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestServe starts `tapwallet serve`, checks /healthz, and stops it with a
// cancelled context (what SIGINT/SIGTERM do); the --http flag overrides
// TAPWALLET_HTTP.
func TestServe(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var errb bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "--data", filepath.Join(t.TempDir(), "data"), "--http", addr}, // a new folder: serve makes it 0700
			func(k string) string {
				if k == "TAPWALLET_HTTP" {
					return "127.0.0.1:1"
				}
				return ""
			}, strings.NewReader(""), &bytes.Buffer{}, &errb)
	}()
	var resp *http.Response
	var err error
	for i := 0; i < 100; i++ {
		resp, err = http.Get("http://" + addr + "/healthz")
		if err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		cancel()
		t.Fatalf("serve did not answer on %s: %v (stderr %s)", addr, err, errb.String())
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("got /healthz %d, want 200", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve ended with %v, want a clean shutdown", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
	if !strings.Contains(errb.String(), `"msg":"shutting down"`) {
		t.Errorf("no structured shutdown log line in %q", errb.String())
	}
}

// TestPhoneCLI drives the phone as a script would: no prompts when the
// flags and TAPWALLET_PASSWORD are given.
func TestPhoneCLI(t *testing.T) {
	p, err := platform.Start(context.Background(), platform.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", ArgonTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	envv := map[string]string{"TAPWALLET_PASSWORD": "password-123", "TAPWALLET_SERVER": p.URL, "TAPWALLET_PROFILE": filepath.Join(t.TempDir(), "phone")}
	var green, otp *bank.Cardholder
	for i := range p.Banks.Cards {
		c := &p.Banks.Cards[i]
		if c.Expiry.Year < 2027 {
			continue
		}
		if c.IDV == bank.Green && green == nil {
			green = c
		}
		if c.IDV == bank.StepUp && otp == nil {
			otp = c
		}
	}
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"phone", "signup", "--email", "erin@example.com"}, "account created"},
		{[]string{"phone", "login", "--email", "erin@example.com"}, "logged in"},
		{[]string{"phone", "register", "--name", "Erin's phone"}, "registered as ph_"},
		{[]string{"phone", "add-card", "--pan", green.PAN.Digits(), "--expiry", green.Expiry.MMYY(), "--cvn2", green.CVN2.Digits()}, "payment keys in the secure element"},
		{[]string{"phone", "add-card", "--pan", otp.PAN.Digits(), "--expiry", otp.Expiry.MMYY(), "--cvn2", otp.CVN2.Digits()}, "verify-otp --binding"},
		{[]string{"phone", "otp"}, "Your code"},
		{[]string{"phone", "cards"}, green.PAN.Last4()},
		{[]string{"phone", "default", green.PAN.Last4()}, "is now the default"},
		{[]string{"phone", "remove-card", green.PAN.Last4()}, "removed"},
		{[]string{"phone", "cards"}, "no cards on this phone"},
	}
	for _, s := range steps {
		out, errs, err := runCLI(t, envv, s.args...)
		if err != nil || !strings.Contains(out, s.want) {
			t.Fatalf("%v: got %q (stderr %q, err %v), want it to contain %q", s.args, out, errs, err, s.want)
		}
		if strings.Contains(out, green.PAN.Digits()) || strings.Contains(errs, green.PAN.Digits()) {
			t.Fatalf("%v printed a full card number", s.args)
		}
	}
	// Errors: a usage error exits 2; an API error explains itself.
	_, _, err = runCLI(t, envv, "phone", "add-card", "--pan", "123")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("missing flags: got %v, want exit code 2", err)
	}
	_, _, err = runCLI(t, envv, "phone", "add-card", "--pan", "4111111111111112", "--expiry", "1230", "--cvn2", "123")
	if err == nil || !strings.Contains(err.Error(), "Luhn") {
		t.Errorf("bad Luhn: got %v", err)
	}
	_, _, err = runCLI(t, envv, "nope")
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("unknown command: got %v, want exit code 2", err)
	}
}
