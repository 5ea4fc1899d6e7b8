package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/phone"
)

func init() {
	register("phone", "the phone: account, device, cards (and taps, transit)", runPhone)
	registerSubs("phone", func() []string { return sortedKeys(phoneCommands) })
}

// phoneCommands are the phone's subcommands.
var phoneCommands = map[string]struct {
	summary string
	run     func(ctx context.Context, e *env, pf *phoneFlags, args []string) error
}{}

func registerPhone(name, summary string, run func(ctx context.Context, e *env, pf *phoneFlags, args []string) error) {
	phoneCommands[name] = struct {
		summary string
		run     func(ctx context.Context, e *env, pf *phoneFlags, args []string) error
	}{summary, run}
}

func init() {
	registerPhone("signup", "create the wallet account: --email ADDR (password from TAPWALLET_PASSWORD or stdin)", phoneSignUp)
	registerPhone("login", "log in: --email ADDR", phoneLogIn)
	registerPhone("logout", "log out", phoneLogOut)
	registerPhone("register", "register this phone's device key: [--name NAME] [--model MODEL]", phoneRegister)
	registerPhone("add-card", "add a bank card: --pan DIGITS --expiry MMYY --cvn2 NNN; if the bank sends a one-time code, run it again with --otp CODE", phoneAddCard)
	registerPhone("verify-otp", "finish adding a card by its binding: --binding ID --otp CODE (the same as add-card … --otp CODE)", phoneVerifyOTP)
	registerPhone("cards", "list the cards on this phone: [--json]", phoneCards)
	registerPhone("default", "make a card the default: CARD (token or PAN last 4)", phoneDefault)
	registerPhone("remove-card", "remove a card: CARD (token or PAN last 4)", phoneRemove)
	registerPhone("otp", "show the newest one-time code sent to the account", phoneOTP)
}

// phoneFlags are the flags every phone subcommand takes.
type phoneFlags struct {
	profile, server string
}

func (pf *phoneFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&pf.profile, "profile", pf.profile, "phone profile folder [TAPWALLET_PROFILE]")
	fs.StringVar(&pf.server, "server", pf.server, "wallet service URL [TAPWALLET_SERVER]")
}

// open opens the phone of an existing profile; a folder that holds none is
// refused (a mistyped --profile must not make a new phone).
func (pf *phoneFlags) open() (*phone.Phone, error) {
	p, err := phone.Load(pf.profile, pf.server)
	if fault.Has(err, fault.NotFound, phone.ErrNoProfile) {
		return nil, &exitError{code: 2, err: err}
	}
	return p, err
}

// create opens the phone of a profile, making it if there is none: only
// signup and login start a phone.
func (pf *phoneFlags) create() (*phone.Phone, error) { return phone.Open(pf.profile, pf.server) }

func runPhone(ctx context.Context, e *env, args []string) error {
	pf := &phoneFlags{profile: envDefault(e, "profile", "./tapwallet-phone"), server: envDefault(e, "server", "")}
	fs := flag.NewFlagSet("phone", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	pf.bind(fs)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "Usage: tapwallet phone [--profile DIR] [--server URL] COMMAND [flags] [ARGS]\n\n"+
			"The phone app: its account, device key, cards, payments and transit cards,\n"+
			"kept in a profile folder. 'tapwallet phone COMMAND -h' shows a command's flags.\n\nCommands:")
		for _, n := range sortedKeys(phoneCommands) {
			fmt.Fprintf(e.stderr, "  %-13s %s\n", n, phoneCommands[n].summary)
		}
		fmt.Fprintln(e.stderr, "\nFlags (of every command):")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usage("%v", err)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usage("phone: a command is needed")
	}
	c, ok := phoneCommands[fs.Arg(0)]
	if !ok {
		fs.Usage()
		return usage("phone: unknown command %q", fs.Arg(0))
	}
	return c.run(ctx, e, pf, fs.Args()[1:])
}

// phoneArgs are the positional arguments of the phone subcommands that
// take some, for their usage line.
var phoneArgs = map[string]string{
	"default":         "CARD",
	"remove-card":     "CARD",
	"transit express": "on|off",
}

