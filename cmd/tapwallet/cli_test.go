package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/phone"
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

// startPlatform starts an in-process platform on port 0 and returns it with
// the environment a phone command of a fresh profile runs with.
func startPlatform(t *testing.T) (*platform.Platform, map[string]string) {
	t.Helper()
	return startPlatformWith(t, platform.Config{})
}

// startPlatformWith starts a platform with cfg (its data folder, address
// and password hashing cost set here).
func startPlatformWith(t *testing.T, cfg platform.Config) (*platform.Platform, map[string]string) {
	t.Helper()
	cfg.DataDir, cfg.HTTPAddr, cfg.ArgonTime = t.TempDir(), "127.0.0.1:0", 1
	p, err := platform.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, map[string]string{"TAPWALLET_PASSWORD": "password-123", "TAPWALLET_SERVER": p.URL, "TAPWALLET_PROFILE": filepath.Join(t.TempDir(), "phone")}
}

// mustRun runs a command that must succeed and print want.
func mustRun(t *testing.T, envv map[string]string, want string, args ...string) string {
	t.Helper()
	out, errs, err := runCLI(t, envv, args...)
	if err != nil || !strings.Contains(out, want) {
		t.Fatalf("%v: got %q (stderr %q, err %v), want it to contain %q", args, out, errs, err, want)
	}
	return out
}

func registeredPhone(t *testing.T, envv map[string]string, email string) {
	t.Helper()
	mustRun(t, envv, "account created", "phone", "signup", "--email", email)
	mustRun(t, envv, "logged in", "phone", "login", "--email", email)
	mustRun(t, envv, "registered as ph_", "phone", "register")
}

// TestAddCardWithOTP: the README's way — add-card, read the code, add-card
// again with --otp CODE — adds the card, finishing the binding the first
// add-card started (it used to start a new one, so the code was "wrong").
// verify-otp --binding still works, and --otp with no pending binding says
// the code was not used.
func TestAddCardWithOTP(t *testing.T) {
	p, envv := startPlatform(t)
	registeredPhone(t, envv, "olga@example.com")
	_, otp := pickCards(p.Banks)
	if len(otp) < 2 {
		t.Fatal("the shipped banks have fewer than 2 step-up test cards")
	}
	c := otp[0]
	card := []string{"phone", "add-card", "--pan", c.PAN.Digits(), "--expiry", c.Expiry.MMYY(), "--cvn2", c.CVN2.Digits()}
	mustRun(t, envv, "add-card --pan … --expiry … --cvn2 … --otp CODE", card...)
	code := codeOf(t, mustRun(t, envv, "Your code", "phone", "otp"))
	out := mustRun(t, envv, "added ", append(card, "--otp", code)...)
	if !strings.Contains(out, c.PAN.Last4()) || !strings.Contains(out, "payment keys") {
		t.Errorf("add-card --otp: got %q", out)
	}
	mustRun(t, envv, c.PAN.Last4(), "phone", "cards")

	// --otp with no pending binding for the card: the code cannot be for
	// the binding this starts, so it is not used, and it says so.
	c = otp[1]
	card = []string{"phone", "add-card", "--pan", c.PAN.Digits(), "--expiry", c.Expiry.MMYY(), "--cvn2", c.CVN2.Digits()}
	out, _, err := runCLI(t, envv, append(card, "--otp", "123456")...)
	if err == nil || !strings.Contains(err.Error(), "the --otp code was not used") || !strings.Contains(out, "verify-otp --binding") {
		t.Fatalf("--otp with no pending binding: got %v (%q), want 'the --otp code was not used' and the binding", err, out)
	}
	// The other way: verify-otp with the binding add-card printed.
	binding := strings.Fields(out[strings.Index(out, "--binding ")+len("--binding "):])[0]
	code = codeOf(t, mustRun(t, envv, "Your code", "phone", "otp"))
	mustRun(t, envv, "added ", "phone", "verify-otp", "--binding", binding, "--otp", code)
	mustRun(t, envv, c.PAN.Last4(), "phone", "cards")
	ph, err := phone.Load(envv["TAPWALLET_PROFILE"], "")
	if err != nil || len(ph.Profile.Pending) != 0 {
		t.Errorf("after both cards were added: pending %+v (%v), want none", ph.Profile.Pending, err)
	}
}

