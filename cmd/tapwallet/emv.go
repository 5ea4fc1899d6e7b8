package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tapwallet/tapwallet/emv"
)

func init() {
	register("emv", "EMV/PBOC calculator: key derivation, MACs, cryptograms, ARPCs, TLV", runEMV)
}

const emvHelp = `Usage: tapwallet emv COMMAND [flags]

A calculator for the chip-card cryptography and data of tapwallet (package
emv). Every command but tlv prints its result as upper-case hex on one line
and nothing else; errors go to stderr with exit status 2. Keys are 16 bytes
(32 hex digits): double-length TDES or SM4.

  derive-mk  --imk HEX --pan DIGITS [--psn NN] [--option a|b] [--alg tdes|sm4]
             card master key from the issuer master key (EMV Book 2 A1.4;
             SM4: PBOC 3.0). --psn defaults to 00, --option to a.
  derive-sk  --mk HEX --atc HEX [--un HEX] [--scheme emv|pboc] [--alg tdes|sm4]
  derive-sk  --mk HEX --r HEX
             session key. emv: EMV common session key with
             R = ATC || 0000 || UN (UN 4 bytes, default 00000000), or the
             raw 8-byte R; TDES only. pboc: PBOC 3.0 / UnionPay from the ATC.
             --scheme defaults to emv for tdes and pboc for sm4.
  mac        --key HEX --data HEX [--pad 1|2|3] [--alg tdes|sm4]
             TDES: ISO/IEC 9797-1 MAC algorithm 3 (8 bytes); SM4: CBC-MAC
             (16 bytes). --pad is the ISO/IEC 9797-1 padding method, default 2.
  arqc       --key HEX --data HEX [--pad 1|2|3] [--alg tdes|sm4]
             8-byte application cryptogram (ARQC, TC or AAC) with a session key.
  arpc       --key HEX --arqc HEX --arc HEX [--method 1] [--alg tdes|sm4]
  arpc       --key HEX --arqc HEX --method 2 --csu HEX [--prop HEX] [--alg tdes|sm4]
             method 1: 8-byte ARPC from the 2-byte response code;
             method 2: 4-byte ARPC from the 4-byte card status update and
             0 to 8 bytes of proprietary authentication data.
  tlv        HEX...  (or - to read the hex from stdin)
             the BER-TLV data as an indented tree with tag names.

Example: tapwallet emv derive-mk --imk 0123456789ABCDEFFEDCBA9876543210 \
             --pan 12345678901234567 --psn 45
         946DC1A8C78A624519BC4645CB073737
`

func runEMV(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, emvHelp)
		return usage("emv: want a command: derive-mk, derive-sk, mac, arqc, arpc or tlv")
	}
	run, ok := map[string]func(*env, []string) error{
		"derive-mk": emvDeriveMK,
		"derive-sk": emvDeriveSK,
		"mac":       emvMAC,
		"arqc":      emvARQC,
		"arpc":      emvARPC,
		"tlv":       emvTLV,
	}[args[0]]
	switch {
	case args[0] == "-h" || args[0] == "--help" || args[0] == "help":
		fmt.Fprint(e.stdout, emvHelp)
		return nil
	case !ok:
		fmt.Fprint(e.stderr, emvHelp)
		return usage("emv: unknown command %q", args[0])
	}
	return run(e, args[1:])
}

// emvFlags is the flag set of one emv command and the names of the flags
// given on the command line.
type emvFlags struct {
	*flag.FlagSet
	name string
}

func newEMVFlags(e *env, name string) *emvFlags {
	fs := flag.NewFlagSet("emv "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() { fmt.Fprint(e.stderr, emvHelp) }
	return &emvFlags{FlagSet: fs, name: name}
}

// parse parses args; -h prints the help and gives errHelpShown.
func (f *emvFlags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelpShown
		}
		return usage("emv %s: %v", f.name, err)
	}
	if f.NArg() > 0 && f.name != "tlv" {
		return usage("emv %s: unexpected argument %q", f.name, f.Arg(0))
	}
	return nil
}

// errHelpShown ends a command that printed its help on request.
var errHelpShown = errors.New("help shown")

// set reports whether the flag was given on the command line.
func (f *emvFlags) set(name string) bool {
	found := false
	f.Visit(func(fl *flag.Flag) {
		if fl.Name == name {
			found = true
		}
	})
	return found
}

// hexArg decodes the hex value of a flag. It never repeats the value in
// its error, which may be a key. size 0 accepts any length; required
// reports a missing flag.
func (f *emvFlags) hexArg(name, value string, size int, required bool) ([]byte, error) {
	if !f.set(name) {
		if required {
			return nil, usage("emv %s: --%s is required", f.name, name)
		}
		return nil, nil
	}
	b, err := decodeHex(value)
	if err != nil {
		return nil, usage("emv %s: --%s %v", f.name, name, err)
	}
	if size > 0 && len(b) != size {
		return nil, usage("emv %s: --%s must be %d bytes (%d hex digits), got %d bytes", f.name, name, size, 2*size, len(b))
	}
	return b, nil
}

