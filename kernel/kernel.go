// Package kernel is the store terminal's contactless kernel: it runs a
// qPBOC tap with the phone over the NFC link — power on, SELECT PPSE, choose
// the application, SELECT AID, GET PROCESSING OPTIONS with the PDOL data,
// READ RECORD per the AFL — checks what the phone returned, and produces a
// [Result] with the chip data, from which [Kernel.AuthorizationRequest]
// makes the ISO 8583 0100 the card network receives. It records per tap an
// APDU [Trace], the phone's compute time, the bytes exchanged and the
// estimated over-the-air time at 106 kbit/s.
//
// A phone without a fresh fingerprint answers GET PROCESSING OPTIONS with
// 6986 ("see phone"): the outcome is [SeePhone], the terminal shows "verify
// on your phone and tap again" and [Kernel.Charge] waits for the next tap.
// 6984 means the phone has no payment key left for the card ([NeedsSync]).
//
// The kernel holds no network code: sending the request is the caller's
// business (tapwallet pos, with an isolink client).
package kernel

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/apdu"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/nfc"
	"github.com/tapwallet/tapwallet/qpboc"
)

// UnionPay application identifiers the kernel supports by default.
var (
	AIDDebit  = []byte{0xA0, 0x00, 0x00, 0x03, 0x33, 0x01, 0x01, 0x01}
	AIDCredit = []byte{0xA0, 0x00, 0x00, 0x03, 0x33, 0x01, 0x01, 0x02}
)

// PPSE is the name of the proximity payment system environment.
var PPSE = []byte("2PAY.SYS.DDF01")

// Config is a store terminal.
type Config struct {
	TerminalID   string // DE41, up to 8 characters
	MerchantID   string // DE42, up to 15 characters
	MerchantName string // DE43 name (up to 25) and tag 9F4E for the phone
	City         string // DE43 city (up to 13)
	CountryCode  string // DE43 country, 2 letters ("CN")
	MCC          string // DE18, 4 digits (5411 grocery)
	Acquirer     string // DE32, the acquiring institution id, up to 11 digits
	Country      uint16 // terminal country code, ISO 3166 numeric (156)
	// AIDs are the applications the terminal accepts (default UnionPay
	// debit and credit).
	AIDs [][]byte
	// TTQ is the terminal transaction qualifiers (default qpboc.StoreTTQ).
	TTQ []byte
	// Capabilities is 9F33 (default E0 08 C8: manual, magstripe and chip
	// input; no CVM needed at the terminal; enciphered PIN online,
	// signature, no CVM; SDA, DDA, CDA).
	Capabilities []byte
	// Now is the terminal's clock (default time.Now, in the terminal's
	// location: it makes 9A and DE12/13).
	Now func() time.Time
	// UN returns the 4-byte unpredictable number (default crypto/rand).
	UN func() []byte
}

// DefaultConfig is a tapwallet demo store.
func DefaultConfig() Config {
	return Config{TerminalID: "T0000001", MerchantID: "898310054110001", MerchantName: "TAPWALLET MART",
		City: "SHANGHAI", CountryCode: "CN", MCC: "5411", Acquirer: "48021000", Country: 156}
}

