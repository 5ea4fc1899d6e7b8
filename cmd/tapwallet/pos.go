package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/kernel"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/nfc"
	"github.com/tapwallet/tapwallet/qpboc"
)

func init() {
	register("pos", "the store terminal: sale, refund, void, pre-authorization, completion, end-of-day batch", runPos)
	registerSubs("pos", func() []string { return sortedKeys(posCommands) })
}

// posCommands are the store terminal's subcommands.
var posCommands = map[string]func(ctx context.Context, e *env, name string, args []string) error{
	"sale": runPosTap, "charge": runPosTap, "preauth": runPosTap,
	"complete": runPosComplete, "refund": runPosRefund, "void": runPosVoid, "batch": runPosBatch,
}

// posHelps is each subcommand's help.
var posHelps = map[string]string{
	"sale": posSaleHelp, "charge": posSaleHelp, "preauth": posPreAuthHelp,
	"complete": posCompleteHelp, "refund": posRefundHelp, "void": posVoidHelp, "batch": posBatchHelp,
}

const posHelp = `Usage: tapwallet pos COMMAND [flags]

The store terminal: it reads a phone over the NFC link (the phone dials it:
tapwallet phone tap --reader HOST:PORT) and speaks ISO 8583 to the card
network (--network, tapwallet serve --iso). Its own books — the charges the
network approved, refunds, voids, reversals owed, batches and its STAN and
RRN counters — are kept in the state folder (--state, acquirer.db), so each
command finds the sales of earlier runs by their RRN or auth code.

Commands:
  sale      tapwallet pos sale --amount 12.34 --listen HOST:PORT --network ADDR
            a purchase (0100, processing code 000000); charge is its old name
  preauth   tapwallet pos preauth --amount 80.00 --listen HOST:PORT --network ADDR
            a pre-authorization (0100, processing code 030000): the bank
            places a hold, completed later
  complete  tapwallet pos complete --rrn RRN --amount 61.50 --network ADDR
            completes a pre-authorization for the final amount (at most the
            hold); below the hold a partial reversal (0400, DE95) reduces it
  refund    tapwallet pos refund --rrn RRN [--amount 5.00] --network ADDR
            gives (part of) a sale back to the card (0200, processing code
            200000); never more than the sale has left
  void      tapwallet pos void --rrn RRN --network ADDR
            cancels a sale of the open batch (0400 naming it): the bank
            releases its hold; after the batch is closed, refund instead
  batch     tapwallet pos batch [--close]
            the open batch's totals per currency (sales, completions,
            refunds, voids, net); --close closes it with the next number

Each command prints a receipt (merchant, masked token, amount, discount when
promotions apply, auth code, RRN, STAN, the ARPC check, the response); --json
prints it as one JSON object instead. Exit status: 0 approved, 1 declined,
refused by the terminal's books (unknown RRN, over-refund, completion above
the hold, void after the batch is closed) or no answer, 2 a usage mistake.
tapwallet pos COMMAND -h shows a command's flags.`

func runPos(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || wantsHelp(args[:1]) || args[0] == "help" {
		fmt.Fprintln(e.stderr, posHelp)
		if len(args) > 0 {
			return nil
		}
		return usage("pos: want a command: %s", strings.Join(sortedKeys(posCommands), ", "))
	}
	c, ok := posCommands[args[0]]
	if !ok {
		fmt.Fprintln(e.stderr, posHelp)
		return usage("pos: unknown command %q: want one of %s", args[0], strings.Join(sortedKeys(posCommands), ", "))
	}
	return c(ctx, e, args[0], args[1:])
}

// posTerminal is what every pos command is told of its terminal: the
// merchant profile, the state folder, the network and the output form.
type posTerminal struct {
	merchant, city, terminal, merchantID, mcc *string
	network, state                            *string
	answerTimeout                             *time.Duration
	asJSON                                    *bool
	def                                       kernel.Config
}

