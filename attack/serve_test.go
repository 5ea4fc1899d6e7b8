package attack

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/devicekey"
)

// server is a real `tapwallet serve` on free ports with a data folder of
// its own, stopped (SIGINT) when the test ends.
type server struct {
	t      *testing.T
	cmd    *exec.Cmd
	api    string // http://127.0.0.1:PORT
	portal string // http://localhost:PORT
	stderr *bytes.Buffer
}

// startServe starts the program built from this tree (or the one named by
// TAPWALLET_ATTACK_BINARY, to measure another build) and waits until it
// answers /healthz. A free port can be taken by another process between
// the test choosing it and serve binding it: serve then stops at once,
// saying so, and is started again on other ports (three tries).
func startServe(t *testing.T) *server {
	t.Helper()
	bin := os.Getenv("TAPWALLET_ATTACK_BINARY")
	if bin == "" {
		bin = tapwalletBinary(t)
	}
	data := filepath.Join(t.TempDir(), "data")
	for try := 1; ; try++ {
		s, taken := tryServe(t, bin, data)
		if s != nil {
			return s
		}
		if !taken || try == 3 {
			t.Fatalf("serve did not come up (try %d)", try)
		}
	}
}

// tryServe starts serve on fresh ports; nil and true when it stopped
// because a port was taken meanwhile.
func tryServe(t *testing.T, bin, data string) (*server, bool) {
	t.Helper()
	httpAddr := freePort(t)
	var errb bytes.Buffer
	cmd := exec.Command(bin, "serve", "--data", data, "--http", httpAddr, "--iso", freePort(t), "--log-level", "error")
	cmd.Stderr = &errb
	cmd.Env = append(os.Environ(), "TAPWALLET_DATA=", "TAPWALLET_DB=", "TAPWALLET_PORTAL_URL=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	_, port, _ := net.SplitHostPort(httpAddr)
	s := &server{t: t, cmd: cmd, api: "http://" + httpAddr, portal: "http://localhost:" + port, stderr: &errb}
	for i := 0; i < 600; i++ {
		select {
		case <-exited:
			taken := strings.Contains(errb.String(), "address already in use")
			t.Logf("serve stopped before it answered: %s", errb.String())
			return nil, taken
		default:
		}
		if resp, err := http.Get(s.api + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Cleanup(func() {
					cmd.Process.Signal(os.Interrupt)
					select {
					case <-exited:
					case <-time.After(20 * time.Second):
						cmd.Process.Kill()
						<-exited
					}
				})
				return s, false
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	<-exited
	t.Logf("serve did not answer /healthz in 30 s: %s", errb.String())
	return nil, false
}

// highWater is the serve process's peak resident memory (VmHWM) in KiB.
func (s *server) highWater() int {
	s.t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/status")
	if err != nil {
		s.t.Fatalf("read the process status: %v", err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		s.t.Fatalf("no VmHWM in /proc/PID/status")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// client is an HTTP client whose connections come from one loopback
// address (127.0.0.1, 127.0.0.2, …): one source to the server's limits.
type client struct {
	t   *testing.T
	c   *http.Client
	src string
}

func newClient(t *testing.T, src string) *client {
	jar, _ := cookiejar.New(nil)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	if src != "" {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
		tr.DialContext = d.DialContext
	}
	return &client{t: t, c: &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second}, src: src}
}

// source returns a client from the n-th loopback source address.
func source(t *testing.T, n int) *client {
	return newClient(t, "127.0."+strconv.Itoa(n/250)+"."+strconv.Itoa(2+n%250))
}

// answer is an HTTP answer: its status, the error code of a JSON error,
// the body and the headers.
type answer struct {
	Status int
	Code   string
	Body   string
	Header http.Header
}

func (c *client) do(req *http.Request) answer {
	c.t.Helper()
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(b, &e)
	return answer{Status: resp.StatusCode, Code: e.Error.Code, Body: string(b), Header: resp.Header}
}

// call sends a wallet API request with a bearer token (if any).
func (c *client) call(method, u, token, body string) answer {
	c.t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return c.do(req)
}

// signup signs an account up.
func (c *client) signup(s *server, email, password string) answer {
	c.t.Helper()
	return c.call("POST", s.api+"/v1/signup", "", `{"email":"`+email+`","password":"`+password+`"}`)
}

// login logs in to the wallet API and returns the session token ("" if refused).
func (c *client) login(s *server, email, password string) (string, answer) {
	c.t.Helper()
	a := c.call("POST", s.api+"/v1/login", "", `{"email":"`+email+`","password":"`+password+`"}`)
	var out struct {
		Token string `json:"token"`
	}
	json.Unmarshal([]byte(a.Body), &out)
	return out.Token, a
}

// device is a phone registered under an account, with its device key.
type device struct {
	id    string
	key   *ecdsa.PrivateKey
	token string
}

// register registers a phone with a fresh device key under the session.
func (c *client) register(s *server, token, name string) *device {
	c.t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	a := c.call("POST", s.api+"/v1/phones", token, `{"name":"`+name+`","model":"attack","public_key":"`+base64.StdEncoding.EncodeToString(der)+`"}`)
	var out struct {
		ID string `json:"id"`
	}
	if json.Unmarshal([]byte(a.Body), &out); a.Status != 201 || out.ID == "" {
		c.t.Fatalf("register a phone: got %d %s", a.Status, a.Body)
	}
	return &device{id: out.ID, key: k, token: token}
}

// signed sends a request signed by the device's key with its session.
func (c *client) signed(s *server, d *device, method, path, body string) answer {
	c.t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nb := make([]byte, 12)
	rand.Read(nb)
	nonce := hex.EncodeToString(nb)
	sig, err := devicekey.Sign(d.key, devicekey.SigningString(method, path, ts, nonce, []byte(body)))
	if err != nil {
		c.t.Fatal(err)
	}
	req, _ := http.NewRequest(method, s.api+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	req.Header.Set(devicekey.HeaderPhone, d.id)
	req.Header.Set(devicekey.HeaderTime, ts)
	req.Header.Set(devicekey.HeaderNonce, nonce)
	req.Header.Set(devicekey.HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	return c.do(req)
}

// latestCode returns the newest one-time code in the account's messages.
func (c *client) latestCode(s *server, token string) string {
	c.t.Helper()
	a := c.call("GET", s.api+"/v1/otp", token, "")
	var out struct {
		Messages []struct {
			Message string    `json:"message"`
			At      time.Time `json:"at"`
		} `json:"messages"`
	}
	json.Unmarshal([]byte(a.Body), &out)
	code, at := "", time.Time{}
	for _, m := range out.Messages {
		if f := regexp.MustCompile(`\b[0-9]{6}\b`).FindString(m.Message); f != "" && !m.At.Before(at) {
			code, at = f, m.At
		}
	}
	if code == "" {
		c.t.Fatalf("no one-time code in the messages: %d %s", a.Status, a.Body)
	}
	return code
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)">`)

// page gets a portal page; it returns the answer and the page's CSRF token.
func (c *client) page(s *server, path string) (answer, string) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", s.portal+path, nil)
	a := c.do(req)
	csrf := ""
	if m := csrfMeta.FindStringSubmatch(a.Body); m != nil {
		csrf = m[1]
	}
	return a, csrf
}

// form posts a portal form with a CSRF token.
func (c *client) form(s *server, path, csrf string, v url.Values) answer {
	c.t.Helper()
	if v == nil {
		v = url.Values{}
	}
	v.Set("csrf", csrf)
	req, _ := http.NewRequest("POST", s.portal+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// portalLogin logs in to the portal with the password and the one-time
// code (read with the API session token); it fails the test if refused.
func (c *client) portalLogin(s *server, email, password, apiToken string) {
	c.t.Helper()
	_, csrf := c.page(s, "/login")
	a := c.form(s, "/login", csrf, url.Values{"email": {email}, "password": {password}})
	if a.Status != 200 || !strings.Contains(a.Body, "login-code-form") {
		c.t.Fatalf("portal log-in: got %d, want the code page", a.Status)
	}
	csrf = csrfMeta.FindStringSubmatch(a.Body)[1]
	a = c.form(s, "/login/code", csrf, url.Values{"code": {c.latestCode(s, apiToken)}})
	if a.Status != 200 || !strings.Contains(a.Body, `id="phones"`) {
		c.t.Fatalf("portal log-in code: got %d, want the phones page", a.Status)
	}
}

// cookie returns the value of one of the client's cookies for the portal.
func (c *client) cookie(s *server, name string) string {
	u, _ := url.Parse(s.portal)
	for _, k := range c.c.Jar.Cookies(u) {
		if k.Name == name {
			return k.Value
		}
	}
	return ""
}

const pw = "correct horse battery"