func (c Config) withDefaults() Config {
	if len(c.AIDs) == 0 {
		c.AIDs = [][]byte{AIDDebit, AIDCredit}
	}
	if len(c.TTQ) != 4 {
		c.TTQ = qpboc.StoreTTQ()
	}
	if len(c.Capabilities) != 3 {
		c.Capabilities = []byte{0xE0, 0x08, 0xC8}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.UN == nil {
		c.UN = func() []byte {
			b := make([]byte, 4)
			_, _ = rand.Read(b)
			return b
		}
	}
	if c.Country == 0 {
		c.Country = 156
	}
	return c
}

// Kernel is a terminal's contactless kernel. It is safe for concurrent
// use (one tap per nfc.Reader).
type Kernel struct {
	cfg  Config
	stan *iso8583.STANCounter
}

// New returns a kernel for the terminal cfg. It fails with fault.Invalid if
// a merchant field does not fit its ISO 8583 element.
func New(cfg Config) (*Kernel, error) {
	cfg = cfg.withDefaults()
	for _, f := range []struct {
		name, v string
		max     int
		digits  bool
	}{
		{"terminal id", cfg.TerminalID, 8, false}, {"merchant id", cfg.MerchantID, 15, false},
		{"merchant name", cfg.MerchantName, 25, false}, {"city", cfg.City, 13, false},
		{"country code", cfg.CountryCode, 2, false}, {"MCC", cfg.MCC, 4, true}, {"acquirer", cfg.Acquirer, 11, true},
	} {
		if f.v == "" || len(f.v) > f.max || !printable(f.v) || (f.digits && strings.Trim(f.v, "0123456789") != "") {
			return nil, fault.E(fault.Invalid, "bad_terminal", "the terminal's %s must be 1 to %d %s", f.name, f.max, map[bool]string{true: "digits", false: "printable ASCII characters"}[f.digits])
		}
	}
	if len(cfg.MCC) != 4 {
		return nil, fault.E(fault.Invalid, "bad_terminal", "the MCC must be 4 digits")
	}
	return &Kernel{cfg: cfg, stan: iso8583.NewSTANCounter(0)}, nil
}

// Config returns the terminal's configuration, with defaults filled in.
func (k *Kernel) Config() Config { return k.cfg }

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return false
		}
	}
	return true
}

// Transaction is what the terminal asks the card to pay.
type Transaction struct {
	Amount money.Amount // minor units and currency
	Type   byte         // 9C: 00 purchase (the default)
}

// Outcome is how a tap ended.
type Outcome int

const (
	// Online: the phone made an ARQC; send the authorization request.
	Online Outcome = iota + 1
	// SeePhone: the phone wants a fingerprint first (6986); tap again.
	SeePhone
	// NeedsSync: the phone has no payment key left for the card (6984).
	NeedsSync
	// Declined: the card declined (AAC) or did not verify its holder.
	Declined
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case Online:
		return "online"
	case SeePhone:
		return "see phone"
	case NeedsSync:
		return "needs sync"
	case Declined:
		return "declined"
	}
	return "unknown"
}

// Messages the terminal shows for the outcomes.
const (
	MessageOnline    = "processing: asking the bank"
	MessageSeePhone  = "verify on your phone and tap again"
	MessageNeedsSync = "card needs a sync: open the wallet app online and tap again"
	MessageDeclined  = "declined by the card"
)

// Result is one tap: its outcome, what the card returned, the chip data
// for DE55, the trace and the timing. It prints no card number: Token is a
// card.Token (masked when printed) and the track-2 data is unexported.
type Result struct {
	Outcome Outcome
	Message string // what the terminal shows
	Reason  string // why a Declined tap was declined
	Amount  money.Amount
	Time    time.Time // the terminal's time of the tap
	AID     []byte
	Label   string // the application label of the chosen application
	Token   card.Token
	Expiry  card.Expiry
	PSN     string // two digits
	ATC     int
	// Chip is the chip data for DE55, by tag (see docs/iso8583.md).
	Chip  map[emv.Tag][]byte
	Trace Trace
	Stats Stats
	// Answer is what the terminal told the phone after the tap (see
	// Kernel.Tell): the bank's answer, "could not go online", a decline
	// by the terminal or its error; nil if it told nothing.
	Answer *qpboc.Outcome

	track2 string // digits, 'D' separator
}

// Track2 returns the track-2 equivalent data as ISO 8583 DE35 carries it
// (digits with the D separator, no F padding); it holds the token number,
// so do not log it.
func (r *Result) Track2() string { return r.track2 }

// Stats are the costs of one tap.
type Stats struct {
	APDUs    int           // command/response exchanges
	Sent     int           // command APDU bytes
	Received int           // response APDU bytes
	Compute  time.Duration // sum over exchanges of command sent → answer received
	Air      time.Duration // estimated ISO 14443 air time at 106 kbit/s (nfc.AirTime)
}

// Bytes returns the bytes exchanged both ways.
func (s Stats) Bytes() int { return s.Sent + s.Received }