// terminalFlags adds the flags every pos command shares to fs.
func terminalFlags(e *env, fs *flag.FlagSet) *posTerminal {
	def := kernel.DefaultConfig()
	return &posTerminal{
		def:           def,
		merchant:      fs.String("merchant", envDefault(e, "merchant", def.MerchantName), "merchant name, up to 25 characters [TAPWALLET_MERCHANT]"),
		city:          fs.String("city", def.City, "merchant city, up to 13 characters"),
		terminal:      fs.String("terminal", envDefault(e, "terminal", def.TerminalID), "terminal id (DE41), up to 8 characters [TAPWALLET_TERMINAL]"),
		merchantID:    fs.String("merchant-id", def.MerchantID, "merchant id (DE42), up to 15 characters"),
		mcc:           fs.String("mcc", def.MCC, "merchant category code (DE18)"),
		network:       fs.String("network", envDefault(e, "network", ""), "card network address (tapwallet serve --iso), e.g. 127.0.0.1:8583 [TAPWALLET_NETWORK]"),
		answerTimeout: fs.Duration("answer-timeout", 10*time.Second, "how long to wait for the network's answer (an authorization is reversed after it)"),
		state:         fs.String("state", envDefault(e, "pos_state", "./tapwallet-pos"), "the terminal's state folder (acquirer.db: counters, charges, refunds, batches); made when missing [TAPWALLET_POS_STATE]"),
		asJSON:        fs.Bool("json", false, "print the receipt (or the batch) as one JSON object"),
	}
}

// kernelConfig returns the kernel's configuration for the terminal.
func (t *posTerminal) kernelConfig() kernel.Config {
	cfg := t.def
	cfg.MerchantName, cfg.City, cfg.TerminalID, cfg.MerchantID, cfg.MCC = *t.merchant, *t.city, *t.terminal, *t.merchantID, *t.mcc
	return cfg
}

// parse parses args into fs (help on the flag set's output) and refuses
// positional arguments.
func parsePos(fs *flag.FlagSet, name string, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usage("pos %s: %v", name, err)
	}
	if fs.NArg() > 0 {
		return usage("pos %s: unexpected argument %q", name, fs.Arg(0))
	}
	return nil
}