// decodeHex decodes hex digits, allowing spaces between them.
func decodeHex(s string) ([]byte, error) {
	s = strings.Join(strings.Fields(s), "")
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return nil, errors.New("is not hex (want digits 0-9 and A-F)")
		}
	}
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("has an odd number of hex digits (%d)", len(s))
	}
	return hex.DecodeString(s)
}

func (f *emvFlags) alg(s string) (emv.Alg, error) {
	a, err := emv.ParseAlg(s)
	if err != nil {
		return 0, usage("emv %s: --alg must be tdes or sm4", f.name)
	}
	return a, nil
}

func (f *emvFlags) padding(n int) (emv.Padding, error) {
	if n < 1 || n > 3 {
		return 0, usage("emv %s: --pad must be 1, 2 or 3 (ISO/IEC 9797-1 padding method)", f.name)
	}
	return emv.Padding(n), nil
}

// done prints a result, or turns an error of package emv (whose texts
// hold no key or card data) into a usage error.
func (f *emvFlags) done(e *env, out []byte, err error) error {
	if err != nil {
		if errors.Is(err, errHelpShown) {
			return nil
		}
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		return usage("emv %s: %v", f.name, err)
	}
	_, err = fmt.Fprintf(e.stdout, "%X\n", out)
	return err
}

