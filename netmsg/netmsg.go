// Package netmsg is the card network's messages as typed values: an ISO
// 8583 message (package iso8583) is decoded once, at the door of the party
// that receives it, into an Authorization, a Reversal, a Refund or a
// NetworkManagement, with the card number as a card.Token (at the network)
// or a card.PAN (at an issuer), the amount as a money.Amount, the STAN as an
// iso8583.STAN and the chip data as decoded BER-TLV. Mux is the one MTI
// dispatcher of the switch and of the issuer hosts: it decodes, answers 30
// what does not decode, 40 what nobody handles, and hands the typed value to
// the party's handler.
package netmsg

import (
	"context"
	"log/slog"
	"strconv"
	"sync"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/money"
)

// Side is who decodes a message: the same element means another thing at
// the network (DE2 a token number) than at an issuer (DE2 the PAN, the
// token in DE123).
type Side int

// The sides of the network.
const (
	Network Side = iota // the switch, facing acquirers
	Issuer              // a bank's host, facing the switch
)

// Header is what every request carries: its type, its identity (terminal,
// STAN, transmission time) and the acquirer's references. Elements that
// are absent are empty.
type Header struct {
	MTI          iso8583.MTI
	STAN         iso8583.STAN
	Transmission string // DE7, MMDDhhmmss UTC
	LocalTime    string // DE12, hhmmss
	LocalDate    string // DE13, MMDD
	Acquirer     string // DE32
	RRN          string // DE37
	Terminal     string // DE41
	Merchant     string // DE42
	// Raw is the message as received, to answer it (Answer) and to
	// forward it; it is never changed.
	Raw *iso8583.Message
	// stan is DE11 as received when it reads as a STAN: its six digits
	// are the STAN's String, already in hand.
	stan string
}

// STANText returns the STAN as six digits (STAN.String), without making
// the string again for a request that carried it.
func (h Header) STANText() string {
	if h.stan != "" {
		return h.stan
	}
	return h.STAN.String()
}

// ID returns the message identity at the network: DE41|DE11|DE7.
func (h Header) ID() string { return ID(h.Terminal, h.STANText(), h.Transmission) }

// ID is the message identity of a request at the network: terminal
// (DE41), STAN (DE11) and transmission time (DE7).
func ID(terminal, stan, transmission string) string {
	return terminal + "|" + stan + "|" + transmission
}

// Card is the card a request names. At the network DE2 is a token number
// (Token); at an issuer DE2 is the PAN (PAN) and the token comes from
// DE123. A number that does not parse (wrong length, Luhn) leaves the
// field zero: the party answers it 14, not 30.
type Card struct {
	Token card.Token
	PAN   card.PAN
	// TokenData is DE123 as read at an issuer (zero at the network or
	// when absent).
	TokenData iso8583.TokenData
}

// Authorization is an 0100/0101: may this card pay this amount here?
type Authorization struct {
	Header
	Card
	ProcessingCode string       // DE3; a purchase is 000000
	Amount         money.Amount // DE4 and DE49; zero when either does not read
	MCC            string       // DE18
	POSEntryMode   string       // DE22; 07x is contactless chip
	MerchantName   string       // DE43, as sent (name 25, city 13, country 2)
	// Chip is DE55 decoded (nil when absent, and at an issuer, which
	// reads DE55's tags from Raw if it ever needs them); ChipErr is why it
	// did not decode (fault.Invalid "chip_data"), at either side,
	// recorded and answered 30 by the party once the message is routed.
	// The values are DE55's bytes in Raw: read them, never write to them.
	// Through Mux.Handle the map (as the Authorization) is the handler's
	// only while it runs.
	Chip    Chip
	ChipErr error
}

// Contactless reports whether the card was read contactless (DE22 07x).
func (a *Authorization) Contactless() bool {
	return len(a.POSEntryMode) >= 2 && a.POSEntryMode[:2] == "07"
}

// Original is the original authorization a reversal or a refund names
// (DE90): its STAN and transmission time, with the request's terminal.
type Original struct {
	STAN         string
	Transmission string
}

// Reversal is an 0400/0401: undo (all or part of) an authorization.
type Reversal struct {
	Header
	Card
	ProcessingCode string
	Amount         money.Amount
	Original       Original
	// Partial is set when DE95 is present; Remaining is then the amount
	// that stays authorised (-1 when DE95 does not read as one).
	Partial   bool
	Remaining int64
}

