package phone_test

import (
	"context"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/apdu"
	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/applet/applettest"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/qpboc"
)

// TestPCSCReadsPhone is an interoperability test with a real PC/SC stack:
// the phone taps pcscd's virtual reader (vsmartcard-vpcd) and OpenSC's
// opensc-tool selects the PPSE and the debit AID through PC/SC. It runs when
// TAPWALLET_VPCD_ADDR names vpcd's address (.ci/run sets it after starting
// pcscd). vpcd serves two readers, on that port and the next; this test
// taps the second ("Virtual PCD 00 01", opensc-tool reader 1) so that it
// does not race the nfc package's TestVPCD on the first. By hand:
//
//	apt-get install pcscd vsmartcard-vpcd opensc
//	pcscd -f &
//	TAPWALLET_VPCD_ADDR=localhost:35963 go test -run TestPCSCReadsPhone -v ./phone
func TestPCSCReadsPhone(t *testing.T) {
	p := pcscPhone(t)
	out := openscSend(t, p, "00A404000E325041592E5359532E444446303100", "00A4040008A00000033301010100")
	answers := received(out)
	if len(answers) != 2 {
		t.Fatalf("opensc-tool: got %d answers, want 2:\n%s", len(answers), out)
	}
	for _, c := range []struct {
		answer int
		want   string
	}{
		// PPSE FCI: DF name 2PAY.SYS.DDF01 and the card's directory entry.
		{0, "840E325041592E5359532E4444463031"},
		{0, "61184F08A000000333010101500949434243203132333987010"},
		// The AID's FCI with its PDOL (the qPBOC list and 9F4E).
		{1, "6F3F8408A000000333010101"},
		{1, "9F381B9F66049F02069F03069F1A0295055F2A029A039C019F37049F4E14"},
	} {
		if !strings.Contains(answers[c.answer], c.want) {
			t.Errorf("answer %d: got %s, want it to contain %s", c.answer+1, answers[c.answer], c.want)
		}
	}
}

// TestPCSCGetDataAfterSeePhone (issue 9 item 10): through pcscd and
// opensc-tool, a GET PROCESSING OPTIONS without a fingerprint answers 6986
// "see phone", and a GET DATA 9F36 right after it answers 9000 with the
// ATC — the application stays selected — not 6985.
func TestPCSCGetDataAfterSeePhone(t *testing.T) {
	p := pcscPhone(t)
	c := applettest.DebitCard()
	if _, err := applettest.InstallKeys(p.SE, applettest.IMK, c, 1, 2, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	gpo, err := apdu.GetProcessingOptions(applet.PDOL.Build(map[emv.Tag][]byte{
		qpboc.TagAmount: {0, 0, 0, 0, 0x12, 0x34}, qpboc.TagCurrency: {0x09, 0x78}, qpboc.TagUN: {1, 2, 3, 4},
	})).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out := openscSend(t, p, "00A4040008A00000033301010100", hex.EncodeToString(gpo), "80CA9F3600")
	if !strings.Contains(out, "Received (SW1=0x69, SW2=0x86)") {
		t.Errorf("GPO without a fingerprint: want 6986 see phone:\n%s", out)
	}
	answers := received(out)
	if len(answers) != 3 || answers[2] != "9F36020000" {
		t.Errorf("GET DATA 9F36 after see phone: got %q, want 9F36020000 (9000):\n%s", answers, out)
	}
	if strings.Contains(out, "SW1=0x69, SW2=0x85") {
		t.Errorf("an answer was 6985 no card selected:\n%s", out)
	}
	if n := p.SE.KeysLeft(c.Token); n != 2 {
		t.Errorf("keys after see phone: got %d, want 2 (none used)", n)
	}
}

// pcscPhone returns a phone with the test debit card (no keys) for the
// PC/SC tests, or skips when TAPWALLET_VPCD_ADDR is not set.
func pcscPhone(t *testing.T) *phone.Phone {
	t.Helper()
	if os.Getenv("TAPWALLET_VPCD_ADDR") == "" {
		t.Skip("TAPWALLET_VPCD_ADDR not set: no PC/SC stack to read the phone (see TestPCSCReadsPhone)")
	}
	p, err := phone.Open(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	p.Profile.Cards = []phone.Card{{Token: applettest.DebitToken, TokenLast4: "1239", PANLast4: "0007", Bank: "icbc",
		AID: "A000000333010101", Expiry: "1230", PSN: "00", State: "active", Default: true}}
	return p
}

// openscSend taps p on vpcd's second reader and sends the APDUs (hex) with
// opensc-tool in one card session, retrying until pcscd has noticed the
// card; it returns opensc-tool's output.
func openscSend(t *testing.T, p *phone.Phone, apdus ...string) string {
	t.Helper()
	addr := os.Getenv("TAPWALLET_VPCD_ADDR")
	host, port, err := net.SplitHostPort(addr)
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil {
		t.Fatalf("TAPWALLET_VPCD_ADDR %q is not HOST:PORT", addr)
	}
	second := net.JoinHostPort(host, strconv.Itoa(n+1))
	tool, err := exec.LookPath("opensc-tool")
	if err != nil {
		t.Fatalf("TAPWALLET_VPCD_ADDR is set but opensc-tool is not installed (apt-get install opensc): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tapped := make(chan error, 1)
	go func() {
		_, err := p.Tap(ctx, phone.TapOptions{Reader: second})
		tapped <- err
	}()
	args := []string{"-r", "1"}
	for _, a := range apdus {
		args = append(args, "-s", a)
	}
	// pcscd notices the card within a second or two; retry until it does.
	var out []byte
	for i := 0; i < 20; i++ {
		out, err = exec.CommandContext(ctx, tool, args...).CombinedOutput()
		if err == nil && strings.Contains(string(out), "Received") {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("opensc-tool:\n%s", out)
	cancel()
	<-tapped
	return string(out)
}

// received returns the data of each answer opensc-tool printed ("Received
// (SW1=0x90, SW2=0x00):" then lines of up to 16 hex bytes and their ASCII
// in a column from character 48, or right after a shorter last line), as
// upper-case hex.
func received(out string) []string {
	var answers []string
	in := false
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "Received"):
			answers = append(answers, "")
			in = true
			continue
		case strings.HasPrefix(line, "Sending") || strings.HasPrefix(line, "Using"):
			in = false
			continue
		}
		if !in {
			continue
		}
		// A full line is 16 hex bytes in 48 columns, then the ASCII; a
		// shorter last line of n bytes is n×3 columns of hex, then n
		// characters.
		if len(line) >= 48 {
			line = line[:48]
		} else {
			line = line[:3*(len(line)/4)]
		}
		for _, f := range strings.Fields(line) {
			answers[len(answers)-1] += strings.ToUpper(f)
		}
	}
	return answers
}