// newPosFlags returns the flag set of a pos command with its help.
func newPosFlags(e *env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("pos "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = helpUsage(e, fs, posHelps[name])
	return fs
}

const posSaleHelp = `Usage: tapwallet pos sale --amount 12.34 --listen HOST:PORT [--network HOST:PORT] [flags]
       tapwallet pos charge …   (the same)

A sale: waits for a phone to tap (the phone dials the listen address:
tapwallet phone tap --reader HOST:PORT), runs the contactless flow, asks for
the fingerprint again on "see phone", and sends the authorization (0100,
processing code 000000) to the card network; when no usable answer comes it
reverses it (a reversal the network does not answer either is kept in the
state folder and sent by the next run). The phone is told the bank's answer.
Without --network the request is only printed. An approved sale is kept in
the state folder under its RRN for refund, void and the batch. The terminal's
STAN and RRN continue across runs (the state folder; a folder of an older
version keeps its counters from terminal-ID.json). The amount must be above
zero and fit 12 digits of minor units.`

const posPreAuthHelp = `Usage: tapwallet pos preauth --amount 80.00 --listen HOST:PORT --network HOST:PORT [flags]

A pre-authorization: as a sale, with processing code 030000 — the bank
places a hold for the amount, and the terminal completes it later for the
final amount (tapwallet pos complete --rrn RRN --amount …) or voids it
(tapwallet pos void --rrn RRN). A pre-authorization not completed stays in
the open batch across batch closes.`

// runPosTap runs a sale (or charge) or a pre-authorization: a tap, then
// the authorization.
func runPosTap(ctx context.Context, e *env, name string, args []string) error {
	fs := newPosFlags(e, name)
	term := terminalFlags(e, fs)
	amountS := fs.String("amount", "", "amount, e.g. 12.34")
	currency := fs.Uint("currency", 156, "ISO 4217 numeric currency (156 CNY)")
	listen := fs.String("listen", envDefault(e, "pos_listen", ""), "NFC link address the phone dials [TAPWALLET_POS_LISTEN]")
	trace := fs.Bool("trace", false, "print the APDU trace of each tap (card numbers masked)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for a successful tap")
	if err := parsePos(fs, name, args); err != nil {
		return err
	}
	if *amountS == "" || *listen == "" {
		return usage("pos %s needs --amount and --listen HOST:PORT (127.0.0.1:0 picks a free port)", name)
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
	kind, pc := acquirer.KindSale, ""
	if name == "preauth" {
		kind, pc = acquirer.KindPreAuth, acquirer.PreAuthProcessingCode
		if *term.network == "" {
			return usage("pos preauth needs --network: a hold is placed by the bank")
		}
	}
	cfg := term.kernelConfig()
	k, err := kernel.New(cfg)
	if err != nil {
		return usage("%v", err)
	}
	t, err := openPosTerminal(ctx, e, term, *term.network != "")
	if err != nil {
		return err
	}
	defer t.close()
	l, err := nfc.Listen(*listen, nfc.Config{})
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintf(e.progress(term), "terminal %s at %s: %s %s, waiting for a tap on %s\n", cfg.TerminalID, cfg.MerchantName, kindWord(kind), amount, l.Addr())
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var rcpt *receipt
	payOnline := func(res *kernel.Result, answer *qpboc.Outcome) error {
		fmt.Fprintf(e.progress(term), "card: %s %s, token %v, counter %d\n", hexAID(res.AID), res.Label, res.Token, res.ATC)
		req, err := k.AuthorizationRequest(res, time.Now())
		if err != nil {
			return err
		}
		if pc != "" {
			if err := req.SetString(iso8583.DEProcessingCode, pc); err != nil {
				return err
			}
		}
		stan, rrn, err := t.counters.Next(ctx, res.Time, true)
		if err != nil {
			return err
		}
		if err := t.profile.Stamp(req, stan, rrn, time.Now()); err != nil {
			return err
		}
		if t.acq == nil {
			fmt.Fprintf(e.stdout, "authorization request for the card network (not sent: no network configured):\n  %s\n", req.Describe())
			return nil
		}
		rcpt, err = authorizeOnline(context.WithoutCancel(ctx), e, term, t, kind, req, answer)
		return err
	}
	// The phone stays on the link while the terminal goes online, and is
	// told the answer (kernel.ChargeOnline, docs/emv.md).
	var onlineErr error
	res, seePhone, err := k.ChargeOnline(ctx, l, kernel.Transaction{Amount: amount}, func(m string) {
		fmt.Fprintf(e.progress(term), "[terminal] %s\n", m)
	}, func(_ context.Context, res *kernel.Result) *qpboc.Outcome {
		answer := qpboc.Outcome{ARC: qpboc.ARCUnableOnline, Message: "no answer from the bank"}
		if onlineErr = payOnline(res, &answer); t.acq == nil {
			return nil // the request was only printed: nothing to tell
		}
		return &answer
	})
	if *trace {
		for i, r := range seePhone {
			fmt.Fprintf(e.progress(term), "\ntap %d (see phone):\n", i+1)
			r.Trace.Format(e.progress(term), true)
		}
	}
	if err != nil {
		return err
	}
	if *trace {
		fmt.Fprintf(e.progress(term), "\ntap %d:\n", len(seePhone)+1)
		res.Trace.Format(e.progress(term), true)
		fmt.Fprintln(e.progress(term))
	}
	fmt.Fprintf(e.progress(term), "tap: %s\n", res.Stats.Summary())
	switch res.Outcome {
	case kernel.Online:
		if rcpt != nil {
			if err := printReceipt(e, term, rcpt); err != nil {
				return err
			}
		}
		return onlineErr
	case kernel.Declined:
		return fmt.Errorf("declined by the card: %s", res.Reason)
	default:
		return fmt.Errorf("no payment: %s", res.Message)
	}
}

func kindWord(k acquirer.Kind) string {
	if k == acquirer.KindPreAuth {
		return "pre-authorize"
	}
	return "charge"
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