// Errors of a tap that did not give an outcome (wrapped in fault errors).
var (
	// ErrNoApplication: the phone offers no application the terminal accepts.
	ErrNoApplication = errors.New("kernel: no supported application")
	// ErrCardAnswer: the phone's answer is malformed or misses data.
	ErrCardAnswer = errors.New("kernel: bad card answer")
)

func cardError(format string, args ...any) error {
	return fault.Wrap(ErrCardAnswer, fault.Invalid, "card_answer", format, args...)
}

// tap is one run's state.
type tap struct {
	k   *Kernel
	r   *nfc.Reader
	res *Result
}

// exchange sends a command and returns its answer; a 6CXX (wrong Le) is
// answered by sending the command again with Le = XX, and 61XX (more
// bytes) by GET RESPONSE, as a T=0 card asks, up to a few times.
func (t *tap) exchange(ctx context.Context, name string, cmd apdu.Command) (apdu.Response, error) {
	resp, err := t.exchange1(ctx, name, cmd)
	var data []byte
	for i := 0; err == nil && i < 8; i++ {
		switch resp.SW.SW1() {
		case 0x6C:
			cmd.Ne = int(resp.SW.SW2())
			if cmd.Ne == 0 {
				cmd.Ne = apdu.MaxShortNe
			}
			resp, err = t.exchange1(ctx, name, cmd)
			continue
		case 0x61:
			data = append(data, resp.Data...)
			n := int(resp.SW.SW2())
			if n == 0 {
				n = apdu.MaxShortNe
			}
			resp, err = t.exchange1(ctx, "GET RESPONSE", apdu.GetResponse(n))
			continue
		}
		break
	}
	if err == nil && data != nil {
		resp.Data = append(data, resp.Data...)
	}
	return resp, err
}

func (t *tap) exchange1(ctx context.Context, name string, cmd apdu.Command) (apdu.Response, error) {
	b, err := cmd.Marshal()
	if err != nil {
		return apdu.Response{}, fault.Wrap(err, fault.Internal, "kernel", "encode %s", name)
	}
	ex, err := t.r.Exchange(ctx, b)
	if err != nil {
		return apdu.Response{}, fault.Wrap(err, fault.Unavailable, "nfc_link", "the tap was interrupted during %s", name)
	}
	resp, err := apdu.ParseResponse(ex.Response)
	if err != nil {
		return apdu.Response{}, cardError("the answer to %s is not a response APDU", name)
	}
	t.res.Trace = append(t.res.Trace, Step{Name: name, Command: ex.Command, Response: ex.Response, Elapsed: ex.Elapsed, Air: ex.AirTime})
	s := &t.res.Stats
	s.APDUs++
	s.Sent += ex.Sent
	s.Received += ex.Received
	s.Compute += ex.Elapsed
	s.Air += ex.AirTime
	return resp, nil
}

// Run runs one tap on a link to a phone: power on, the ATR, the qPBOC
// flow and the checks. It returns a Result whose Outcome says what to do
// next, or an error: fault.Unavailable "nfc_link" if the link fails,
// fault.NotFound "no_application" (wrapping ErrNoApplication) if the phone
// offers nothing the terminal accepts, fault.Invalid "card_answer"
// (wrapping ErrCardAnswer) if an answer is malformed or fails a check. The
// Result, with its trace so far, is returned with the errors too.
func (k *Kernel) Run(ctx context.Context, r *nfc.Reader, tx Transaction) (*Result, error) {
	if tx.Amount.Currency == 0 || tx.Amount.Minor < 0 || tx.Amount.Minor > 999999999999 {
		return nil, fault.E(fault.Invalid, "bad_amount", "the amount must be 0 to 999999999999 minor units of a currency")
	}
	res := &Result{Amount: tx.Amount, Time: k.cfg.Now()}
	t := &tap{k: k, r: r, res: res}
	if err := r.PowerOn(ctx); err != nil {
		return res, fault.Wrap(err, fault.Unavailable, "nfc_link", "the phone left before power on")
	}
	if _, err := r.ATR(ctx); err != nil {
		return res, fault.Wrap(err, fault.Unavailable, "nfc_link", "the phone gave no answer to reset")
	}
	err := t.run(ctx, tx)
	return res, err
}

