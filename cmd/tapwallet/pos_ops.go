package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/money"
)

const posRefundHelp = `Usage: tapwallet pos refund (--rrn RRN | --auth-code CODE) [--amount 5.00] --network HOST:PORT [flags]

A refund: gives money of an approved sale of this terminal (found in the
state folder by its RRN, or by its auth code) back to the card, over the
network's refund path (0200, processing code 200000, DE90 naming the sale;
no tap: the merchant gives the money back). Without --amount the rest of the
sale; a partial refund leaves the rest for later ones. A refund above what
the sale has left (its amount less the refunds before) is refused before
anything is sent. A completed pre-authorization refunds its final amount.
--ref names the refund so that running it again (after no answer) sends the
same message and is not a second refund; without it each run is a new one
(a refund the network did not answer says which --ref sends it again).`

const posVoidHelp = `Usage: tapwallet pos void (--rrn RRN | --auth-code CODE) --network HOST:PORT [flags]

A void: cancels a sale (or a pre-authorization) of the open batch on the
merchant's request by reversing it in full (0400, DE90 naming it): the bank
releases its hold and clearing does not present it. A sale of a closed batch
cannot be voided (refund it instead), nor one with refunds. The reversal is
kept in the state folder before it is sent; when the network does not answer,
it is sent again by the next command with --network, and running the void
again shows its answer.`

const posCompleteHelp = `Usage: tapwallet pos complete (--rrn RRN | --auth-code CODE) --amount 61.50 --network HOST:PORT [flags]

A completion: ends a pre-authorization (tapwallet pos preauth) with the
final amount, at most the amount held. Below it the terminal sends the
network's completion message, a partial reversal (0400 with DE95 carrying
the final amount): the bank reduces its hold to the final amount and
clearing posts that. At the amount held nothing is sent: clearing posts the
pre-authorization as it stands. A completion above the hold is refused.`

const posBatchHelp = `Usage: tapwallet pos batch [--close] [--list N] [flags]

The end-of-day batch of this terminal, from its books in the state folder:
per currency, the count and amount of sales, completed pre-authorizations,
refunds (approved) and voids, and the net (sales + completions - refunds).
--close closes the open batch: its transactions get the next batch number
(1, 2, …) and the totals are kept; a sale of a closed batch can no longer be
voided. Pre-authorizations neither completed nor voided stay in the open
batch. The batch is closed locally (the network has no 0500 reconciliation
message yet; clearing settles by the network's own records: tapwallet clear).
--list N shows the last N closed batches.
--json: {"terminal", "number" (0: open), "closed_at", "totals": [{"currency",
"sales", "completions", "refunds", "voids": {"count", "amount"}, "net"}]}
(with --list: {"batches": [...]}).`

// chargeFlags are the flags that name a charge of the terminal.
type chargeFlags struct{ rrn, authCode *string }

func addChargeFlags(fs *flag.FlagSet) chargeFlags {
	return chargeFlags{
		rrn:      fs.String("rrn", "", "the sale's retrieval reference number (DE37, 12 digits), as its receipt shows"),
		authCode: fs.String("auth-code", "", "the sale's auth code (DE38), when the RRN is not at hand"),
	}
}

// find returns the charge the flags name in the terminal's books; it
// fails with exit status 1 and a clear text when there is none.
func (f chargeFlags) find(ctx context.Context, t *posRun, terminal string) (acquirer.Charge, error) {
	c, err := t.store.FindCharge(ctx, terminal, *f.rrn, *f.authCode)
	if fault.Has(err, fault.NotFound, acquirer.CodeChargeNotFound) {
		return c, &exitError{code: 1, err: fmt.Errorf("%s (see the sale's receipt; only sales this terminal's state folder approved are known)", fault.MessageOf(err))}
	}
	return c, err
}

func (f chargeFlags) check(name string) error {
	if (*f.rrn == "") == (*f.authCode == "") {
		return usage("pos %s needs the sale: --rrn RRN or --auth-code CODE (one of them)", name)
	}
	return nil
}