func codeOf(t *testing.T, msg string) string {
	t.Helper()
	for _, f := range strings.Fields(msg) {
		f = strings.TrimRight(f, ".")
		if len(f) == 6 && strings.Trim(f, "0123456789") == "" {
			return f
		}
	}
	t.Fatalf("no code in %q", msg)
	return ""
}

// TestConcurrentAddCards: 8 add-cards at once on one profile (as 8
// processes would: each opens the profile and its secure element itself)
// against a real platform; every card ends in the profile with its keys.
// Before the profile and the secure element were locked, most ended
// without keys (the last writer's file won).
//
// It tests the profile's lock, not risk: with the risk engine on, the 6th
// to 8th distinct cards on one phone in a day step up to a one-time code
// (bind.cards_per_phone), which TestDemoTells and TestBindingRisk answer;
// here the engine is off so that all 8 adds bind at once.
func TestConcurrentAddCards(t *testing.T) {
	p, envv := startPlatformWith(t, platform.Config{RiskOff: true})
	registeredPhone(t, envv, "carl@example.com")
	green, _ := pickCards(p.Banks)
	var wg sync.WaitGroup
	for _, c := range green[:8] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, errs, err := runCLI(t, envv, "phone", "add-card", "--pan", c.PAN.Digits(), "--expiry", c.Expiry.MMYY(), "--cvn2", c.CVN2.Digits())
			if err != nil || !strings.Contains(out, "added") {
				t.Errorf("add-card %s: %q %q %v", c.PAN.Last4(), out, errs, err)
			}
		}()
	}
	wg.Wait()
	ph, err := phone.Load(envv["TAPWALLET_PROFILE"], "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ph.Profile.Cards) != 8 {
		t.Errorf("got %d cards in the profile, want 8", len(ph.Profile.Cards))
	}
	for _, c := range ph.Profile.Cards {
		if n := ph.SE.KeysLeft(c.Token); n == 0 {
			t.Errorf("card ending %s has no keys in the secure element", c.PANLast4)
		}
	}
}

// TestMissingFolderRefused: a command that reads existing state refuses a
// folder that does not exist, with a clear error and exit code 2, and
// creates nothing; 'phone cards' on a phone that is not registered says so
// without calling the service.
func TestMissingFolderRefused(t *testing.T) {
	typo := filepath.Join(t.TempDir(), "typo")
	envv := map[string]string{"TAPWALLET_PASSWORD": "pw-123456", "TAPWALLET_SERVER": "http://127.0.0.1:1", "TAPWALLET_PROFILE": typo}
	phoneCmds := [][]string{
		{"logout"}, {"register"}, {"cards"}, {"otp"}, {"sync"}, {"history"}, {"phones"}, {"checkin"},
		{"add-card", "--pan", "6222020000000007", "--expiry", "1230", "--cvn2", "123"},
		{"verify-otp", "--binding", "b1", "--otp", "123456"},
		{"default", "1234"}, {"remove-card", "1234"},
		{"wallet-off"}, {"wallet-on"}, {"ask", "--phone", "ph_1", "--ring"},
		{"tap", "--reader", "127.0.0.1:1"}, {"enroll-finger"}, {"verify-finger"}, {"unlock"},
		{"transit", "list"}, {"transit", "balance", "--city", "shanghai"},
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"clear", "--data", typo}, "no such folder"},
		{[]string{"gate", "--city", "shanghai", "--line", "L2", "--station", "peoples-square", "--listen", "127.0.0.1:0", "--keys", filepath.Join(typo, "keys.json"), "--data", filepath.Join(t.TempDir(), "g")}, "key file is needed"},
		{[]string{"banks", "list", "--config", filepath.Join(typo, "banks.json")}, "typo"},
	}
	for _, c := range phoneCmds {
		cases = append(cases, struct {
			args []string
			want string
		}{append([]string{"phone", "--profile", typo}, c...), "no phone profile at " + typo})
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(strings.Join(tc.args, " "), typo, "TYPO"), func(t *testing.T) {
			_, _, err := runCLI(t, envv, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			if _, serr := os.Stat(typo); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("%s was created", typo)
			}
		})
	}
	// An existing folder with no platform in it is refused too.
	_, _, err := runCLI(t, envv, "clear", "--data", t.TempDir())
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "no platform here") {
		t.Errorf("clear on an empty folder: got %v, want exit 2 'no platform here'", err)
	}

	// A phone that signed up and logged in but is not registered.
	_, envv = startPlatform(t)
	mustRun(t, envv, "account created", "phone", "signup", "--email", "una@example.com")
	mustRun(t, envv, "logged in", "phone", "login", "--email", "una@example.com")
	if _, _, err := runCLI(t, envv, "phone", "cards"); err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Errorf("phone cards before register: got %v, want 'not registered'", err)
	}
}