func (t *tap) run(ctx context.Context, tx Transaction) error {
	cfg, res := t.k.cfg, t.res
	// SELECT PPSE and choose the application.
	resp, err := t.exchange(ctx, "SELECT PPSE", apdu.Select(PPSE))
	if err != nil {
		return err
	}
	if resp.SW != apdu.SWSuccess {
		return fault.Wrap(ErrNoApplication, fault.NotFound, "no_application", "the phone has no payment application (%04X)", uint16(resp.SW))
	}
	entries, err := ParsePPSE(resp.Data)
	if err != nil {
		return err
	}
	chosen, ok := choose(entries, cfg.AIDs)
	if !ok {
		return fault.Wrap(ErrNoApplication, fault.NotFound, "no_application", "the phone offers no UnionPay application this terminal accepts")
	}
	res.AID, res.Label = chosen.AID, chosen.Label

	// SELECT AID.
	resp, err = t.exchange(ctx, "SELECT AID", apdu.Select(chosen.AID))
	if err != nil {
		return err
	}
	if resp.SW != apdu.SWSuccess {
		return cardError("the phone refused to select the application it listed (%04X)", uint16(resp.SW))
	}
	fci, err := ParseFCI(resp.Data)
	if err != nil {
		return err
	}
	if !bytes.Equal(fci.DFName, chosen.AID) {
		return cardError("the phone selected another application than asked")
	}
	if fci.Label != "" {
		res.Label = fci.Label
	}

	// GET PROCESSING OPTIONS.
	un := cfg.UN()
	if len(un) != 4 {
		return fault.E(fault.Internal, "kernel", "the unpredictable number must be 4 bytes")
	}
	term := map[emv.Tag][]byte{
		qpboc.TagTTQ:                cfg.TTQ,
		qpboc.TagAmount:             bcd(tx.Amount.Minor, 6),
		qpboc.TagAmountOther:        bcd(0, 6),
		qpboc.TagCountry:            bcd(int64(cfg.Country), 2),
		qpboc.TagTVR:                make([]byte, 5),
		qpboc.TagCurrency:           bcd(int64(tx.Amount.Currency), 2),
		qpboc.TagDate:               bcdDate(res.Time),
		qpboc.TagType:               {tx.Type},
		qpboc.TagUN:                 un,
		qpboc.TagTerminalCaps:       cfg.Capabilities,
		emv.TagMerchantNameLocation: []byte(cfg.MerchantName),
	}
	resp, err = t.exchange(ctx, "GET PROCESSING OPTIONS", apdu.GetProcessingOptions(fci.PDOL.Build(term)))
	if err != nil {
		return err
	}
	switch resp.SW {
	case apdu.SWSuccess:
	case apdu.SWNoCurrentEF: // 6986: see phone
		res.Outcome, res.Message = SeePhone, MessageSeePhone
		return nil
	case apdu.SWReferenceDataNotUsable: // 6984: no key left
		res.Outcome, res.Message = NeedsSync, MessageNeedsSync
		return nil
	default:
		return cardError("the phone refused GET PROCESSING OPTIONS (%04X)", uint16(resp.SW))
	}
	gpo, err := ParseGPO(resp.Data)
	if err != nil {
		return err
	}
	for _, tag := range []emv.Tag{qpboc.TagAIP, qpboc.TagAFL, qpboc.TagATC, qpboc.TagCryptogram, qpboc.TagCID, qpboc.TagIAD, qpboc.TagCTQ} {
		if len(gpo[tag]) == 0 {
			return cardError("the GPO answer lacks %s (%s)", tag, tag.Name())
		}
	}
	if len(gpo[qpboc.TagATC]) != 2 || len(gpo[qpboc.TagCryptogram]) != 8 || len(gpo[qpboc.TagCID]) != 1 ||
		len(gpo[qpboc.TagCTQ]) != 2 || len(gpo[qpboc.TagAIP]) != 2 {
		return cardError("the GPO answer has a data object of the wrong length")
	}
	if _, err := qpboc.ParseIAD(gpo[qpboc.TagIAD]); err != nil {
		return cardError("the issuer application data does not parse")
	}
	res.ATC = int(gpo[qpboc.TagATC][0])<<8 | int(gpo[qpboc.TagATC][1])

	// READ RECORD per the AFL.
	afl := gpo[qpboc.TagAFL]
	if len(afl) == 0 || len(afl)%4 != 0 {
		return cardError("the AFL is not a list of 4-byte entries")
	}
	rec := map[emv.Tag][]byte{}
	for i := 0; i < len(afl); i += 4 {
		sfi, first, last := afl[i]>>3, afl[i+1], afl[i+2]
		if sfi < 1 || sfi > 30 || first == 0 || last < first {
			return cardError("the AFL has a bad entry")
		}
		for n := first; n <= last; n++ {
			resp, err := t.exchange(ctx, fmt.Sprintf("READ RECORD %d/%d", sfi, n), apdu.ReadRecord(sfi, n))
			if err != nil {
				return err
			}
			if resp.SW != apdu.SWSuccess {
				return cardError("the phone refused READ RECORD (%04X)", uint16(resp.SW))
			}
			vals, err := ParseRecord(resp.Data)
			if err != nil {
				return err
			}
			for tag, v := range vals {
				rec[tag] = v
			}
		}
	}
	if err := t.checkRecords(rec); err != nil {
		return err
	}

	// Outcome from the card's decision and verification.
	cid := gpo[qpboc.TagCID][0] & 0xC0
	ctq := gpo[qpboc.TagCTQ]
	switch {
	case cid == qpboc.CIDAAC:
		res.Outcome, res.Message, res.Reason = Declined, MessageDeclined, "the card declined (AAC)"
	case cid != qpboc.CIDARQC:
		return cardError("the card did not ask to go online (CID %02X); this terminal only goes online", gpo[qpboc.TagCID][0])
	case ctq[1]&qpboc.CTQCDCVM == 0:
		res.Outcome, res.Message, res.Reason = Declined, MessageDeclined, "the card holder was not verified on the phone"
	default:
		res.Outcome, res.Message = Online, MessageOnline
	}

	// DE55.
	res.Chip = map[emv.Tag][]byte{
		qpboc.TagCryptogram: gpo[qpboc.TagCryptogram], qpboc.TagCID: gpo[qpboc.TagCID], qpboc.TagIAD: gpo[qpboc.TagIAD],
		qpboc.TagUN: un, qpboc.TagATC: gpo[qpboc.TagATC], qpboc.TagTVR: term[qpboc.TagTVR],
		qpboc.TagDate: term[qpboc.TagDate], qpboc.TagType: term[qpboc.TagType], qpboc.TagAmount: term[qpboc.TagAmount],
		qpboc.TagAmountOther: term[qpboc.TagAmountOther], qpboc.TagCurrency: term[qpboc.TagCurrency],
		qpboc.TagAIP: gpo[qpboc.TagAIP], qpboc.TagCountry: term[qpboc.TagCountry], qpboc.TagTerminalCaps: cfg.Capabilities,
		qpboc.TagCVMResults: cvmResults(ctq), qpboc.TagCTQ: ctq, qpboc.TagTTQ: cfg.TTQ, qpboc.TagDFName: res.AID,
	}
	return nil
}