// OriginalID returns the identity of the original authorization.
func (r *Reversal) OriginalID() string {
	return ID(r.Terminal, r.Original.STAN, r.Original.Transmission)
}

// Refund is an 0200/0201 with processing code 200000: money given back to
// the card of an approved purchase.
type Refund struct {
	Header
	Card
	ProcessingCode string
	Amount         money.Amount
	MerchantName   string
	Original       Original
}

// OriginalID returns the identity of the original authorization.
func (r *Refund) OriginalID() string { return ID(r.Terminal, r.Original.STAN, r.Original.Transmission) }

// NetworkManagement is an 0800: sign-on, sign-off, echo (DE70).
type NetworkManagement struct {
	Header
	Code iso8583.NetworkCode
}

// Chip is DE55's primitive tags and their values.
type Chip map[emv.Tag][]byte

// ChipCode is the fault code of chip data that does not decode.
const ChipCode = "chip_data"

// chipRooms holds the room DecodeChip reads DE55's tags into before it
// maps them (a tap's DE55 holds ~15): no []TLV made an authorization.
var chipRooms = sync.Pool{New: func() any { r := make([]emv.TLV, 0, chipRoom); return &r }}

// chipRoom is the tags a room of chipRooms holds.
const chipRoom = 32

// chipMaps holds empty Chip maps: a request's tags are mapped into one
// (DecodeChip), and Mux.Handle gives it back once the handler has
// returned. Making the map was four allocations an authorization.
var chipMaps sync.Pool

// auths holds emptied Authorizations: decodeAuth fills one, and Mux.Handle
// gives it back once the handler has returned (release). Each was an
// allocation of ~450 bytes at the switch and again at the issuer host.
var auths sync.Pool

// release gives a back to auths, emptied, and its Chip back to chipMaps
// (Mux.Handle, after its handler returned); a map grown past chipRoom tags
// is left to the collector. The strings a held are not reused: a handler
// may keep those.
func (a *Authorization) release() {
	c := a.Chip
	*a = Authorization{}
	auths.Put(a)
	if c != nil && len(c) <= chipRoom {
		clear(c)
		chipMaps.Put(c)
	}
}

// DecodeChip reads DE55 into its tags, whose values are icc's bytes. It
// returns a fault.Invalid ChipCode error for BER-TLV that does not decode,
// a constructed tag, or a tag given twice.
func DecodeChip(icc []byte) (Chip, error) { return decodeChip(icc, true) }

// decodeChip is DecodeChip; without mapped it only checks icc (a nil Chip
// and the same error): the tags' map is four allocations.
func decodeChip(icc []byte, mapped bool) (Chip, error) {
	room := chipRooms.Get().(*[]emv.TLV)
	objs, err := emv.DecodeAppend((*room)[:0], icc)
	defer func() {
		// Back to the pool without the values it pointed to (objs is the
		// room, or a larger copy of it; nil when the decode failed part way).
		if objs == nil {
			clear((*room)[:cap(*room)])
		} else {
			clear(objs)
		}
		chipRooms.Put(room)
	}()
	if err != nil {
		return nil, fault.Wrap(err, fault.Invalid, ChipCode, "DE55 is not valid BER-TLV")
	}
	if err := checkTags(objs); err != nil || !mapped {
		return nil, err
	}
	out, _ := chipMaps.Get().(Chip)
	if out == nil {
		out = make(Chip, len(objs))
	}
	for _, o := range objs {
		out[o.Tag] = o.Value
	}
	return out, nil
}

// checkTags refuses a constructed tag or a tag given twice, the first in
// DE55's order. Each tag is compared with those before it: DE55's 999
// bytes hold at most 333 tags, a tap's about 18.
func checkTags(objs []emv.TLV) error {
	for i, o := range objs {
		if o.Tag.Constructed() {
			return fault.E(fault.Invalid, ChipCode, "DE55 holds a constructed tag %s", o.Tag)
		}
		for _, before := range objs[:i] {
			if before.Tag == o.Tag {
				return fault.E(fault.Invalid, ChipCode, "DE55 holds tag %s twice", o.Tag)
			}
		}
	}
	return nil
}

