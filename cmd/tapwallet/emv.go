package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tapwallet/tapwallet/emv"
)

func init() {
	register("emv", "EMV/PBOC calculator: keys, KCVs, cryptograms, CVVs, PIN blocks, TLV, TVR/TSI/CVR bits", runEMV)
}

const emvHelp = `Usage: tapwallet emv COMMAND [flags]

A calculator for the chip-card cryptography and data of tapwallet (package
emv), for what payment engineers use pyemv, BP-Tools or emvlab for. Every
command prints its result on one line (hex, or digits for cvv and PINs)
and nothing else, unless noted; --json on any command prints a JSON object
with named fields instead. Errors go to stderr with exit status 2 and never
repeat a key, PIN or PAN. Card keys are 16 bytes (32 hex digits):
double-length TDES or SM4.

Keys and cryptograms:
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
  kcv        --key HEX [--alg tdes|aes|sm4] [--method zeros|cmac] [--len N]
             key check value, 3 bytes unless --len. zeros: encrypt a block
             of zeros (TDES, SM4, legacy AES); cmac: CMAC of a block of
             zeros (AES per ANSI X9.24-1:2017, the default for aes).
             TDES keys 8, 16 or 24 bytes; AES 16, 24 or 32; SM4 16.

Card verification values (Visa CVV / Mastercard CVC, CVK A || CVK B):
  cvv        --cvk HEX --pan DIGITS --expiry YYMM --service-code NNN
             CVV1 with the track's service code; CVV2 with 000.
  icvv       --cvk HEX --pan DIGITS --expiry YYMM
             iCVV: the CVV with service code 999.
  dcvv       --cvk HEX --pan DIGITS --expiry YYMM --atc HEX [--service-code 000]
             Visa dCVV (MSD): the CVV algorithm with the card's dCVV key
             over ATC || PAN from its 5th digit || expiry || service code.

PIN blocks (ISO 9564-1):
  pinblock encode --format 0|1|3 --pin DIGITS --pan DIGITS [--key TDES-HEX] [--steps]
  pinblock encode --format 4 --pin DIGITS --pan DIGITS --key AES-HEX [--steps]
  pinblock decode --format 0|1|3 --block HEX --pan DIGITS [--key TDES-HEX] [--steps]
  pinblock decode --format 4 --block HEX --pan DIGITS --key AES-HEX [--steps]
             encode prints the block (enciphered when --key is given,
             else clear); decode prints the PIN. Formats 1 and 3 and
             format 4 fill with random digits. --steps (and --json) show
             the clear block, or for format 4 the PIN field, PAN field,
             A = AES(K)[PIN field], B = A xor PAN field and AES(K)[B].

Data:
  tlv        HEX...  (or - to read the hex from stdin)
             the BER-TLV data as an indented tree with tag names.
  decode     OBJECT HEX [--set]
             bit by bit with names, one line per bit or field: tvr (95),
             tsi (9B), cvm (9F34), aip (82), ttq (9F66), ctq (9F6C), cvr
             (a PBOC / UICS CVR, or the whole IAD 9F10) and cvr-tapwallet
             (tapwallet's cards, package qpboc). --set lists only what is set.

Examples:
  tapwallet emv derive-mk --imk 0123456789ABCDEFFEDCBA9876543210 --pan 12345678901234567 --psn 45
  946DC1A8C78A624519BC4645CB073737
  tapwallet emv kcv --key 0123456789ABCDEFFEDCBA9876543210
  08D7B4
  tapwallet emv cvv --cvk 0123456789ABCDEFFEDCBA9876543210 --pan 1234567890123456 --expiry 9912 --service-code 220
  170
  tapwallet emv pinblock decode --format 0 --block 041261AAAAEDCBA9 --pan 5555555551234567
  1234
  tapwallet emv decode tvr 8000048000 --set --json
`

func runEMV(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, emvHelp)
		return usage("emv: want a command: derive-mk, derive-sk, mac, arqc, arpc, kcv, cvv, icvv, dcvv, pinblock, tlv or decode")
	}
	run, ok := map[string]func(*env, []string) error{
		"derive-mk": emvDeriveMK,
		"derive-sk": emvDeriveSK,
		"mac":       emvMAC,
		"arqc":      emvARQC,
		"arpc":      emvARPC,
		"tlv":       emvTLV,
		"kcv":       emvKCV,
		"cvv":       emvCVV,
		"icvv":      emvCVV,
		"dcvv":      emvCVV,
		"pinblock":  emvPINBlock,
		"decode":    emvDecode,
	}[args[0]]
	switch {
	case args[0] == "-h" || args[0] == "--help" || args[0] == "help":
		fmt.Fprint(e.stdout, emvHelp)
		return nil
	case !ok:
		fmt.Fprint(e.stderr, emvHelp)
		return usage("emv: unknown command %q", args[0])
	}
	if args[0] == "icvv" || args[0] == "dcvv" {
		return run(e, args) // emvCVV reads its kind from the name
	}
	return run(e, args[1:])
}

