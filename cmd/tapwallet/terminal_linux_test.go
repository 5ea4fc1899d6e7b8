package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY opens a pseudo-terminal: the master (the "keyboard and screen"
// side a test drives) and the slave (the terminal the program reads and
// writes).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	var unlock int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		t.Fatalf("unlockpt: %v", errno)
	}
	var n uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); errno != 0 {
		t.Fatalf("ptsname: %v", errno)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

func echoOn(t *testing.T, f *os.File) bool {
	t.Helper()
	var tio syscall.Termios
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&tio))); errno != 0 {
		t.Fatalf("tcgets: %v", errno)
	}
	return tio.Lflag&syscall.ECHO != 0
}

// readUntil reads the master side until it has shown marker.
func readUntil(t *testing.T, master *os.File, marker string) string {
	t.Helper()
	var got bytes.Buffer
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 256)
		for !strings.Contains(got.String(), marker) {
			n, err := master.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("reading the terminal: %v (got %q)", err, got.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the terminal never showed %q", marker)
	}
	return got.String()
}

// TestPasswordNotEchoed types a password at a real (pseudo) terminal: the
// prompt reads it with the terminal's echo off, so the screen never shows
// it, and the echo is back on afterwards. Read as a line (the old way), the
// terminal echoed it.
func TestPasswordNotEchoed(t *testing.T) {
	master, slave := openPTY(t)
	if !echoOn(t, slave) {
		t.Fatal("a new terminal should echo")
	}
	var prompt bytes.Buffer
	type result struct {
		pw  string
		err error
	}
	res := make(chan result, 1)
	go func() {
		pw, err := password(&env{getenv: func(string) string { return "" }, stdin: slave, stdout: &bytes.Buffer{}, stderr: &prompt})
		res <- result{pw, err}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for echoOn(t, slave) {
		if time.Now().After(deadline) {
			t.Fatal("the password prompt never turned the terminal's echo off")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := master.Write([]byte("s3cret-Pass\n")); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.err != nil || r.pw != "s3cret-Pass" {
		t.Fatalf("got %q, %v; want the typed password", r.pw, r.err)
	}
	if !echoOn(t, slave) {
		t.Error("the echo is still off after the prompt")
	}
	// What the screen showed until now, then a marker typed with the echo
	// back on: the password must not be in it.
	if _, err := master.Write([]byte("MARK\n")); err != nil {
		t.Fatal(err)
	}
	if screen := readUntil(t, master, "MARK"); strings.Contains(screen, "s3cret") {
		t.Errorf("the terminal showed the password: %q", screen)
	}
	if !strings.Contains(prompt.String(), "Password") {
		t.Errorf("got prompt %q, want a Password prompt on stderr", prompt.String())
	}
}

// TestPasswordFromPipeAndEnv: TAPWALLET_PASSWORD and a line of piped stdin
// still give the password.
func TestPasswordFromPipeAndEnv(t *testing.T) {
	e := &env{getenv: func(k string) string { return map[string]string{"TAPWALLET_PASSWORD": "from-env"}[k] }, stdin: strings.NewReader("x\n"), stderr: &bytes.Buffer{}}
	if pw, err := password(e); err != nil || pw != "from-env" {
		t.Errorf("TAPWALLET_PASSWORD: got %q, %v", pw, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w.Write([]byte("piped-pass\r\n"))
	w.Close()
	e = &env{getenv: func(string) string { return "" }, stdin: r, stderr: &bytes.Buffer{}}
	if pw, err := password(e); err != nil || pw != "piped-pass" {
		t.Errorf("piped stdin: got %q, %v; want piped-pass", pw, err)
	}
}

// TestProgressOnlyOnTerminal: the progress line (carriage return, erase
// escape) goes to a terminal, and nowhere else.
func TestProgressOnlyOnTerminal(t *testing.T) {
	master, slave := openPTY(t)
	p := newProgress(slave)
	p.show("provisioning %d/%d", 3, 8)
	p.clear()
	slave.Write([]byte("END"))
	if screen := readUntil(t, master, "END"); !strings.Contains(screen, "\r\x1b[Kprovisioning 3/8\r\x1b[K") {
		t.Errorf("terminal: got %q, want the progress line drawn and erased in place", screen)
	}
	f, err := os.Create(t.TempDir() + "/log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	for _, w := range []interface{ Write([]byte) (int, error) }{f, &buf} {
		p := newProgress(w)
		p.show("provisioning %d/%d", 3, 8)
		p.clear()
	}
	if st, _ := f.Stat(); st.Size() != 0 || buf.Len() != 0 {
		t.Errorf("progress written to a file (%d bytes) or a buffer (%q), want nothing", st.Size(), buf.String())
	}
}
