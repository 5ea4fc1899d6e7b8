package kernel_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/kernel"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/nfc"
	"github.com/tapwallet/tapwallet/qpboc"
)

// TestChargeOnlineTellsPhone (issue 9 item 13): the terminal goes online
// while the phone is on the link and tells it the answer with PUT DATA
// FF71; the phone's applet reports it.
func TestChargeOnlineTellsPhone(t *testing.T) {
	ph := newPhone(t, 2)
	ph.Finger.OK = true
	var events []applet.Event
	ph.Payment.OnEvent = func(e applet.Event) { events = append(events, e) }
	k := newKernel(t, fixedConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l := listen(t)
	arpc := []byte{1, 2, 3, 4, 5, 6, 7, 8, '5', '1'}
	type out struct {
		res *kernel.Result
		err error
	}
	done := make(chan out, 1)
	var asked *kernel.Result
	go func() {
		res, _, err := k.ChargeOnline(ctx, l, kernel.Transaction{Amount: money.Fen(1234)}, nil, func(_ context.Context, r *kernel.Result) *qpboc.Outcome {
			asked = r
			return &qpboc.Outcome{ARC: "51", IssuerAuth: arpc, Message: "insufficient funds"}
		})
		done <- out{res, err}
	}()
	if err := nfc.DialAndServe(ctx, l.Addr().String(), ph.Card, nfc.Config{}); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.err != nil || o.res.Outcome != kernel.Online || asked != o.res {
		t.Fatalf("terminal: got %v %+v, want online with the callback asked", o.err, o.res)
	}
	if o.res.Answer == nil || o.res.Answer.ARC != "51" {
		t.Errorf("Result.Answer: got %+v, want ARC 51", o.res.Answer)
	}
	last := o.res.Trace[len(o.res.Trace)-1]
	if last.Name != "PUT DATA (outcome)" || last.SW() != 0x9000 {
		t.Errorf("last step: got %s %04X, want PUT DATA (outcome) 9000", last.Name, uint16(last.SW()))
	}
	if len(events) != 2 || events[0].Kind != applet.Paid || events[1].Kind != applet.Outcome ||
		events[1].ARC != "51" || !events[1].IssuerAuth || events[1].Message != "insufficient funds" {
		t.Errorf("phone events: got %+v, want paid then outcome 51 with issuer authentication", events)
	}
}

// noRecords is a phone whose READ RECORD fails: the terminal cannot use
// its answer.
type noRecords struct{ nfc.Card }

func (c noRecords) Process(cmd []byte) []byte {
	if len(cmd) > 1 && cmd[1] == 0xB2 {
		return []byte{0x6A, 0x83}
	}
	return c.Card.Process(cmd)
}

// TestChargeTellsCardReadError: a tap that fails on the phone's answer is
// told to the phone as the terminal's error (no ARC), so the phone does
// not say it paid.
func TestChargeTellsCardReadError(t *testing.T) {
	ph := newPhone(t, 2)
	ph.Finger.OK = true
	var events []applet.Event
	ph.Payment.OnEvent = func(e applet.Event) { events = append(events, e) }
	k := newKernel(t, fixedConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	l := listen(t)
	done := make(chan error, 1)
	go func() {
		_, _, err := k.Charge(ctx, l, kernel.Transaction{Amount: money.Fen(1234)}, nil)
		done <- err
	}()
	if err := nfc.DialAndServe(ctx, l.Addr().String(), noRecords{ph.Card}, nfc.Config{}); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if len(events) != 2 || events[1].Kind != applet.Outcome || events[1].ARC != "" || events[1].Message != "card read error: tap again" {
		t.Errorf("phone events: got %+v, want paid then the terminal's error", events)
	}
}

func TestAnswer(t *testing.T) {
	resp := iso8583.New(iso8583.AuthorizationResponse)
	if err := resp.SetResponseCode(iso8583.InsufficientFunds); err != nil {
		t.Fatal(err)
	}
	de55, err := emv.Encode(emv.New(0x91, []byte{1, 2, 3, 4, 5, 6, 7, 8, '5', '1'}))
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.SetBytes(iso8583.DEICC, de55); err != nil {
		t.Fatal(err)
	}
	got := kernel.Answer(resp)
	if got.ARC != "51" || got.Message != "insufficient funds" || !bytes.Equal(got.IssuerAuth, []byte{1, 2, 3, 4, 5, 6, 7, 8, '5', '1'}) {
		t.Errorf("Answer: got %+v, want ARC 51, insufficient funds, the 91", got)
	}
	if got := kernel.Answer(iso8583.New(iso8583.AuthorizationResponse)); got.ARC != qpboc.ARCUnableOnline {
		t.Errorf("Answer without DE39: got %+v, want Z3", got)
	}
}

// listen is a terminal's NFC listener on loopback, closed at the test's end.
func listen(t testing.TB) *nfc.Listener {
	t.Helper()
	l, err := nfc.Listen("127.0.0.1:0", nfc.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