// opAmount parses --amount in the charge's currency; "" is def.
func opAmount(s string, c acquirer.Charge, def int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	a, err := money.Parse(s, money.Currency(c.Currency))
	if err != nil {
		return 0, usage("--amount: %v", err)
	}
	if a.Minor <= 0 {
		return 0, usage("--amount must be above zero (got %s)", a)
	}
	return a.Minor, nil
}

// answered turns what an operation came to into the command's result:
// the receipt (also of a decline), and exit status 1 with a clear text
// for a refusal or a decline.
func answered(e *env, term *posTerminal, r *receipt, err error) error {
	if err == nil || fault.KindOf(err) == fault.Declined {
		if perr := printReceipt(e, term, r); perr != nil {
			return perr
		}
	}
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return &exitError{code: 1, err: errors.New(fault.MessageOf(err))}
}

// newPosOp returns the flag set of a refund, void or completion: the
// terminal's flags and those that name the charge.
func newPosOp(e *env, name string) (*flag.FlagSet, *posTerminal, chargeFlags) {
	fs := newPosFlags(e, name)
	return fs, terminalFlags(e, fs), addChargeFlags(fs)
}

// posOp parses args, checks them with check (nil: none), opens the
// terminal online and finds the charge the flags name.
func posOp(ctx context.Context, e *env, fs *flag.FlagSet, term *posTerminal, cf chargeFlags, name string, args []string, check func() error) (*posRun, acquirer.Charge, error) {
	if err := parsePos(fs, name, args); err != nil {
		return nil, acquirer.Charge{}, err
	}
	if err := cf.check(name); err != nil {
		return nil, acquirer.Charge{}, err
	}
	if check != nil {
		if err := check(); err != nil {
			return nil, acquirer.Charge{}, err
		}
	}
	if *term.network == "" {
		return nil, acquirer.Charge{}, usage("pos %s needs --network HOST:PORT (the card network, tapwallet serve --iso) [TAPWALLET_NETWORK]", name)
	}
	t, err := openPosTerminal(ctx, e, term, true)
	if err != nil {
		return nil, acquirer.Charge{}, err
	}
	c, err := cf.find(ctx, t, *term.terminal)
	if err != nil {
		t.close()
		return nil, c, err
	}
	return t, c, nil
}

func runPosRefund(ctx context.Context, e *env, name string, args []string) error {
	fs, term, cf := newPosOp(e, name)
	amountS := fs.String("amount", "", "amount to give back, e.g. 5.00 (default: what the sale has left)")
	ref := fs.String("ref", "", "the refund's own reference, to send the same refund again after no answer (default: a new one)")
	t, c, err := posOp(ctx, e, fs, term, cf, name, args, nil)
	if err != nil {
		return err
	}
	defer t.close()
	refunded, err := t.store.Refunded(ctx, c.Ref)
	if err != nil {
		return err
	}
	amount, err := opAmount(*amountS, c, c.Final()-refunded)
	if err != nil {
		return err
	}
	if *ref == "" {
		*ref = fmt.Sprintf("refund|%s|%d", c.Ref, time.Now().UnixNano())
	}
	ans, err := t.acq.RefundCharge(ctx, c, *ref, amount)
	if fault.Has(err, fault.Unavailable, acquirer.CodeRefundUnanswered) {
		// The refund is planned and may have reached the bank: the same
		// message again, not a second refund.
		return &exitError{code: 1, err: fmt.Errorf("%s: send the same refund again with --ref %s", fault.MessageOf(err), *ref)}
	}
	return answered(e, term, receiptOfCharge("refund", c, amount, ans), err)
}