// MissingCode is the fault code of a request without an element its type
// needs; BadOriginalCode that of a DE90 that is not an authorization's.
const (
	MissingCode     = "missing_element"
	BadOriginalCode = "bad_original"
	UnknownCode     = "unsupported_mti"
)

// Decode reads a request as side reads it. It returns *Authorization,
// *Reversal, *Refund or *NetworkManagement. It fails with a fault.Invalid
// error wrapping iso8583.ErrFormat (ResponseCode: 30) naming the element —
// never its value — when an element the type needs is absent
// (MissingCode) or DE90 is not an original authorization's
// (BadOriginalCode), and with a fault.Invalid UnknownCode error (40) for a
// type nobody answers.
func Decode(m *iso8583.Message, side Side) (any, error) {
	switch m.MTI {
	case iso8583.AuthorizationRequest, iso8583.AuthorizationRequestRepeat:
		return decodeAuth(m, side)
	case iso8583.ReversalRequest, iso8583.ReversalRequestRepeat:
		return decodeReversal(m, side)
	case iso8583.FinancialRequest, iso8583.FinancialRequestRepeat:
		return decodeRefund(m, side)
	case iso8583.NetworkRequest:
		n := &NetworkManagement{}
		var code string
		n.read(m, field{iso8583.DENetworkCode, &code})
		n.Code = iso8583.NetworkCode(code)
		return n, nil
	}
	return nil, fault.E(fault.Invalid, UnknownCode, "netmsg: no request of type %s is answered here", safeMTI(m.MTI))
}

// ResponseCode is the answer to a Decode error: 30 for a format error, 40
// for an unsupported type, 96 for anything else.
func ResponseCode(err error) iso8583.ResponseCode {
	switch {
	case fault.Has(err, fault.Invalid, UnknownCode):
		return iso8583.FunctionNotSupported
	case fault.Has(err, fault.Invalid, iso8583.FormatErrorCode), fault.KindOf(err) == fault.Invalid:
		return iso8583.FormatError
	}
	return iso8583.SystemMalfunction
}

// The elements each request must carry at each side (docs/iso8583.md).
var (
	authAtNetwork = []int{iso8583.DEPAN, iso8583.DEProcessingCode, iso8583.DEAmount, iso8583.DETransmission, iso8583.DESTAN,
		iso8583.DELocalTime, iso8583.DELocalDate, iso8583.DEMCC, iso8583.DEPOSEntryMode, iso8583.DEPOSCondition, iso8583.DEAcquirer,
		iso8583.DERRN, iso8583.DETerminal, iso8583.DEMerchant, iso8583.DEMerchantName, iso8583.DECurrency, iso8583.DEICC}
	reversalAtNetwork = []int{iso8583.DEPAN, iso8583.DEProcessingCode, iso8583.DEAmount, iso8583.DETransmission, iso8583.DESTAN,
		iso8583.DELocalTime, iso8583.DELocalDate, iso8583.DEAcquirer, iso8583.DERRN, iso8583.DETerminal, iso8583.DEMerchant,
		iso8583.DECurrency, iso8583.DEOriginal}
	refundAtNetwork = reversalAtNetwork
	authAtIssuer    = []int{iso8583.DEPAN, iso8583.DEProcessingCode, iso8583.DEAmount, iso8583.DETransmission, iso8583.DESTAN,
		iso8583.DETerminal, iso8583.DECurrency}
	reversalAtIssuer = []int{iso8583.DEPAN, iso8583.DESTAN, iso8583.DETerminal, iso8583.DEOriginal}
	refundAtIssuer   = []int{iso8583.DEPAN, iso8583.DEProcessingCode, iso8583.DEAmount, iso8583.DETransmission, iso8583.DESTAN,
		iso8583.DETerminal, iso8583.DECurrency, iso8583.DEOriginal}
)

func need(m *iso8583.Message, des []int) error {
	for _, de := range des {
		if !m.Has(de) {
			name := "?"
			if s, ok := iso8583.SpecOf(de); ok {
				name = s.Name
			}
			return fault.Wrap(iso8583.ErrFormat, fault.Invalid, MissingCode, "netmsg: %s lacks DE%d (%s)", safeMTI(m.MTI), de, name)
		}
	}
	return nil
}

