package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	acqsql "github.com/tapwallet/tapwallet/acquirer/sqlstore"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/kernel"
	"github.com/tapwallet/tapwallet/qpboc"
)

// posRun is one pos command's terminal: its books in the state folder
// (acquirer.db: counters, charges, refunds, reversals owed, batches), its
// merchant profile and, with a network address, its acquirer (package
// acquirer) on a link to the card network.
type posRun struct {
	store    *acqsql.Store
	counters acquirer.Counters
	profile  acquirer.Merchant
	acq      *acquirer.Acquirer // nil without a network
	addr     string
	closers  []func()
}

// close closes the books and the link; closing again does nothing.
func (t *posRun) close() {
	for i := len(t.closers) - 1; i >= 0; i-- {
		t.closers[i]()
	}
	t.closers = nil
}

// openPosTerminal opens the terminal's books in its state folder (made
// when missing) and, when online, its acquirer for the network at
// --network, sending first the reversals an earlier run left owed. A
// state folder of an older version keeps its STAN: the counters of
// terminal-ID.json are carried into the books. It fails when the folder
// or the books cannot be opened.
func openPosTerminal(ctx context.Context, e *env, term *posTerminal, online bool) (*posRun, error) {
	cfg := term.kernelConfig()
	if _, err := os.Stat(*term.state); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(*term.state, 0o700); err != nil {
			return nil, fmt.Errorf("terminal state folder %s cannot be made: %w", *term.state, err)
		}
		fmt.Fprintf(e.progress(term), "new terminal state folder %s: the counters of terminal %s start at 000001\n", *term.state, cfg.TerminalID)
	}
	st, err := acqsql.Open(ctx, "", *term.state)
	if err != nil {
		return nil, err
	}
	t := &posRun{store: st, counters: st.Counters(cfg.TerminalID), closers: []func(){func() { st.Close() }},
		profile: acquirer.Merchant{Acquirer: cfg.Acquirer, Terminal: cfg.TerminalID, ID: cfg.MerchantID, Name: cfg.MerchantName,
			City: cfg.City, Country: cfg.CountryCode, MCC: cfg.MCC}}
	if err := carryFileCounters(ctx, st, *term.state, cfg.TerminalID); err != nil {
		t.close()
		return nil, err
	}
	if !online {
		return t, nil
	}
	if *term.network == "" {
		t.close()
		return nil, usage("this command needs --network HOST:PORT (the card network, tapwallet serve --iso) [TAPWALLET_NETWORK]")
	}
	link := acquirer.DialerTo(*term.network, *term.answerTimeout)
	t.closers = append(t.closers, func() { link.Close() })
	if t.acq, err = acquirer.New(ctx, link, st, nil); err != nil {
		t.close()
		return nil, err
	}
	t.acq.Timeout, t.addr = *term.answerTimeout, *term.network
	sendOwedReversals(ctx, e, term, t.acq)
	return t, nil
}