func emvDeriveMK(e *env, args []string) error {
	f := newEMVFlags(e, "derive-mk")
	imkHex := f.String("imk", "", "issuer master key, 32 hex digits")
	pan := f.String("pan", "", "primary account number, 1 to 19 digits")
	psn := f.String("psn", "00", "PAN sequence number, 2 digits")
	option := f.String("option", "a", "EMV derivation option: a or b")
	algName := f.String("alg", "tdes", "tdes or sm4")
	out, err := func() ([]byte, error) {
		if err := f.parse(args); err != nil {
			return nil, err
		}
		imk, err := f.hexArg("imk", *imkHex, emv.KeySize, true)
		if err != nil {
			return nil, err
		}
		if !f.set("pan") {
			return nil, usage("emv derive-mk: --pan is required")
		}
		if !allDigits(*pan) || len(*pan) == 0 || len(*pan) > 19 {
			return nil, usage("emv derive-mk: --pan must be 1 to 19 digits")
		}
		if !allDigits(*psn) || len(*psn) != 2 {
			return nil, usage("emv derive-mk: --psn must be 2 digits")
		}
		var opt emv.Option
		switch strings.ToLower(*option) {
		case "a":
			opt = emv.OptionA
		case "b":
			opt = emv.OptionB
		default:
			return nil, usage("emv derive-mk: --option must be a or b")
		}
		a, err := f.alg(*algName)
		if err != nil {
			return nil, err
		}
		return emv.MasterKey(a, opt, imk, *pan, *psn)
	}()
	return f.done(e, out, err)
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func emvDeriveSK(e *env, args []string) error {
	f := newEMVFlags(e, "derive-sk")
	mkHex := f.String("mk", "", "card master key, 32 hex digits")
	atcHex := f.String("atc", "", "application transaction counter, 4 hex digits")
	unHex := f.String("un", "", "unpredictable number, 8 hex digits (emv scheme)")
	rHex := f.String("r", "", "raw 8-byte diversification value R (emv scheme, instead of --atc and --un)")
	scheme := f.String("scheme", "", "emv or pboc (default: emv for tdes, pboc for sm4)")
	algName := f.String("alg", "tdes", "tdes or sm4")
	out, err := func() ([]byte, error) {
		if err := f.parse(args); err != nil {
			return nil, err
		}
		a, err := f.alg(*algName)
		if err != nil {
			return nil, err
		}
		mk, err := f.hexArg("mk", *mkHex, emv.KeySize, true)
		if err != nil {
			return nil, err
		}
		s := strings.ToLower(*scheme)
		if s == "" {
			s = "emv"
			if a == emv.SM4 {
				s = "pboc"
			}
		}
		switch s {
		case "emv":
			if a != emv.TDES {
				return nil, usage("emv derive-sk: the emv common session key is defined for tdes; use --scheme pboc with sm4")
			}
			if f.set("r") {
				if f.set("atc") || f.set("un") {
					return nil, usage("emv derive-sk: give either --r or --atc (and --un), not both")
				}
				r, err := f.hexArg("r", *rHex, 8, true)
				if err != nil {
					return nil, err
				}
				return emv.CommonSessionKey(mk, r)
			}
			atc, err := f.hexArg("atc", *atcHex, 2, true)
			if err != nil {
				return nil, err
			}
			un, err := f.hexArg("un", *unHex, 4, false)
			if err != nil {
				return nil, err
			}
			return emv.SessionKeyEMV(mk, atc, un)
		case "pboc":
			if f.set("un") || f.set("r") {
				return nil, usage("emv derive-sk: the pboc session key uses only --atc (no --un or --r)")
			}
			atc, err := f.hexArg("atc", *atcHex, 2, true)
			if err != nil {
				return nil, err
			}
			return emv.SessionKeyPBOC(a, mk, atc)
		}
		return nil, usage("emv derive-sk: --scheme must be emv or pboc")
	}()
	return f.done(e, out, err)
}

func emvMAC(e *env, args []string) error  { return emvMACLike(e, "mac", args) }
func emvARQC(e *env, args []string) error { return emvMACLike(e, "arqc", args) }
func emvMACLike(e *env, name string, args []string) error {
	f := newEMVFlags(e, name)
	keyHex := f.String("key", "", "key (session key for arqc), 32 hex digits")
	dataHex := f.String("data", "", "data in hex (may be empty)")
	pad := f.Int("pad", 2, "ISO/IEC 9797-1 padding method: 1, 2 or 3")
	algName := f.String("alg", "tdes", "tdes or sm4")
	out, err := func() ([]byte, error) {
		if err := f.parse(args); err != nil {
			return nil, err
		}
		a, err := f.alg(*algName)
		if err != nil {
			return nil, err
		}
		key, err := f.hexArg("key", *keyHex, emv.KeySize, true)
		if err != nil {
			return nil, err
		}
		data, err := f.hexArg("data", *dataHex, 0, true)
		if err != nil {
			return nil, err
		}
		p, err := f.padding(*pad)
		if err != nil {
			return nil, err
		}
		if name == "arqc" {
			return emv.Cryptogram(a, key, data, p)
		}
		return emv.MAC(a, key, data, p)
	}()
	return f.done(e, out, err)
}

func emvARPC(e *env, args []string) error {
	f := newEMVFlags(e, "arpc")
	keyHex := f.String("key", "", "session key (or card master key), 32 hex digits")
	arqcHex := f.String("arqc", "", "the card's 8-byte ARQC")
	arcHex := f.String("arc", "", "2-byte authorisation response code (method 1), e.g. 3030 for \"00\"")
	method := f.Int("method", 1, "ARPC method: 1 or 2")
	csuHex := f.String("csu", "", "4-byte card status update (method 2)")
	propHex := f.String("prop", "", "0 to 8 bytes of proprietary authentication data (method 2)")
	algName := f.String("alg", "tdes", "tdes or sm4")
	out, err := func() ([]byte, error) {
		if err := f.parse(args); err != nil {
			return nil, err
		}
		a, err := f.alg(*algName)
		if err != nil {
			return nil, err
		}
		key, err := f.hexArg("key", *keyHex, emv.KeySize, true)
		if err != nil {
			return nil, err
		}
		arqc, err := f.hexArg("arqc", *arqcHex, 8, true)
		if err != nil {
			return nil, err
		}
		switch *method {
		case 1:
			if f.set("csu") || f.set("prop") {
				return nil, usage("emv arpc: --csu and --prop are for --method 2")
			}
			arc, err := f.hexArg("arc", *arcHex, 2, true)
			if err != nil {
				return nil, err
			}
			return emv.ARPCMethod1(a, key, arqc, arc)
		case 2:
			csu, err := f.hexArg("csu", *csuHex, 4, true)
			if err != nil {
				return nil, err
			}
			prop, err := f.hexArg("prop", *propHex, 0, false)
			if err != nil {
				return nil, err
			}
			if len(prop) > 8 {
				return nil, usage("emv arpc: --prop must be 0 to 8 bytes, got %d", len(prop))
			}
			return emv.ARPCMethod2(a, key, arqc, csu, prop)
		}
		return nil, usage("emv arpc: --method must be 1 or 2")
	}()
	return f.done(e, out, err)
}

func emvTLV(e *env, args []string) error {
	f := newEMVFlags(e, "tlv")
	if err := f.parse(args); err != nil {
		if errors.Is(err, errHelpShown) {
			return nil
		}
		return err
	}
	text := strings.Join(f.Args(), "")
	if text == "-" {
		b, err := io.ReadAll(io.LimitReader(e.stdin, 1<<20))
		if err != nil {
			return fmt.Errorf("emv tlv: reading stdin: %w", err)
		}
		text = string(b)
	}
	b, err := decodeHex(text)
	if err != nil {
		return usage("emv tlv: the input %v", err)
	}
	if len(b) == 0 {
		return usage("emv tlv: want BER-TLV data in hex")
	}
	objs, err := emv.Decode(b)
	if err != nil {
		return usage("emv tlv: %v", err)
	}
	_, err = fmt.Fprint(e.stdout, emv.Format(objs))
	return err
}