// field is an element to read as text, and where to put it.
type field struct {
	de int
	to *string
}

// maxFields is the most fields readStrings reads at once.
const maxFields = 16

// readStrings sets each field to its element's value (empty when absent),
// the strings sharing one allocation: a request's dozen short elements
// cost one string instead of a dozen.
func readStrings(m *iso8583.Message, fields []field) {
	var buf [512]byte
	var ends [maxFields]int
	b := buf[:0]
	for i, f := range fields {
		b, _ = m.Append(b, f.de)
		ends[i] = len(b)
	}
	all := string(b)
	start := 0
	for i, f := range fields {
		*f.to = all[start:ends[i]]
		start = ends[i]
	}
}

// read fills h from m, and the more fields with it (one string for all).
func (h *Header) read(m *iso8583.Message, more ...field) {
	var stan string
	fs := [maxFields]field{{iso8583.DETransmission, &h.Transmission}, {iso8583.DELocalTime, &h.LocalTime},
		{iso8583.DELocalDate, &h.LocalDate}, {iso8583.DEAcquirer, &h.Acquirer}, {iso8583.DERRN, &h.RRN},
		{iso8583.DETerminal, &h.Terminal}, {iso8583.DEMerchant, &h.Merchant}, {iso8583.DESTAN, &stan}}
	// A loop, not copy: the compiler takes copy's source as kept on the
	// heap, which moved every caller's local it points to (DE2) there.
	n := 8
	for _, f := range more {
		fs[n] = f
		n++
	}
	readStrings(m, fs[:n])
	h.MTI, h.Raw = m.MTI, m
	if s, err := iso8583.ParseSTAN(stan); err == nil {
		h.STAN, h.stan = s, stan
	}
}

// cardOf reads the card of m, whose DE2 is de2.
func cardOf(m *iso8583.Message, side Side, de2 string) Card {
	var c Card
	if side == Network {
		c.Token, _ = card.ParseToken(de2)
		return c
	}
	c.PAN, _ = card.ParsePAN(de2)
	if m.Has(iso8583.DETokenData) {
		if td, err := m.TokenData(); err == nil {
			c.TokenData = td
			c.Token, _ = card.ParseToken(td.Token)
		}
	}
	return c
}

func amountOf(m *iso8583.Message) money.Amount {
	a, err := m.Amount()
	if err != nil {
		return money.Amount{}
	}
	return a
}

func pick(side Side, network, issuer []int) []int {
	if side == Network {
		return network
	}
	return issuer
}

func decodeAuth(m *iso8583.Message, side Side) (*Authorization, error) {
	if err := need(m, pick(side, authAtNetwork, authAtIssuer)); err != nil {
		return nil, err
	}
	a, _ := auths.Get().(*Authorization)
	if a == nil {
		a = new(Authorization)
	}
	a.Amount = amountOf(m) // a is empty (release)
	var de2 string
	a.read(m, field{iso8583.DEPAN, &de2}, field{iso8583.DEProcessingCode, &a.ProcessingCode}, field{iso8583.DEMCC, &a.MCC},
		field{iso8583.DEPOSEntryMode, &a.POSEntryMode}, field{iso8583.DEMerchantName, &a.MerchantName})
	a.Card = cardOf(m, side, de2)
	if icc, ok := m.Value(iso8583.DEICC); ok {
		// The values are the message's: never written. An issuer host
		// reads no tag (the network checked the cryptogram): at an issuer
		// DE55 is checked alike but not mapped.
		a.Chip, a.ChipErr = decodeChip(icc, side == Network)
	}
	return a, nil
}

// OriginalOf reads DE90 of a reversal or a refund: the original's STAN
// and transmission time; false when DE90 is absent or not the layout of
// docs/iso8583.md for an authorization.
func OriginalOf(m *iso8583.Message) (Original, bool) {
	v, has := m.String(iso8583.DEOriginal)
	if !has || len(v) != 42 || iso8583.MTI(v[:4]).Class() != '1' {
		return Original{}, false
	}
	if _, err := strconv.ParseUint(v[4:20], 10, 64); err != nil {
		return Original{}, false
	}
	return Original{STAN: v[4:10], Transmission: v[10:20]}, true
}

