package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	acqsql "github.com/tapwallet/tapwallet/acquirer/sqlstore"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/kernel"
	"github.com/tapwallet/tapwallet/qpboc"
)

// terminalAcquirer is the store terminal's acquirer (package acquirer):
// its link to the card network at addr and its store in the terminal's
// state folder (acquirer.db: the reversals it owes, kept across runs).
type terminalAcquirer struct {
	*acquirer.Acquirer
	addr  string
	close func()
}

// openTerminalAcquirer opens the terminal's acquirer on the state folder
// dir for the network at addr, waiting timeout for each answer. It fails
// when the store cannot be opened.
func openTerminalAcquirer(ctx context.Context, dir, addr string, timeout time.Duration) (*terminalAcquirer, error) {
	st, err := acqsql.Open(ctx, "", dir)
	if err != nil {
		return nil, err
	}
	link := acquirer.DialerTo(addr, timeout)
	a, err := acquirer.New(ctx, link, st, nil)
	if err != nil {
		st.Close()
		return nil, err
	}
	a.Timeout = timeout
	return &terminalAcquirer{Acquirer: a, addr: addr, close: func() { link.Close(); st.Close() }}, nil
}

// sendOwedReversals sends the reversals an earlier run left owed (the
// network did not answer them then) and says what came of them.
func sendOwedReversals(ctx context.Context, e *env, a *terminalAcquirer) {
	owed, err := a.Store.OwedReversals(ctx, 1)
	if err != nil || len(owed) == 0 {
		return
	}
	n, err := a.FlushReversals(ctx)
	if err != nil {
		fmt.Fprintf(e.stdout, "reversals owed from an earlier run: %d answered, the rest still owed (%v)\n", n, err)
		return
	}
	fmt.Fprintf(e.stdout, "reversals owed from an earlier run: %d sent and answered\n", n)
}

// authorizeOnline sends the terminal's 0100 to the card network and shows
// the answer: approved with its auth code, or declined with the reason;
// it sets answer to what the terminal tells the phone (kernel.Answer).
// When no answer comes within the timeout (or the link drops), or the
// answer cannot be read, the acquirer reverses the authorization (0400
// with DE90 naming it and a STAN of counters, repeated as 0401 until
// answered; a reversal left unanswered stays owed in the state folder and
// is sent by the next run), and it fails.
func authorizeOnline(ctx context.Context, e *env, a *terminalAcquirer, req *iso8583.Message, counters acquirer.Counters, answer *qpboc.Outcome) error {
	amt, _ := req.Amount()
	fmt.Fprintf(e.stdout, "sending the authorization for %s to the card network at %s\n", amt, a.addr)
	res, err := a.Authorize(ctx, req, counters)
	if errors.Is(err, acquirer.ErrNetworkDown) {
		return fmt.Errorf("the card network at %s does not answer: %w", a.addr, err)
	}
	if res != nil && res.Unanswered != nil {
		if errors.Is(res.Unanswered, iso8583.ErrFormat) {
			fmt.Fprintf(e.stdout, "the card network's answer cannot be read (%v): reversing the authorization\n", res.Unanswered)
		} else {
			fmt.Fprintf(e.stdout, "no answer within %s: reversing the authorization\n", a.Timeout)
		}
		if res.ReversalErr != nil {
			fmt.Fprintf(e.stdout, "the reversal was not answered either (%v): it stays owed and the next pos charge sends it\n", res.ReversalErr)
		} else {
			fmt.Fprintf(e.stdout, "reversal answered: %s\n", res.ReversalCode)
		}
		return &exitError{code: 1, err: fmt.Errorf("no usable answer from the card network: the payment did not go through")}
	}
	if err != nil {
		return err
	}
	*answer = kernel.Answer(res.Answer)
	took := res.Took.Round(time.Millisecond)
	if !res.Approved() {
		fmt.Fprintf(e.stdout, "DECLINED  %s  (%s)\n", res.Code, took)
		return &exitError{code: 1, err: fmt.Errorf("declined: %s", res.Code)}
	}
	fmt.Fprintf(e.stdout, "APPROVED  %s  auth code %s  (%s)\n", amt, res.AuthCode, took)
	if len(answer.IssuerAuth) > 0 {
		fmt.Fprintf(e.stdout, "issuer authentication data (tag 91, %d bytes) for the card\n", len(answer.IssuerAuth))
	}
	return nil
}
