package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	"github.com/tapwallet/tapwallet/kernel"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/nfc"
	"github.com/tapwallet/tapwallet/qpboc"
)

func init() {
	register("pos", "the store terminal: pos charge --amount 12.34 --listen HOST:PORT", runPos)
}

const posUsage = `Usage: tapwallet pos charge --amount 12.34 --listen HOST:PORT [flags]

Waits for a phone to tap (the phone dials the listen address: tapwallet phone
tap --reader HOST:PORT), runs the contactless flow, asks for the fingerprint
again on "see phone", and prints the authorization request for the card
network (or, with --network, sends it and reverses it when no usable answer
comes; a reversal the network does not answer either is kept in the state
folder, acquirer.db, and sent again by the next run). The terminal's STAN and RRN continue across runs: they are kept in
a file per terminal id in the --state folder, locked while a number is
taken, so two pos processes of one terminal never send the same STAN.
The amount must be above zero and fit 12 digits of minor units.

Flags:`

func runPos(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "charge" {
		fmt.Fprintln(e.stderr, posUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return usage("pos: the command is 'charge'")
	}
	def := kernel.DefaultConfig()
	fs := flag.NewFlagSet("pos charge", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	amountS := fs.String("amount", "", "amount to charge, e.g. 12.34")
	currency := fs.Uint("currency", 156, "ISO 4217 numeric currency (156 CNY)")
	listen := fs.String("listen", envDefault(e, "pos_listen", ""), "NFC link address the phone dials [TAPWALLET_POS_LISTEN]")
	merchant := fs.String("merchant", envDefault(e, "merchant", def.MerchantName), "merchant name, up to 25 characters [TAPWALLET_MERCHANT]")
	city := fs.String("city", def.City, "merchant city, up to 13 characters")
	terminal := fs.String("terminal", envDefault(e, "terminal", def.TerminalID), "terminal id (DE41), up to 8 characters [TAPWALLET_TERMINAL]")
	merchantID := fs.String("merchant-id", def.MerchantID, "merchant id (DE42), up to 15 characters")
	mcc := fs.String("mcc", def.MCC, "merchant category code (DE18)")
	trace := fs.Bool("trace", false, "print the APDU trace of each tap (card numbers masked)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for a successful tap")
	network := fs.String("network", envDefault(e, "network", ""), "card network address (tapwallet serve --iso), e.g. 127.0.0.1:8583; empty: only print the request [TAPWALLET_NETWORK]")
	answerTimeout := fs.Duration("answer-timeout", 10*time.Second, "how long to wait for the network's answer before reversing")
	stateDir := fs.String("state", envDefault(e, "pos_state", "./tapwallet-pos"), "folder of the terminal's counters (STAN, RRN), a file per terminal id; made when missing [TAPWALLET_POS_STATE]")
	fs.Usage = func() { fmt.Fprintln(e.stderr, posUsage); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		return usage("%v", err)
	}
	if *amountS == "" || *listen == "" {
		return usage("pos charge needs --amount and --listen HOST:PORT (127.0.0.1:0 picks a free port)")
	}
	if *currency == 0 || *currency > 999 {
		return usage("--currency must be an ISO 4217 numeric code (156 for CNY)")
	}
	amount, err := money.Parse(*amountS, money.Currency(*currency))
	if err != nil {
		return usage("--amount: %v", err)
	}
	if err := saleAmount(amount); err != nil {
		return err
	}
	if *timeout <= 0 {
		return usage("--timeout must be positive")
	}
	cfg := def
	cfg.MerchantName, cfg.City, cfg.TerminalID, cfg.MerchantID, cfg.MCC = *merchant, *city, *terminal, *merchantID, *mcc
	k, err := kernel.New(cfg)
	if err != nil {
		return usage("%v", err)
	}
	counters, created, err := acquirer.OpenFileCounters(*stateDir, cfg.TerminalID)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(e.stdout, "new terminal state folder %s: the counters of terminal %s start at 000001\n", *stateDir, cfg.TerminalID)
	}
	profile := acquirer.Merchant{Acquirer: cfg.Acquirer, Terminal: cfg.TerminalID, ID: cfg.MerchantID, Name: cfg.MerchantName,
		City: cfg.City, Country: cfg.CountryCode, MCC: cfg.MCC}
	var acq *terminalAcquirer
	if *network != "" {
		if acq, err = openTerminalAcquirer(ctx, *stateDir, *network, *answerTimeout); err != nil {
			return err
		}
		defer acq.close()
		sendOwedReversals(ctx, e, acq)
	}
	l, err := nfc.Listen(*listen, nfc.Config{})
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintf(e.stdout, "terminal %s at %s: charge %s, waiting for a tap on %s\n", cfg.TerminalID, cfg.MerchantName, amount, l.Addr())
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	payOnline := func(res *kernel.Result, answer *qpboc.Outcome) error {
		fmt.Fprintf(e.stdout, "card: %s %s, token %v, counter %d\n", hexAID(res.AID), res.Label, res.Token, res.ATC)
		req, err := k.AuthorizationRequest(res, time.Now())
		if err != nil {
			return err
		}
		// The terminal's own counters, kept across runs, not the kernel's,
		// which start at 000001 in every process.
		stan, rrn, err := counters.Next(ctx, res.Time, true)
		if err != nil {
			return err
		}
		if err := profile.Stamp(req, stan, rrn, time.Now()); err != nil {
			return err
		}
		if acq != nil {
			return authorizeOnline(context.WithoutCancel(ctx), e, acq, req, counters, answer)
		}
		fmt.Fprintf(e.stdout, "authorization request for the card network (not sent: no network configured):\n  %s\n", req.Describe())
		return nil
	}
	// The phone stays on the link while the terminal goes online, and is
	// told the answer (kernel.ChargeOnline, docs/emv.md).
	var onlineErr error
	res, seePhone, err := k.ChargeOnline(ctx, l, kernel.Transaction{Amount: amount}, func(m string) {
		fmt.Fprintf(e.stdout, "[terminal] %s\n", m)
	}, func(_ context.Context, res *kernel.Result) *qpboc.Outcome {
		answer := qpboc.Outcome{ARC: qpboc.ARCUnableOnline, Message: "no answer from the bank"}
		if onlineErr = payOnline(res, &answer); *network == "" {
			return nil // the request was only printed: nothing to tell
		}
		return &answer
	})
	if *trace {
		for i, r := range seePhone {
			fmt.Fprintf(e.stdout, "\ntap %d (see phone):\n", i+1)
			r.Trace.Format(e.stdout, true)
		}
	}
	if err != nil {
		return err
	}
	if *trace {
		fmt.Fprintf(e.stdout, "\ntap %d:\n", len(seePhone)+1)
		res.Trace.Format(e.stdout, true)
		fmt.Fprintln(e.stdout)
	}
	fmt.Fprintf(e.stdout, "tap: %s\n", res.Stats.Summary())
	switch res.Outcome {
	case kernel.Online:
		return onlineErr
	case kernel.Declined:
		return fmt.Errorf("declined by the card: %s", res.Reason)
	default:
		return fmt.Errorf("no payment: %s", res.Message)
	}
}

// maxDE4 is the largest amount a 0100 can carry: DE4 and the chip's
// amount authorised (9F02) are 12 digits of minor units.
const maxDE4 = 999999999999

// saleAmount refuses, as a usage error, an amount a sale cannot have: zero,
// or more than DE4 and 9F02 can carry.
func saleAmount(a money.Amount) error {
	switch {
	case a.Minor <= 0:
		return usage("--amount must be above zero for a sale (got %s)", a)
	case a.Minor > maxDE4:
		return usage("--amount %s cannot be sent: the authorization carries at most 12 digits of minor units (DE4 and the chip's 9F02), so at most %s", a, money.New(maxDE4, a.Currency))
	}
	return nil
}

func hexAID(b []byte) string { return fmt.Sprintf("%X", b) }