// subFlags makes a phone subcommand's flag set, with --profile and
// --server; its help (-h) is the usage line, the command's summary and its
// flags.
func subFlags(e *env, pf *phoneFlags, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("phone "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	pf.bind(fs)
	fs.Usage = func() {
		about := phoneCommands[name].summary
		if sub, ok := strings.CutPrefix(name, "transit "); ok {
			about = transitSummary(sub)
		}
		line := "Usage: tapwallet phone [--profile DIR] [--server URL] " + name + " [flags]"
		if a := phoneArgs[name]; a != "" {
			line += " " + a
		}
		fmt.Fprintf(e.stderr, "%s\n\n%s\n\nFlags:\n", line, about)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usage("%v", err)
	}
	return nil
}

// password reads TAPWALLET_PASSWORD, or the password typed at the terminal
// without showing it, or one line of stdin when stdin is not a terminal
// (a pipe or a file).
func password(e *env) (string, error) {
	if pw := e.getenv("TAPWALLET_PASSWORD"); pw != "" {
		return pw, nil
	}
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, "Password (not shown): ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password from the terminal: %w", err)
		}
		if len(b) == 0 {
			return "", usage("empty password")
		}
		return string(b), nil
	}
	fmt.Fprint(e.stderr, "Password: ")
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		if err != nil {
			return "", usage("no password: set TAPWALLET_PASSWORD or type it on stdin")
		}
		return "", usage("empty password")
	}
	return line, nil
}

func phoneSignUp(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "signup")
	email := fs.String("email", "", "email address")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *email == "" {
		return usage("signup needs --email")
	}
	pw, err := password(e)
	if err != nil {
		return err
	}
	p, err := pf.create()
	if err != nil {
		return err
	}
	if err := p.SignUp(ctx, *email, pw); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "account created for %s\n", *email)
	return nil
}

func phoneLogIn(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "login")
	email := fs.String("email", "", "email address")
	if err := parse(fs, args); err != nil {
		return err
	}
	p, err := pf.create()
	if err != nil {
		return err
	}
	if *email == "" {
		*email = p.Profile.Email
	}
	if *email == "" {
		return usage("login needs --email")
	}
	pw, err := password(e)
	if err != nil {
		return err
	}
	if err := p.LogIn(ctx, *email, pw); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "logged in as %s\n", *email)
	return nil
}

func phoneLogOut(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "logout")
	if err := parse(fs, args); err != nil {
		return err
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	if err := p.LogOut(ctx); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "logged out")
	return nil
}

func phoneRegister(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "register")
	name := fs.String("name", "My phone", "a name for this phone")
	model := fs.String("model", "tapwallet phone", "the phone's model")
	if err := parse(fs, args); err != nil {
		return err
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	id, err := p.Register(ctx, *name, *model)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "phone %q registered as %s\n", *name, id)
	return nil
}

func phoneAddCard(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "add-card")
	pan := fs.String("pan", "", "card number")
	expiry := fs.String("expiry", "", "expiry MMYY")
	cvn2 := fs.String("cvn2", "", "the 3-digit code on the back")
	otp := fs.String("otp", "", "the one-time code the bank sent for this card's pending binding (read it with 'tapwallet phone otp')")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *pan == "" || *expiry == "" || *cvn2 == "" {
		return usage("add-card needs --pan, --expiry and --cvn2")
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	// With --otp, finish the binding the previous add-card of this card
	// started: a new binding would send a new code, making this one wrong.
	if pd, ok := p.PendingBinding(*pan, *expiry); ok && *otp != "" {
		res, err := p.VerifyOTP(ctx, pd.Binding, *otp)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added %s; %d payment keys in the secure element\n", res.Card.Describe(), res.KeysLeft)
		return nil
	}
	res, err := p.AddCard(ctx, *pan, *expiry, *cvn2)
	if err != nil {
		return err
	}
	if res.Card == nil {
		fmt.Fprintf(e.stdout, "the bank sent a one-time code to %s (binding %s)\n", res.SentTo, res.BindingID)
		fmt.Fprintf(e.stdout, "finish with: tapwallet phone add-card --pan … --expiry … --cvn2 … --otp CODE (this card's details)\n")
		fmt.Fprintf(e.stdout, "         or: tapwallet phone verify-otp --binding %s --otp CODE\n", res.BindingID)
		if *otp != "" {
			return fmt.Errorf("the --otp code was not used: no binding of this card was waiting for a code, so one was started and a new code sent; run add-card again with the new code")
		}
		return nil
	}
	fmt.Fprintf(e.stdout, "added %s; %d payment keys in the secure element\n", res.Card.Describe(), res.KeysLeft)
	return nil
}