// emvFlags is the flag set of one emv command and the names of the flags
// given on the command line.
type emvFlags struct {
	*flag.FlagSet
	name string
	// field names the result in the --json object.
	field  string
	asJSON *bool
	stdout io.Writer
}

func newEMVFlags(e *env, name string) *emvFlags {
	fs := flag.NewFlagSet("emv "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {} // parse prints the help for -h; a bad flag gets only its error
	f := &emvFlags{FlagSet: fs, name: name, field: strings.ReplaceAll(name, "-", "_"), stdout: e.stdout}
	f.asJSON = fs.Bool("json", false, "print the result as a JSON object")
	return f
}

// parse parses args; -h prints the help on stdout and gives errHelpShown.
func (f *emvFlags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(f.stdout, emvHelp)
			return errHelpShown
		}
		return usage("emv %s: %v", f.name, err)
	}
	if f.NArg() > 0 && f.name != "tlv" && f.name != "decode" {
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

// done prints a result as one line of hex, or with --json as an object
// whose field is named after the command ({"mk": "…"}).
func (f *emvFlags) done(e *env, out []byte, err error) error {
	return f.result(e, err, func() (string, any) {
		return fmt.Sprintf("%X\n", out), map[string]string{f.field: fmt.Sprintf("%X", out)}
	})
}

// result prints what show returns (text, or the JSON value with --json),
// or turns an error of package emv (whose texts hold no key or card
// data) into a usage error.
func (f *emvFlags) result(e *env, err error, show func() (text string, v any)) error {
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
	text, v := show()
	if *f.asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err = fmt.Fprint(e.stdout, text)
	return err
}

func emvDeriveMK(e *env, args []string) error {
	f := newEMVFlags(e, "derive-mk")
	f.field = "mk"
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
	f.field = "sk"
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
	if name == "arqc" {
		f.field = "cryptogram"
	}
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
	if err := f.parse(flagsFirst(args)); err != nil {
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
	return f.result(e, err, func() (string, any) {
		return emv.Format(objs), tlvJSON(objs)
	})
}

// tlvObject is a data object in the --json output of emv tlv.
type tlvObject struct {
	Tag      string      `json:"tag"`
	Name     string      `json:"name,omitempty"`
	Value    string      `json:"value"`
	Children []tlvObject `json:"children,omitempty"`
}

func tlvJSON(objs []emv.TLV) []tlvObject {
	out := make([]tlvObject, 0, len(objs))
	for _, o := range objs {
		out = append(out, tlvObject{Tag: o.Tag.String(), Name: o.Tag.Name(), Value: fmt.Sprintf("%X", o.Value), Children: tlvJSON(o.Children)})
	}
	return out
}

// flagsFirst moves the flags of a command that takes positional arguments
// before them, so that "decode tvr 8000048000 --json" works; the flags of
// such commands take no value.
func flagsFirst(args []string) []string {
	var flags, rest []string
	for i, a := range args {
		switch {
		case a == "--":
			return append(append(flags, "--"), append(rest, args[i+1:]...)...)
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
		default:
			rest = append(rest, a)
		}
	}
	return append(flags, rest...)
}

func emvKCV(e *env, args []string) error {
	f := newEMVFlags(e, "kcv")
	keyHex := f.String("key", "", "the key: tdes 8, 16 or 24 bytes; aes 16, 24 or 32; sm4 16")
	algName := f.String("alg", "tdes", "tdes, aes or sm4")
	methodName := f.String("method", "", "zeros (encrypt a zero block) or cmac (CMAC of a zero block); default cmac for aes, zeros otherwise")
	n := f.Int("len", 3, "bytes of the check value to print (1 to the block size)")
	var kcv []byte
	var c emv.BlockCipher
	var m emv.KCVMethod
	err := func() error {
		if err := f.parse(args); err != nil {
			return err
		}
		var err error
		if c, err = emv.ParseBlockCipher(*algName); err != nil {
			return usage("emv kcv: --alg must be tdes, aes or sm4")
		}
		switch strings.ToLower(*methodName) {
		case "":
			m = emv.DefaultKCVMethod(c)
		case "zeros", "encrypt", "legacy":
			m = emv.KCVEncryptZeros
		case "cmac":
			m = emv.KCVCMAC
		default:
			return usage("emv kcv: --method must be zeros or cmac")
		}
		key, err := f.hexArg("key", *keyHex, 0, true)
		if err != nil {
			return err
		}
		kcv, err = emv.KeyCheckValue(c, key, m, *n)
		return err
	}()
	return f.result(e, err, func() (string, any) {
		return fmt.Sprintf("%X\n", kcv), map[string]any{"kcv": fmt.Sprintf("%X", kcv), "alg": c.String(), "method": m.String(), "length": len(kcv)}
	})
}

// emvCVV is cvv, icvv and dcvv; args[0] names which for icvv and dcvv.
func emvCVV(e *env, args []string) error {
	kind := "cvv"
	if len(args) > 0 && (args[0] == "icvv" || args[0] == "dcvv") {
		kind, args = args[0], args[1:]
	}
	f := newEMVFlags(e, kind)
	keyHex := f.String("cvk", "", "CVK A || CVK B, 32 hex digits (dcvv: the card's dCVV key)")
	pan := f.String("pan", "", "primary account number, 1 to 19 digits")
	expiry := f.String("expiry", "", "expiry date as on the track, YYMM")
	defaultSC := map[string]string{"cvv": "", "icvv": emv.ICVVServiceCode, "dcvv": "000"}[kind]
	sc := f.String("service-code", defaultSC, "service code, 3 digits (cvv: the track's, 000 for CVV2; icvv: 999; dcvv: 000)")
	atcHex := f.String("atc", "", "application transaction counter, 4 hex digits (dcvv)")
	var value string
	err := func() error {
		if err := f.parse(args); err != nil {
			return err
		}
		key, err := f.hexArg("cvk", *keyHex, emv.KeySize, true)
		if err != nil {
			return err
		}
		for _, req := range []string{"pan", "expiry"} {
			if !f.set(req) {
				return usage("emv %s: --%s is required", kind, req)
			}
		}
		if kind == "cvv" && !f.set("service-code") {
			return usage("emv cvv: --service-code is required (the track's; 000 for CVV2; or use emv icvv)")
		}
		if kind != "dcvv" {
			if f.set("atc") {
				return usage("emv %s: --atc is for dcvv", kind)
			}
			value, err = emv.CVV(key, *pan, *expiry, *sc)
			return err
		}
		atc, err := f.hexArg("atc", *atcHex, 2, true)
		if err != nil {
			return err
		}
		value, err = emv.DCVV(key, *pan, atc, *expiry, *sc)
		return err
	}()
	return f.result(e, err, func() (string, any) {
		return value + "\n", map[string]string{kind: value, "service_code": *sc}
	})
}

// pinBlockJSON is the --json output of emv pinblock.
type pinBlockJSON struct {
	Format     int    `json:"format"`
	PIN        string `json:"pin,omitempty"`
	ClearBlock string `json:"clear_block,omitempty"`
	PINField   string `json:"pin_field,omitempty"`
	PANField   string `json:"pan_field,omitempty"`
	A          string `json:"aes_pin_field,omitempty"`
	B          string `json:"xor_pan_field,omitempty"`
	Block      string `json:"block,omitempty"`
}

// text is the plain output: the block (or the PIN), and with steps every
// intermediate value on its own line.
func (p pinBlockJSON) text(decode, steps bool) string {
	var sb strings.Builder
	if steps {
		for _, l := range [][2]string{
			{"clear PIN block", p.ClearBlock}, {"PIN field", p.PINField}, {"PAN field", p.PANField},
			{"A = AES(K)[PIN field]", p.A}, {"B = A xor PAN field", p.B}, {"block = AES(K)[B]", p.Block},
		} {
			if l[1] != "" {
				fmt.Fprintf(&sb, "%-22s %s\n", l[0], l[1])
			}
		}
		if p.PIN != "" {
			fmt.Fprintf(&sb, "%-22s %s\n", "PIN", p.PIN)
		}
		return sb.String()
	}
	if decode {
		return p.PIN + "\n"
	}
	if p.Block != "" {
		return p.Block + "\n"
	}
	return p.ClearBlock + "\n"
}

func emvPINBlock(e *env, args []string) error {
	if len(args) == 0 || (args[0] != "encode" && args[0] != "decode") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(e.stdout, emvHelp)
			return nil
		}
		return usage("emv pinblock: want encode or decode")
	}
	decode := args[0] == "decode"
	f := newEMVFlags(e, "pinblock "+args[0])
	format := f.Int("format", 0, "ISO 9564-1 format: 0, 1, 3 (8 bytes, TDES) or 4 (16 bytes, AES)")
	pin := f.String("pin", "", "the PIN, 4 to 12 digits (encode)")
	pan := f.String("pan", "", "the PAN with its check digit (formats 0 and 3: 13 to 19 digits; 4: 1 to 19)")
	blockHex := f.String("block", "", "the PIN block (decode): clear, or enciphered when --key is given")
	keyHex := f.String("key", "", "PIN encryption key: TDES (8, 16 or 24 bytes) for formats 0, 1, 3; AES (16, 24 or 32) for format 4")
	steps := f.Bool("steps", false, "print the intermediate values too")
	var out pinBlockJSON
	err := func() error {
		if err := f.parse(args[1:]); err != nil {
			return err
		}
		pf := emv.PINFormat(*format)
		switch pf {
		case emv.PINFormat0, emv.PINFormat1, emv.PINFormat3, emv.PINFormat4:
		default:
			return usage("emv pinblock: --format must be 0, 1, 3 or 4")
		}
		out.Format = *format
		if pf != emv.PINFormat1 && !f.set("pan") {
			return usage("emv pinblock: --pan is required for format %d", *format)
		}
		key, err := f.hexArg("key", *keyHex, 0, pf == emv.PINFormat4)
		if err != nil {
			return err
		}
		if decode {
			return pinBlockDecode(f, pf, key, *blockHex, *pan, &out)
		}
		if !f.set("pin") {
			return usage("emv pinblock: --pin is required")
		}
		return pinBlockEncode(pf, key, *pin, *pan, &out)
	}()
	return f.result(e, err, func() (string, any) { return out.text(decode, *steps), out })
}

