package nfc

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestVPCD is an interoperability test against a real PC/SC stack: it
// serves a card to pcscd's vpcd driver (Debian package vsmartcard-vpcd)
// and reads it with scriptor from pcsc-tools. It runs only when
// TAPWALLET_VPCD_ADDR names vpcd's address (for example localhost:35963)
// and scriptor is installed:
//
//	pcscd -f &   # with vsmartcard-vpcd installed
//	TAPWALLET_VPCD_ADDR=localhost:35963 go test -run TestVPCD ./nfc
func TestVPCD(t *testing.T) {
	addr := os.Getenv("TAPWALLET_VPCD_ADDR")
	if addr == "" {
		t.Skip("TAPWALLET_VPCD_ADDR not set; see the test's doc comment")
	}
	scriptor, err := exec.LookPath("scriptor")
	if err != nil {
		t.Skip("scriptor (pcsc-tools) not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	card := &testCard{atr: unhex("3B8A80018031F873F741E082900075")}
	errc := make(chan error, 1)
	go func() { errc <- DialAndServe(ctx, addr, card, Config{}) }()
	time.Sleep(time.Second) // let pcscd notice the card

	cmd := exec.CommandContext(ctx, scriptor)
	cmd.Stdin = strings.NewReader("00 A4 04 00 08 A0 00 00 03 33 01 01 01 00\n80 CA 9F 36 00\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scriptor: %v\n%s", err, out)
	}
	t.Logf("scriptor:\n%s", out)
	for _, want := range []string{"6F 0A 84 08 A0 00 00 03 33 01 01 01 90 00", "6D 00"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("scriptor output: got\n%s\nwant it to contain %q", out, want)
		}
	}
	if card.resetCount() == 0 {
		t.Errorf("resets: got 0, want pcscd to have powered the card up")
	}
	cancel()
	<-errc
}
