package attack

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// freePort returns a free TCP address on 127.0.0.1.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestAttackWorldReadableFiles: the audit found the databases created 0644
// in a 0755 data folder, readable by every user of the machine. A real
// serve now refuses a data folder others can read (naming it and the fix,
// writing nothing in it), refuses a key file others can read, and on a
// folder of its own makes the folder 0700 and every database, log (-wal),
// index (-shm) and key file 0600.
func TestAttackWorldReadableFiles(t *testing.T) {
	bin := tapwalletBinary(t)
	serve := func(data string) (*exec.Cmd, *bytes.Buffer, string) {
		httpAddr := freePort(t)
		var errb bytes.Buffer
		cmd := exec.Command(bin, "serve", "--data", data, "--http", httpAddr, "--iso", freePort(t))
		cmd.Stderr = &errb
		cmd.Env = append(os.Environ(), "TAPWALLET_DATA=", "TAPWALLET_DB=")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &errb, httpAddr
	}
	refused := func(data, want string) {
		t.Helper()
		cmd, errb, _ := serve(data)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("serve on %s exited 0, want a refusal", data)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("serve on %s did not refuse to start", data)
		}
		if !strings.Contains(errb.String(), want) {
			t.Errorf("serve: got %q, want it to say %q", errb.String(), want)
		}
	}

	// 1. A data folder others can read.
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o755)
	refused(open, "chmod 700 "+open)
	if ents, _ := os.ReadDir(open); len(ents) != 0 {
		t.Errorf("the refused folder got files: %v", ents)
	}

	// 2. A folder of its own: everything private.
	// A free port can be taken between the test choosing it and serve
	// binding it (serve's own issuer hosts listen on ports the system
	// picks first): serve then stops saying so, and starts again on other
	// ports (three tries), as startServe does.
	data := filepath.Join(t.TempDir(), "data")
	var cmd *exec.Cmd
	var errb *bytes.Buffer
	var httpAddr string
	var exited chan struct{}
	for try := 1; ; try++ {
		cmd, errb, httpAddr = serve(data)
		exited = make(chan struct{})
		go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(cmd, exited)
		up, stopped := false, false
		for i := 0; i < 300 && !up && !stopped; i++ {
			select {
			case <-exited:
				stopped = true
				continue
			default:
			}
			if resp, err := http.Get("http://" + httpAddr + "/healthz"); err == nil {
				resp.Body.Close()
				up = resp.StatusCode == 200
			}
			time.Sleep(100 * time.Millisecond)
		}
		if up {
			break
		}
		if !stopped {
			cmd.Process.Kill()
			<-exited
		}
		if !stopped || !strings.Contains(errb.String(), "address already in use") || try == 3 {
			t.Fatalf("serve did not come up (try %d): %s", try, errb)
		}
		t.Logf("serve stopped before it answered, a port taken meanwhile: %s", errb)
	}
	// Writes make the logs: a signup is one.
	http.Post("http://"+httpAddr+"/v1/signup", "application/json", strings.NewReader(`{"email":"mallory@example.com","password":"correct horse battery"}`))
	if st, err := os.Stat(data); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("data folder: %v %v, want mode 0700", st.Mode().Perm(), err)
	}
	ents, _ := os.ReadDir(data)
	var names []string
	for _, e := range ents {
		info, _ := e.Info()
		names = append(names, fmt.Sprintf("%s %04o", e.Name(), info.Mode().Perm()))
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %04o, want 0600", e.Name(), info.Mode().Perm())
		}
	}
	for _, want := range []string{"keys.json", "wallet.db", "wallet.db-wal", "wallet.db-shm", "tsp.db", "network.db", "issuer_icbc.db"} {
		if !strings.Contains(strings.Join(names, "\n")+"\n", want+" ") {
			t.Errorf("no %s in the data folder (%v)", want, names)
		}
	}
	for _, n := range names {
		if strings.HasPrefix(n, "tapwallet.db") {
			t.Errorf("%s in the data folder: the storage kernel opens no database of its own, each party its wing (%v)", n, names)
		}
	}
	t.Logf("data folder: %v", names)
	cmd.Process.Signal(os.Interrupt)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() { <-ctx.Done(); cmd.Process.Kill() }()
	<-exited

	// 3. The key file made readable by others afterwards.
	os.Chmod(filepath.Join(data, "keys.json"), 0o644)
	refused(data, "chmod 600 "+filepath.Join(data, "keys.json"))
}

// TestAttackGateHoldsPlatformKeys: the audit found that every gate host
// needed the platform's whole key file (card-number vault keys, payment key
// root). A gate now runs only from its own export and refuses keys.json.
func TestAttackGateHoldsPlatformKeys(t *testing.T) {
	bin := tapwalletBinary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "platform")
	// A platform key file with known keys, to look for them in the export.
	os.MkdirAll(data, 0o700)
	if err := os.WriteFile(filepath.Join(data, "keys.json"), []byte(`{"version":2,"active":"k1","masters":{"k1":"`+strings.Repeat("11", 32)+
		`"},"index_active":"i1","index_keys":{"i1":"`+strings.Repeat("22", 32)+`"},"emv_active":"r1","emv_roots":{"r1":"`+strings.Repeat("33", 32)+`"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	gate := func(keys string) (string, error) {
		out, err := exec.Command(bin, "gate", "--city", "shanghai", "--line", "L2", "--station", "peoples-square", "--listen", "127.0.0.1:0",
			"--keys", keys, "--data", filepath.Join(dir, "gate"), "--count", "0").CombinedOutput()
		return string(out), err
	}
	if out, err := gate(filepath.Join(data, "keys.json")); err == nil || !strings.Contains(out, "platform's whole key file") {
		t.Errorf("gate on the platform's key file: got %v\n%s", err, out)
	}
	gk := filepath.Join(dir, "gate-keys.json")
	if out, err := exec.Command(bin, "keys", "export", "--role", "gate", "--city", "shanghai", "--out", gk, "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("keys export: %v\n%s", err, out)
	}
	raw, _ := os.ReadFile(gk)
	for _, platformKey := range []string{strings.Repeat("11", 32), strings.Repeat("22", 32), strings.Repeat("33", 32)} {
		if strings.Contains(string(raw), platformKey) {
			t.Fatal("the gate's key file holds a platform key")
		}
	}
	if strings.Count(string(raw), "transit-shanghai-") != 4 { // two keys, two check values
		t.Errorf("gate key file: %s", raw)
	}
	// On its own file the gate loads its SAM and listens (stopped after 3 s).
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "gate", "--city", "shanghai", "--line", "L2", "--station", "peoples-square", "--listen", "127.0.0.1:0",
		"--keys", gk, "--data", filepath.Join(dir, "gate")).CombinedOutput()
	if !strings.Contains(string(out), "listening on") {
		t.Errorf("gate on its own key file: %s", out)
	}
}