func pinBlockEncode(pf emv.PINFormat, key []byte, pin, pan string, out *pinBlockJSON) error {
	if pf == emv.PINFormat4 {
		s, err := emv.EncipherPIN4(key, pin, pan, rand.Reader)
		out.setSteps(s)
		return err
	}
	plain, err := emv.PINBlock(pf, pin, pan, rand.Reader)
	if err != nil {
		return err
	}
	out.ClearBlock = fmt.Sprintf("%X", plain)
	if key == nil {
		return nil
	}
	b, err := emv.CipherTDES.NewBlock(key)
	if err != nil {
		return err
	}
	b.Encrypt(plain, plain)
	out.Block = fmt.Sprintf("%X", plain)
	return nil
}

func pinBlockDecode(f *emvFlags, pf emv.PINFormat, key []byte, blockHex, pan string, out *pinBlockJSON) error {
	size := 8
	if pf == emv.PINFormat4 {
		size = 16
	}
	block, err := f.hexArg("block", blockHex, size, true)
	if err != nil {
		return err
	}
	if pf == emv.PINFormat4 {
		pin, s, err := emv.DecipherPIN4(key, block, pan)
		out.setSteps(s)
		out.PIN = pin
		return err
	}
	if key != nil {
		b, err := emv.CipherTDES.NewBlock(key)
		if err != nil {
			return err
		}
		out.Block = fmt.Sprintf("%X", block)
		b.Decrypt(block, block)
	}
	out.ClearBlock = fmt.Sprintf("%X", block)
	out.PIN, err = emv.DecodePINBlock(pf, block, pan)
	return err
}