// cvmResults is 9F34: 1F 00 02 ("no CVM required" at the terminal,
// successful) when the phone verified its holder, 3F 00 01 (no CVM
// performed, failed) otherwise. The fingerprint itself is in the CTQ and
// the CVR.
func cvmResults(ctq []byte) []byte {
	if ctq[1]&qpboc.CTQCDCVM != 0 {
		return []byte{0x1F, 0x00, 0x02}
	}
	return []byte{0x3F, 0x00, 0x01}
}

// checkRecords checks the records: track 2 present and well formed, the
// token in 5A (if present) equal to the one in track 2, the expiry present,
// equal to track 2's and not passed.
func (t *tap) checkRecords(rec map[emv.Tag][]byte) error {
	res := t.res
	t2, ok := rec[qpboc.TagTrack2]
	if !ok {
		return cardError("the records lack the track-2 equivalent data (57)")
	}
	track, pan, yymm, err := ParseTrack2(t2)
	if err != nil {
		return err
	}
	if v, ok := rec[0x5A]; ok {
		if digitsOf(v) != pan {
			return cardError("the token in 5A differs from the one in track 2")
		}
	}
	tok, err := card.ParseToken(pan)
	if err != nil {
		return cardError("the card number in track 2 is not a valid token number")
	}
	exp5F24, ok := rec[qpboc.TagExpiry]
	if !ok || len(exp5F24) != 3 {
		return cardError("the records lack the expiry date (5F24)")
	}
	e := digitsOf(exp5F24)
	if len(e) != 6 || e[:4] != yymm {
		return cardError("the expiry date in 5F24 differs from the one in track 2")
	}
	exp, err := card.ParseExpiry(e[2:4] + e[:2])
	if err != nil {
		return cardError("the expiry date is not a valid YYMMDD")
	}
	if exp.Expired(res.Time) {
		return fault.Wrap(ErrCardAnswer, fault.Declined, "card_expired", "the card has expired")
	}
	res.Token, res.Expiry, res.track2 = tok, exp, track
	res.PSN = "00"
	if v, ok := rec[qpboc.TagPSN]; ok {
		if len(v) != 1 || v[0]>>4 > 9 || v[0]&0x0F > 9 {
			return cardError("the PAN sequence number is not 2 digits")
		}
		res.PSN = digitsOf(v)
	}
	return nil
}