func phoneVerifyOTP(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "verify-otp")
	binding := fs.String("binding", "", "the binding id add-card printed")
	otp := fs.String("otp", "", "the one-time code")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *binding == "" || *otp == "" {
		return usage("verify-otp needs --binding and --otp")
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	res, err := p.VerifyOTP(ctx, *binding, *otp)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "added %s; %d payment keys in the secure element\n", res.Card.Describe(), res.KeysLeft)
	return nil
}

func phoneCards(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "cards")
	asJSON := fs.Bool("json", false, `print {"cards": [{"default": bool, "token_last4", "pan_last4", "bank", "bank_name", "product", "card_art", "expiry" (MMYY), "state", "keys_left": int}]} (never a whole card or token number)`)
	if err := parse(fs, args); err != nil {
		return err
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	cards, err := p.Cards(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		type cardJSON struct {
			Default    bool   `json:"default"`
			TokenLast4 string `json:"token_last4"`
			PANLast4   string `json:"pan_last4"`
			Bank       string `json:"bank"`
			BankName   string `json:"bank_name"`
			Product    string `json:"product"`
			CardArt    string `json:"card_art"`
			Expiry     string `json:"expiry"`
			State      string `json:"state"`
			KeysLeft   int    `json:"keys_left"`
		}
		out := struct {
			Cards []cardJSON `json:"cards"`
		}{Cards: []cardJSON{}}
		for _, c := range cards {
			out.Cards = append(out.Cards, cardJSON{c.Default, c.TokenLast4, c.PANLast4, c.Bank, c.BankName, c.Product, c.CardArt, c.Expiry, c.State, p.SE.KeysLeft(c.Token)})
		}
		return writeJSON(e.stdout, out)
	}
	if len(cards) == 0 {
		fmt.Fprintln(e.stdout, "no cards on this phone")
		return nil
	}
	fmt.Fprintf(e.stdout, "%-3s %-6s %-6s %-40s %-7s %-8s %-6s %s\n", "", "TOKEN", "PAN", "BANK", "PRODUCT", "ART", "EXPIRY", "KEYS")
	for _, c := range cards {
		def := ""
		if c.Default {
			def = "*"
		}
		fmt.Fprintf(e.stdout, "%-3s %-6s %-6s %-40s %-7s %-8s %-6s %d\n", def, c.TokenLast4, c.PANLast4, c.BankName, c.Product, c.CardArt, c.Expiry, p.SE.KeysLeft(c.Token))
	}
	return nil
}

func cardArg(fs *flag.FlagSet, args []string, what string) (string, error) {
	if err := parse(fs, args); err != nil {
		return "", err
	}
	if fs.NArg() != 1 {
		return "", usage("%s needs one card: its token's or card's last 4 digits", what)
	}
	return fs.Arg(0), nil
}

func phoneDefault(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	ref, err := cardArg(subFlags(e, pf, "default"), args, "default")
	if err != nil {
		return err
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	if err := p.SetDefault(ctx, ref); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "card %s is now the default\n", ref)
	return nil
}

func phoneRemove(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	ref, err := cardArg(subFlags(e, pf, "remove-card"), args, "remove-card")
	if err != nil {
		return err
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	if err := p.RemoveCard(ctx, ref); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "card %s removed; its token is deleted and its keys wiped\n", ref)
	return nil
}

func phoneOTP(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "otp")
	if err := parse(fs, args); err != nil {
		return err
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	msgs, err := p.OTPMessages(ctx)
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return fmt.Errorf("no one-time code has been sent to this account")
	}
	fmt.Fprintln(e.stdout, msgs[0])
	return nil
}