// carryFileCounters raises the books' STAN of terminal to the one kept in
// terminal-ID.json by an older version, if that file is there.
func carryFileCounters(ctx context.Context, st *acqsql.Store, dir, terminal string) error {
	b, err := os.ReadFile(filepath.Join(dir, "terminal-"+acquirer.FileSafe(terminal)+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var old struct {
		STAN iso8583.STAN `json:"stan"`
	}
	if err == nil {
		err = json.Unmarshal(b, &old)
	}
	if err != nil {
		return fmt.Errorf("the old counters file of terminal %s in %s cannot be read: %w", terminal, dir, err)
	}
	return st.SeedCounter(ctx, terminal, old.STAN)
}

// sendOwedReversals sends the reversals an earlier run left owed (the
// network did not answer them then) and says what came of them.
func sendOwedReversals(ctx context.Context, e *env, term *posTerminal, a *acquirer.Acquirer) {
	owed, err := a.Store.OwedReversals(ctx, 1)
	if err != nil || len(owed) == 0 {
		return
	}
	n, err := a.FlushReversals(ctx)
	if err != nil {
		fmt.Fprintf(e.progress(term), "reversals owed from an earlier run: %d answered, the rest still owed (%v)\n", n, err)
		return
	}
	fmt.Fprintf(e.progress(term), "reversals owed from an earlier run: %d sent and answered\n", n)
}

// authorizeOnline sends the terminal's 0100 to the card network, keeps an
// approved one in the books under its RRN (acquirer.Charge) and returns
// its receipt; it sets answer to what the terminal tells the phone
// (kernel.Answer). When no answer comes within the timeout (or the link
// drops), or the answer cannot be read, the acquirer reverses the
// authorization (0400 with DE90 naming it, repeated as 0401 until
// answered; a reversal left unanswered stays owed in the state folder and
// is sent by the next run), and it fails. A decline fails with exit
// status 1 and its receipt.
func authorizeOnline(ctx context.Context, e *env, term *posTerminal, t *posRun, kind acquirer.Kind, req *iso8583.Message, answer *qpboc.Outcome) (*receipt, error) {
	amt, _ := req.Amount()
	fmt.Fprintf(e.progress(term), "sending the %s for %s to the card network at %s\n", kindName(kind), amt, t.addr)
	rrn, _ := req.String(iso8583.DERRN)
	res, err := t.acq.Charge(ctx, rrn, req, t.counters)
	if errors.Is(err, acquirer.ErrNetworkDown) {
		return nil, fmt.Errorf("the card network at %s does not answer: %w", t.addr, err)
	}
	if res != nil && res.Unanswered != nil {
		if errors.Is(res.Unanswered, iso8583.ErrFormat) {
			fmt.Fprintf(e.progress(term), "the card network's answer cannot be read (%v): reversing the authorization\n", res.Unanswered)
		} else {
			fmt.Fprintf(e.progress(term), "no answer within %s: reversing the authorization\n", t.acq.Timeout)
		}
		if res.ReversalErr != nil {
			fmt.Fprintf(e.progress(term), "the reversal was not answered either (%v): it stays owed and the next pos command with --network sends it\n", res.ReversalErr)
		} else {
			fmt.Fprintf(e.progress(term), "reversal answered: %s\n", res.ReversalCode)
		}
		return nil, &exitError{code: 1, err: fmt.Errorf("no usable answer from the card network: the payment did not go through")}
	}
	if err != nil {
		return nil, err
	}
	*answer = kernel.Answer(res.Answer)
	took := res.Took.Round(time.Millisecond)
	r := receiptOf(kind, req, res.Code, res.AuthCode)
	r.ARPC = arpcCheck(answer.IssuerAuth, res.Code)
	r.setPromotion(res)
	if !res.Approved() {
		fmt.Fprintf(e.progress(term), "DECLINED  %s  (%s)\n", res.Code, took)
		return r, &exitError{code: 1, err: fmt.Errorf("declined: %s", res.Code)}
	}
	fmt.Fprintf(e.progress(term), "APPROVED  %s  auth code %s  (%s)\n", amt, res.AuthCode, took)
	if r.Discount != nil {
		fmt.Fprintf(e.progress(term), "%s: %s — the card holder pays %s\n", r.CampaignName, *r.Discount, r.Charged)
	}
	return r, nil
}

func kindName(k acquirer.Kind) string {
	if k == acquirer.KindPreAuth {
		return "pre-authorization"
	}
	return "authorization"
}

// arpcCheck is what the terminal can check of the issuer's authentication
// data (tag 91: ARPC ‖ ARC) it passes on to the phone: the terminal holds
// no card key, so the cryptogram itself is the card's to verify; the
// terminal checks that it is there, of the ARPC method 1 length, and that
// its ARC is the response code the network answered.
func arpcCheck(tag91 []byte, rc iso8583.ResponseCode) string {
	switch {
	case len(tag91) == 0:
		return "none: the answer carries no issuer authentication data"
	case len(tag91) != 10:
		return fmt.Sprintf("present (%d bytes, not ARPC method 1's 10): passed to the phone unchecked", len(tag91))
	case string(tag91[8:]) != string(rc):
		return fmt.Sprintf("MISMATCH: its ARC %q is not the response code %s", tag91[8:], rc)
	}
	return "ok: ARPC present, its ARC matches " + string(rc) + "; passed to the phone, whose card verifies it"
}