// bcd packs n into size bytes of BCD, left-padded with zeros.
func bcd(n int64, size int) []byte {
	out := make([]byte, size)
	for i := size - 1; i >= 0 && n > 0; i-- {
		out[i] = byte(n%10) | byte(n/10%10)<<4
		n /= 100
	}
	return out
}

func bcdDate(t time.Time) []byte {
	return []byte{bcd(int64(t.Year()%100), 1)[0], bcd(int64(t.Month()), 1)[0], bcd(int64(t.Day()), 1)[0]}
}

// digitsOf unpacks BCD nibbles to characters: 0-9, D for the track-2
// separator; it stops at the first F (padding).
func digitsOf(b []byte) string {
	var sb strings.Builder
	for _, x := range b {
		for _, n := range []byte{x >> 4, x & 0x0F} {
			switch {
			case n <= 9:
				sb.WriteByte('0' + n)
			case n == 0x0D:
				sb.WriteByte('D')
			case n == 0x0F:
				return sb.String()
			default:
				sb.WriteByte('?')
			}
		}
	}
	return sb.String()
}

// Entry is one application in the PPSE directory.
type Entry struct {
	AID      []byte
	Label    string
	Priority int // 1 highest; 0 when absent (after the others)
}

// choose returns the supported entry with the best priority (first
// listed among equals).
func choose(entries []Entry, supported [][]byte) (Entry, bool) {
	best, found := Entry{}, false
	rank := func(p int) int {
		if p == 0 {
			return 16
		}
		return p
	}
	for _, e := range entries {
		ok := false
		for _, s := range supported {
			if bytes.Equal(e.AID, s) {
				ok = true
			}
		}
		if ok && (!found || rank(e.Priority) < rank(best.Priority)) {
			best, found = e, true
		}
	}
	return best, found
}

// ParsePPSE reads the PPSE FCI (6F with 84 and A5 / BF0C / 61 entries). It
// fails with fault.Invalid "card_answer" if the FCI is malformed or lists
// no application.
func ParsePPSE(data []byte) ([]Entry, error) {
	objs, err := emv.Decode(data)
	if err != nil || len(objs) != 1 || objs[0].Tag != 0x6F {
		return nil, cardError("the PPSE answer is not an FCI template")
	}
	dir, ok := emv.Find(objs, emv.TagFCIIssuerDiscretion)
	if !ok {
		return nil, cardError("the PPSE answer has no directory (BF0C)")
	}
	var out []Entry
	for _, o := range dir.Children {
		if o.Tag != 0x61 {
			continue
		}
		var e Entry
		for _, c := range o.Children {
			switch c.Tag {
			case emv.TagAID:
				e.AID = c.Value
			case 0x50:
				e.Label = cleanLabel(c.Value)
			case emv.TagPriority:
				if len(c.Value) == 1 {
					e.Priority = int(c.Value[0] & 0x0F)
				}
			}
		}
		if len(e.AID) >= 5 && len(e.AID) <= 16 {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, cardError("the PPSE lists no application")
	}
	return out, nil
}

func cleanLabel(b []byte) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7E {
			return -1
		}
		return r
	}, string(b)))
}