func original(m *iso8583.Message) (Original, error) {
	o, ok := OriginalOf(m)
	if !ok {
		return o, fault.Wrap(iso8583.ErrFormat, fault.Invalid, BadOriginalCode, "netmsg: DE90 does not name an original authorization")
	}
	return o, nil
}

func decodeReversal(m *iso8583.Message, side Side) (*Reversal, error) {
	if err := need(m, pick(side, reversalAtNetwork, reversalAtIssuer)); err != nil {
		return nil, err
	}
	o, err := original(m)
	if err != nil {
		return nil, err
	}
	r := &Reversal{Amount: amountOf(m), Original: o}
	var de2 string
	r.read(m, field{iso8583.DEPAN, &de2}, field{iso8583.DEProcessingCode, &r.ProcessingCode})
	r.Card = cardOf(m, side, de2)
	if v, ok := m.String(iso8583.DEReplacement); ok {
		r.Partial, r.Remaining = true, -1
		if len(v) >= 12 {
			if n, err := strconv.ParseInt(v[:12], 10, 64); err == nil && n >= 0 {
				r.Remaining = n
			}
		}
	}
	return r, nil
}

func decodeRefund(m *iso8583.Message, side Side) (*Refund, error) {
	if err := need(m, pick(side, refundAtNetwork, refundAtIssuer)); err != nil {
		return nil, err
	}
	o, err := original(m)
	if err != nil {
		return nil, err
	}
	r := &Refund{Amount: amountOf(m), Original: o}
	var de2 string
	r.read(m, field{iso8583.DEPAN, &de2}, field{iso8583.DEProcessingCode, &r.ProcessingCode}, field{iso8583.DEMerchantName, &r.MerchantName})
	r.Card = cardOf(m, side, de2)
	return r, nil
}

// Answer returns the response to req with rc and the echoed elements; nil
// when req is not a request (there is nothing to answer).
func Answer(req *iso8583.Message, rc iso8583.ResponseCode) *iso8583.Message {
	resp, err := iso8583.NewResponse(req, rc)
	if err != nil {
		return nil
	}
	return resp
}

// Mux is the MTI dispatcher of a party that answers requests over ISO
// 8583 (the switch, an issuer host): Handle decodes each request once as
// Side reads it and calls the handler of its type. A request that does not
// decode is answered 30, one whose handler is nil 40; 0800 is answered by
// isolink.AnswerNetwork unless Network is set. Handle is an
// isolink.Handler. An Authorization, with its Chip, is the handler's
// only while it runs: both are reused once it returns (a handler keeps no
// pointer to either, and copies what it keeps of the map; the strings and
// the chip's values, the request's bytes, stay its to keep).
type Mux struct {
	Side          Side
	Authorization func(ctx context.Context, a *Authorization) *iso8583.Message
	Reversal      func(ctx context.Context, r *Reversal) *iso8583.Message
	Refund        func(ctx context.Context, r *Refund) *iso8583.Message
	Network       func(ctx context.Context, n *NetworkManagement) *iso8583.Message
	// Log is told why a request was answered 30 (never its values).
	Log *slog.Logger
}

// Handle answers one request; it never panics on bad input and returns nil
// only for a message that is not a request.
func (x *Mux) Handle(ctx context.Context, req *iso8583.Message) *iso8583.Message {
	msg, err := Decode(req, x.Side)
	if err != nil {
		rc := ResponseCode(err)
		if rc == iso8583.FormatError && x.Log != nil {
			x.Log.Warn("netmsg: request does not decode; answering 30", "err", fault.MessageOf(err))
		}
		return Answer(req, rc)
	}
	switch m := msg.(type) {
	case *Authorization:
		defer m.release()
		if x.Authorization != nil {
			return x.Authorization(ctx, m)
		}
	case *Reversal:
		if x.Reversal != nil {
			return x.Reversal(ctx, m)
		}
	case *Refund:
		if x.Refund != nil {
			return x.Refund(ctx, m)
		}
	case *NetworkManagement:
		if x.Network != nil {
			return x.Network(ctx, m)
		}
		return isolink.AnswerNetwork(req)
	}
	return Answer(req, iso8583.FunctionNotSupported)
}

func safeMTI(m iso8583.MTI) string {
	if m.Check() != nil {
		return "an unknown type"
	}
	return string(m)
}