func (p *pinBlockJSON) setSteps(s emv.PIN4Steps) {
	p.PINField, p.PANField, p.A, p.B, p.Block = hexOf(s.PINField), hexOf(s.PANField), hexOf(s.A), hexOf(s.B), hexOf(s.Block)
}

func hexOf(b []byte) string {
	if b == nil {
		return ""
	}
	return fmt.Sprintf("%X", b)
}

func emvDecode(e *env, args []string) error {
	f := newEMVFlags(e, "decode")
	onlySet := f.Bool("set", false, "list only the bits that are set (and the values of multi-bit fields)")
	var d emv.Decoded
	err := func() error {
		if err := f.parse(flagsFirst(args)); err != nil {
			return err
		}
		if f.NArg() < 2 {
			return usage("emv decode: want an object (%s, or its tag) and its value in hex", strings.Join(emv.BitsObjects(), ", "))
		}
		b, err := decodeHex(strings.Join(f.Args()[1:], ""))
		if err != nil {
			return usage("emv decode: the value %v", err)
		}
		d, err = emv.DecodeBits(f.Arg(0), b)
		return err
	}()
	return f.result(e, err, func() (string, any) {
		if *onlySet {
			d.Fields = slices.DeleteFunc(d.Fields, func(b emv.BitField) bool { return !b.Set && b.Meaning == "" })
		}
		return decodedText(d), d
	})
}

// decodedText prints a decoded object: a heading, then one line per field
// with its byte, bits, value in binary and name.
func decodedText(d emv.Decoded) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %s: %s\n", d.Tag, d.Name, d.Hex)
	for _, b := range d.Fields {
		var hi, lo int
		if n, _ := fmt.Sscanf(b.Bits, "b%d-b%d", &hi, &lo); n < 2 {
			lo = hi
		}
		name := b.Name
		if b.Meaning != "" {
			name += ": " + b.Meaning
		}
		fmt.Fprintf(&sb, "byte %d %-6s %-8s %s\n", b.Byte, b.Bits, fmt.Sprintf("%0*b", hi-lo+1, b.Value), name)
	}
	return sb.String()
}