func runPosVoid(ctx context.Context, e *env, name string, args []string) error {
	fs, term, cf := newPosOp(e, name)
	t, c, err := posOp(ctx, e, fs, term, cf, name, args, nil)
	if err != nil {
		return err
	}
	defer t.close()
	ans, err := t.acq.Void(ctx, c, t.counters)
	return answered(e, term, receiptOfCharge("void", c, c.Final(), ans), err)
}

func runPosComplete(ctx context.Context, e *env, name string, args []string) error {
	fs, term, cf := newPosOp(e, name)
	amountS := fs.String("amount", "", "the final amount, at most the pre-authorization's, e.g. 61.50")
	t, c, err := posOp(ctx, e, fs, term, cf, name, args, func() error {
		if *amountS == "" {
			return usage("pos complete needs --amount (the final amount)")
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer t.close()
	amount, err := opAmount(*amountS, c, 0)
	if err != nil {
		return err
	}
	ans, err := t.acq.Complete(ctx, c, amount, t.counters)
	r := receiptOfCharge("completion", c, amount, ans)
	r.AuthCode = c.AuthCode
	return answered(e, term, r, err)
}

func runPosBatch(ctx context.Context, e *env, name string, args []string) error {
	fs := newPosFlags(e, name)
	term := terminalFlags(e, fs)
	closeIt := fs.Bool("close", false, "close the open batch (next batch number); its sales can no longer be voided")
	list := fs.Int("list", 0, "show the last N closed batches instead")
	if err := parsePos(fs, name, args); err != nil {
		return err
	}
	if *list < 0 || (*list > 0 && *closeIt) {
		return usage("pos batch: --list N takes N above zero and goes without --close")
	}
	t, err := openPosTerminal(ctx, e, term, false)
	if err != nil {
		return err
	}
	defer t.close()
	if *list > 0 {
		bs, err := t.store.Batches(ctx, *term.terminal, *list)
		if err != nil {
			return err
		}
		if *term.asJSON {
			if bs == nil {
				bs = []acquirer.Batch{}
			}
			return writeJSON(e.stdout, struct {
				Batches []acquirer.Batch `json:"batches"`
			}{bs})
		}
		for _, b := range bs {
			printBatch(e, b)
		}
		return nil
	}
	var b acquirer.Batch
	if *closeIt {
		b, err = t.store.CloseBatch(ctx, *term.terminal, time.Now())
	} else {
		b, err = t.store.OpenBatch(ctx, *term.terminal)
	}
	if err != nil {
		return err
	}
	if b.Totals == nil {
		b.Totals = []acquirer.Totals{}
	}
	if *term.asJSON {
		return writeJSON(e.stdout, b)
	}
	printBatch(e, b)
	return nil
}

// printBatch writes a batch's totals as a table, one row per currency
// and line.
func printBatch(e *env, b acquirer.Batch) {
	if b.Number == 0 {
		fmt.Fprintf(e.stdout, "terminal %s: open batch\n", b.Terminal)
	} else {
		fmt.Fprintf(e.stdout, "terminal %s: batch %d closed %s\n", b.Terminal, b.Number, b.ClosedAt.Format("2006-01-02 15:04:05 UTC"))
	}
	if len(b.Totals) == 0 {
		fmt.Fprintln(e.stdout, "  no transactions")
		return
	}
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "CURRENCY\tSALES\tAMOUNT\tCOMPLETIONS\tAMOUNT\tREFUNDS\tAMOUNT\tVOIDS\tAMOUNT\tNET\t")
	for _, t := range b.Totals {
		cur := money.Currency(t.Currency)
		m := func(n int64) string { return money.New(n, cur).String() }
		fmt.Fprintf(w, "%d\t%d\t%s\t%d\t%s\t%d\t%s\t%d\t%s\t%s\t\n", t.Currency, t.Sales.Count, m(t.Sales.Amount), t.Completions.Count,
			m(t.Completions.Amount), t.Refunds.Count, m(t.Refunds.Amount), t.Voids.Count, m(t.Voids.Amount), m(t.Net))
	}
	w.Flush()
}
