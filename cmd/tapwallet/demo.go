package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/platform"
)

func init() {
	register("demo", "tell the whole story end to end on a temporary platform", runDemo)
}

// demo tells the story step by step; any step that does not do what it
// should ends it with an error (and a non-zero exit code).
type demo struct {
	ctx  context.Context
	out  io.Writer
	step int
	p    *platform.Platform
	dir  string
	// alice is the phone of the story, with 8 cards after the first chapter.
	alice *phone.Phone
}

func (d *demo) say(format string, args ...any) {
	d.step++
	fmt.Fprintf(d.out, "\n[%d] "+format+"\n", append([]any{d.step}, args...)...)
}

func (d *demo) ok(format string, args ...any) { fmt.Fprintf(d.out, "    ✓ "+format+"\n", args...) }

func (d *demo) check(cond bool, format string, args ...any) error {
	if !cond {
		return fmt.Errorf("demo step %d failed: "+format, append([]any{d.step}, args...)...)
	}
	return nil
}

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	data := fs.String("data", "", "data folder to use (default: a new temporary folder, removed at the end)")
	dsn := fs.String("db", envDefault(e, "db", ""), "database DSN (default: SQLite in the data folder)")
	keep := fs.Bool("keep", false, "after the story, keep the platform running until Ctrl-C (SIGINT/SIGTERM) and print the portal's URL, e-mail and password")
	fs.Usage = helpUsage(e, fs, "Usage: tapwallet demo [--data DIR] [--db DSN] [--keep]\n\nTells the whole story end to end on a temporary platform, step by step;\na step that does not do what it should ends it with an error.")
	if err := fs.Parse(args); err != nil {
		return usage("%v", err)
	}
	dir := *data
	if dir == "" {
		tmp, err := os.MkdirTemp("", "tapwallet-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	p, err := platform.Start(ctx, platform.Config{DataDir: filepath.Join(dir, "platform"), DSN: *dsn, HTTPAddr: "127.0.0.1:0", Log: log})
	if err != nil {
		return err
	}
	defer p.Close()
	d := &demo{ctx: ctx, out: e.stdout, p: p, dir: dir}
	fmt.Fprintf(e.stdout, "tapwallet demo — the platform is running at %s (data in %s, %s)\n", p.URL, dir, p.Place.Dialect())
	if err := d.run(); err != nil {
		return err
	}
	if !*keep {
		fmt.Fprintf(e.stdout, "The platform stops now. Run 'tapwallet demo --keep' to keep it running and look around the portal (%s, password %q).\n", demoEmail, demoPassword)
		return nil
	}
	fmt.Fprintf(e.stdout, "The platform keeps running (--keep) until Ctrl-C:\n")
	fmt.Fprintf(e.stdout, "  portal      %s\n  e-mail      %s\n  password    %s\n  codes       tapwallet phone --profile %s otp\n  wallet API  %s\n",
		p.Portal.URL(), demoEmail, demoPassword, filepath.Join(dir, "phone-alice"), p.URL)
	<-ctx.Done()
	fmt.Fprintln(e.stdout, "stopping the platform")
	return nil
}

func (d *demo) run() error {
	ctx := d.ctx
	ph, err := phone.Open(filepath.Join(d.dir, "phone-alice"), d.p.URL)
	if err != nil {
		return err
	}
	const email, pw = demoEmail, demoPassword

	d.say("Alice signs up for a wallet account and logs in on her phone")
	if err := ph.SignUp(ctx, email, pw); err != nil {
		return err
	}
	if err := ph.LogIn(ctx, email, pw); err != nil {
		return err
	}
	d.ok("account %s, session opened", email)

	d.say("The phone makes its device key inside its secure element and registers")
	id, err := ph.Register(ctx, "Alice's Mi 5", "Xiaomi Mi 5")
	if err != nil {
		return err
	}
	d.ok("phone %s registered; requests that change cards are signed with its device key", id)

	green, otp := pickCards(d.p.Banks)
	if err := d.check(len(green) >= 8 && len(otp) >= 1, "the bank configuration has too few test cards"); err != nil {
		return err
	}

	d.say("She adds her %s %s card (the bank approves at once)", bankShort(d.p.Banks, green[0].Bank), green[0].Product)
	res, err := ph.AddCard(ctx, green[0].PAN.Digits(), green[0].Expiry.MMYY(), green[0].CVN2.Digits())
	if err != nil {
		return err
	}
	if err := d.check(res.Card != nil, "a green card asked for a one-time code"); err != nil {
		return err
	}
	d.ok("added %s", res.Card.Describe())
	d.ok("the phone holds token %s… and %d limited-use keys — never the card number", res.Card.Token[:6], res.KeysLeft)

	d.say("She adds her %s %s card: the bank steps up with a one-time code", bankShort(d.p.Banks, otp[0].Bank), otp[0].Product)
	res, err = ph.AddCard(ctx, otp[0].PAN.Digits(), otp[0].Expiry.MMYY(), otp[0].CVN2.Digits())
	if err != nil {
		return err
	}
	if err := d.check(res.Card == nil && res.BindingID != "", "an OTP card was added without a code"); err != nil {
		return err
	}
	d.ok("code sent to %s", res.SentTo)
	_, werr := ph.VerifyOTP(ctx, res.BindingID, "000000")
	if werr != nil {
		d.ok("a wrong code is refused: %v", werr)
	}
	code, err := ph.LatestOTP(ctx)
	if err != nil {
		return err
	}
	d.ok("the SMS reads the code %s", code)
	res, err = ph.VerifyOTP(ctx, res.BindingID, code)
	if err != nil {
		return err
	}
	d.ok("added %s", res.Card.Describe())

	d.say("A card with a wrong CVN2 is refused")
	_, err = ph.AddCard(ctx, green[1].PAN.Digits(), green[1].Expiry.MMYY(), wrongCVN2(green[1].CVN2.Digits()))
	if err := d.check(err != nil, "a wrong CVN2 was accepted"); err != nil {
		return err
	}
	d.ok("refused: %v", err)

	d.say("She fills the phone up to 8 cards")
	if err := d.fillCards(ph, green[1:7]); err != nil {
		return err
	}
	cards, err := ph.Cards(ctx)
	if err != nil {
		return err
	}
	if err := d.check(len(cards) == 8, "the phone has %d cards, want 8", len(cards)); err != nil {
		return err
	}

	d.say("A ninth card is refused: at most 8 cards per phone")
	_, err = ph.AddCard(ctx, green[7].PAN.Digits(), green[7].Expiry.MMYY(), green[7].CVN2.Digits())
	if err := d.check(err != nil && apiCode(err) == "card_limit", "a ninth card was not refused with card_limit (got %v)", err); err != nil {
		return err
	}
	d.ok("refused: %v", err)

	d.say("Her cards, default first")
	for _, c := range cards {
		d.ok("%s", c.Describe())
	}
	d.alice = ph

	// Later chapters of the story, each in its own file (demo_*.go), run
	// here in order. Each returns an error when a step does not do what it
	// should.
	for _, chapter := range []func() error{
		// (chapters are added here: tap, network, transit, lost phone, risk)
		d.tapChapter,
		d.networkChapter,
		d.promoChapter,
		d.transitChapter,
		d.lostPhoneChapter,
		d.riskChapter,
	} {
		if err := chapter(); err != nil {
			return err
		}
	}
	fmt.Fprintf(d.out, "\nThe story went as it should.\n")
	return nil
}

func apiCode(err error) string {
	if ae, ok := err.(*phone.APIError); ok {
		return ae.Code
	}
	return fault.CodeOf(err)
}

func wrongCVN2(c string) string {
	if c == "999" {
		return "998"
	}
	return "999"
}

// pickCards returns the addable test cards: green ones from distinct banks
// first, and the ones that step up with a one-time code.
func pickCards(cfg *bank.Config) (green, otp []*bank.Cardholder) {
	seen := map[string]bool{}
	var more []*bank.Cardholder
	for i := range cfg.Cards {
		c := &cfg.Cards[i]
		if c.Expiry.Year < 2027 {
			continue
		}
		switch c.IDV {
		case bank.Green:
			if !seen[c.Bank] {
				seen[c.Bank] = true
				green = append(green, c)
			} else {
				more = append(more, c)
			}
		case bank.StepUp:
			otp = append(otp, c)
		}
	}
	return append(green, more...), otp
}

func bankShort(cfg *bank.Config, id string) string {
	if b, ok := cfg.BankByID(id); ok && b.Short != "" {
		return b.Short
	}
	return id
}