// TestDemoKeep: 'demo --keep' tells the story, then keeps the platform
// running and prints the portal's URL, e-mail and password — with which
// the portal logs in — until the context ends (Ctrl-C), then stops cleanly.
func TestDemoKeep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"demo", "--keep"}, func(string) string { return "" }, strings.NewReader(""), pw, io.Discard)
		pw.Close()
		done <- err
	}()
	// The lines as the demo prints them, until it prints the last of the
	// portal's details; the rest is drained.
	var text strings.Builder
	fields := map[string]string{}
	sc := bufio.NewScanner(pr)
	for fields["wallet API"] == "" && sc.Scan() {
		line := sc.Text()
		text.WriteString(line + "\n")
		for _, name := range []string{"portal", "e-mail", "password", "codes", "wallet API"} {
			if v, ok := strings.CutPrefix(line, "  "+name+" "); ok {
				fields[name] = strings.TrimSpace(v)
			}
		}
	}
	go io.Copy(io.Discard, pr)
	if fields["wallet API"] == "" {
		t.Fatalf("demo --keep printed no portal details (%v):\n%s", <-done, text.String())
	}
	portalURL, email, password := fields["portal"], fields["e-mail"], fields["password"]
	if !strings.Contains(text.String(), "The story went as it should.") || !strings.Contains(text.String(), "keeps running (--keep) until Ctrl-C") {
		t.Errorf("demo --keep output lacks the story's end or the keep line:\n%s", text.String())
	}
	if email != demoEmail || password != demoPassword {
		t.Errorf("got e-mail %q password %q, want %q %q", email, password, demoEmail, demoPassword)
	}
	// The portal is still up, and the printed account logs in.
	b, err := newPortalBrowser(portalURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.get("/login"); err != nil {
		t.Fatal(err)
	}
	st, body, err := b.post("/login", url.Values{"email": {email}, "password": {password}})
	if err != nil || st != 200 || !strings.Contains(body, "login-code-form") {
		t.Fatalf("portal log-in with the printed account: got %d %v, want the one-time code page", st, err)
	}
	// The printed command shows the code (the portal asks for every factor).
	profile, ok := strings.CutPrefix(fields["codes"], "tapwallet phone --profile ")
	profile, ok2 := strings.CutSuffix(profile, " otp")
	if !ok || !ok2 {
		t.Fatalf("codes line: got %q", fields["codes"])
	}
	var otp strings.Builder
	if err := run(ctx, []string{"phone", "--profile", profile, "otp"}, func(string) string { return "" }, strings.NewReader(""), &otp, io.Discard); err != nil {
		t.Fatalf("phone otp: %v", err)
	}
	code := regexp.MustCompile(`\b[0-9]{6}\b`).FindString(otp.String())
	st, body, err = b.post("/login/code", url.Values{"code": {code}})
	if err != nil || st != 200 || !strings.Contains(body, `id="phones"`) {
		t.Fatalf("portal log-in with the printed code %q (%q): got %d %v", code, otp.String(), st, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo --keep ended with %v, want a clean stop", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("demo --keep did not stop when the context ended")
	}
	if _, _, err := b.get("/login"); err == nil {
		t.Error("the portal still answers after the demo stopped")
	}
}