// FCI is what SELECT AID returned.
type FCI struct {
	DFName []byte
	Label  string
	PDOL   emv.DOL
}

// ParseFCI reads an application's FCI (6F with 84 and A5). It fails with
// fault.Invalid "card_answer" if it is malformed or its PDOL does not
// parse.
func ParseFCI(data []byte) (FCI, error) {
	objs, err := emv.Decode(data)
	if err != nil || len(objs) != 1 || objs[0].Tag != 0x6F {
		return FCI{}, cardError("the SELECT answer is not an FCI template")
	}
	var f FCI
	if o, ok := emv.Find(objs, qpboc.TagDFName); ok {
		f.DFName = o.Value
	} else {
		return FCI{}, cardError("the FCI lacks the DF name (84)")
	}
	if o, ok := emv.Find(objs, 0x50); ok {
		f.Label = cleanLabel(o.Value)
	}
	if o, ok := emv.Find(objs, emv.TagPDOL); ok {
		d, err := emv.ParseDOL(o.Value)
		if err != nil {
			return FCI{}, cardError("the PDOL does not parse")
		}
		if d.Len() > 252 {
			return FCI{}, cardError("the PDOL asks for more data than a command holds")
		}
		f.PDOL = d
	}
	return f, nil
}

// ParseGPO reads the answer to GET PROCESSING OPTIONS: format 2 (77, BER-TLV
// objects) or format 1 (80: AIP then AFL). It fails with fault.Invalid
// "card_answer" if it is malformed.
func ParseGPO(data []byte) (map[emv.Tag][]byte, error) {
	objs, err := emv.Decode(data)
	if err != nil || len(objs) != 1 {
		return nil, cardError("the GPO answer is not one template")
	}
	out := map[emv.Tag][]byte{}
	switch objs[0].Tag {
	case 0x80:
		v := objs[0].Value
		if len(v) < 6 || (len(v)-2)%4 != 0 {
			return nil, cardError("the format 1 GPO answer is malformed")
		}
		out[qpboc.TagAIP], out[qpboc.TagAFL] = v[:2], v[2:]
	case 0x77:
		for _, o := range objs[0].Children {
			if o.Children == nil && out[o.Tag] == nil {
				out[o.Tag] = o.Value
			}
		}
	default:
		return nil, cardError("the GPO answer is neither format 1 (80) nor format 2 (77)")
	}
	return out, nil
}

// ParseRecord reads a record (70 template) into its primitive objects. It
// fails with fault.Invalid "card_answer" if it is malformed.
func ParseRecord(data []byte) (map[emv.Tag][]byte, error) {
	objs, err := emv.Decode(data)
	if err != nil || len(objs) != 1 || objs[0].Tag != 0x70 {
		return nil, cardError("the record is not a 70 template")
	}
	out := map[emv.Tag][]byte{}
	for _, o := range objs[0].Children {
		if o.Children == nil && out[o.Tag] == nil {
			out[o.Tag] = o.Value
		}
	}
	return out, nil
}

// ParseTrack2 reads tag 57: the card number (12 to 19 digits), D, YYMM,
// a 3-digit service code and discretionary digits, F-padded. It returns
// the data as DE35 carries it, the number and YYMM. It fails with
// fault.Invalid "card_answer" if the layout is wrong.
func ParseTrack2(b []byte) (track, pan, yymm string, err error) {
	s := digitsOf(b)
	i := strings.IndexByte(s, 'D')
	if len(b) > 19 || i < 12 || i > 19 || len(s) < i+8 || strings.ContainsAny(s, "?") || strings.Count(s, "D") != 1 {
		return "", "", "", cardError("the track-2 equivalent data is malformed")
	}
	// Only trailing padding may follow the digits.
	if rest := strings.ToUpper(fmt.Sprintf("%X", b))[len(s):]; strings.Trim(rest, "F") != "" {
		return "", "", "", cardError("the track-2 equivalent data is malformed")
	}
	return s, s[:i], s[i+1 : i+5], nil
}
