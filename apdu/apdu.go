// Package apdu is the smart-card message layer of the tapwallet payment
// system: ISO/IEC 7816-4 command and response APDUs as the store terminal
// and the transit gate send them to the phone's payment and transit
// applets over the NFC link, and the status words those applets answer.
//
// [ParseCommand] and [ParseResponse] read outside input and never panic;
// their errors describe the shape of the input (lengths, case) and never
// contain its bytes, so they are safe to log. The package depends on
// nothing else in tapwallet.
package apdu

import (
	"errors"
	"fmt"
)

// Limits of the APDU length fields (ISO/IEC 7816-4 section 5.1).
const (
	MaxShortNc    = 255   // data bytes in a short command
	MaxShortNe    = 256   // expected bytes in a short command (Le = 00)
	MaxExtendedNc = 65535 // data bytes in an extended command
	MaxExtendedNe = 65536 // expected bytes in an extended command (Le = 0000)
)

// Instruction bytes used by EMV, qPBOC and the PBOC electronic purse.
const (
	InsVerify                byte = 0x20
	InsExternalAuthenticate  byte = 0x82
	InsGetChallenge          byte = 0x84
	InsInternalAuthenticate  byte = 0x88
	InsSelect                byte = 0xA4
	InsGetProcessingOptions  byte = 0xA8
	InsGenerateAC            byte = 0xAE
	InsReadRecord            byte = 0xB2
	InsGetResponse           byte = 0xC0
	InsGetData               byte = 0xCA
	InsPutData               byte = 0xDA
	InsUpdateRecord          byte = 0xDC
	InsInitializeTransaction byte = 0x50 // PBOC purse: INITIALIZE FOR LOAD / PURCHASE (CLA 80)
	InsCreditForLoad         byte = 0x52 // PBOC purse: CREDIT FOR LOAD
	InsDebitForPurchase      byte = 0x54 // PBOC purse: DEBIT FOR PURCHASE
	InsGetBalance            byte = 0x5C // PBOC purse: GET BALANCE
	InsGetTransactionProof   byte = 0x5A // PBOC purse: GET TRANSACTION PROVE
	InsApplicationBlock      byte = 0x1E // EMV issuer script: APPLICATION BLOCK
	InsApplicationUnblock    byte = 0x18 // EMV issuer script: APPLICATION UNBLOCK
	InsCardBlock             byte = 0x16 // EMV issuer script: CARD BLOCK
	InsPINChangeUnblock      byte = 0x24 // EMV issuer script: PIN CHANGE/UNBLOCK
	InsManageChannel         byte = 0x70
	InsEnvelope              byte = 0xC2
)

// Errors that parse errors wrap, to test with errors.Is.
var (
	ErrTooShort = errors.New("apdu: too short")
	ErrLength   = errors.New("apdu: length fields do not match the size")
	ErrTooLong  = errors.New("apdu: too long")
)

// Case is the ISO/IEC 7816-3 case of a command: whether it carries data
// (Lc and a data field) and whether it expects data back (Le).
type Case int

const (
	Case1 Case = 1 // no data, no Le
	Case2 Case = 2 // no data, Le
	Case3 Case = 3 // data, no Le
	Case4 Case = 4 // data and Le
)

// String returns "case 1" to "case 4".
func (c Case) String() string { return fmt.Sprintf("case %d", int(c)) }

// Command is a command APDU.
type Command struct {
	CLA, INS, P1, P2 byte
	// Data is the command data field (Nc = len(Data) bytes, at most 65535).
	Data []byte
	// Ne is the maximum number of response data bytes expected: 0 for no
	// Le field, 1 to 256 in short form (256 is encoded as Le = 00), up to
	// 65536 in extended form (65536 is encoded as Le = 0000).
	Ne int
	// Extended asks Marshal for the extended length form even when the
	// short form would do. ParseCommand sets it for extended input.
	Extended bool
}

// Case returns the ISO/IEC 7816-3 case of the command.
func (c Command) Case() Case {
	switch {
	case len(c.Data) == 0 && c.Ne == 0:
		return Case1
	case len(c.Data) == 0:
		return Case2
	case c.Ne == 0:
		return Case3
	}
	return Case4
}

// String describes the command without its data, which may be secret (a
// PIN block in VERIFY): "00A40400 case 4 Nc=7 Ne=256".
func (c Command) String() string {
	s := fmt.Sprintf("%02X%02X%02X%02X %v", c.CLA, c.INS, c.P1, c.P2, c.Case())
	if len(c.Data) > 0 {
		s += fmt.Sprintf(" Nc=%d", len(c.Data))
	}
	if c.Ne > 0 {
		s += fmt.Sprintf(" Ne=%d", c.Ne)
	}
	if c.Extended {
		s += " extended"
	}
	return s
}

// ParseCommand parses a command APDU in any of the seven encodings of
// ISO/IEC 7816-4 (case 1; cases 2, 3 and 4 in short and extended form).
// The returned Data aliases b. It returns an error wrapping [ErrTooShort]
// for fewer than 4 bytes and [ErrLength] when the length fields do not
// match the size of b.
func ParseCommand(b []byte) (Command, error) {
	if len(b) < 4 {
		return Command{}, fmt.Errorf("%w: %d bytes, a command has at least 4", ErrTooShort, len(b))
	}
	c := Command{CLA: b[0], INS: b[1], P1: b[2], P2: b[3]}
	body := b[4:]
	switch {
	case len(body) == 0: // case 1
		return c, nil
	case len(body) == 1: // case 2 short
		c.Ne = shortNe(body[0])
		return c, nil
	case body[0] != 0: // case 3 or 4 short
		nc := int(body[0])
		switch len(body) {
		case 1 + nc:
			c.Data = body[1 : 1+nc : 1+nc]
		case 2 + nc:
			c.Data = body[1 : 1+nc : 1+nc]
			c.Ne = shortNe(body[1+nc])
		default:
			return Command{}, fmt.Errorf("%w: Lc says %d data bytes, %d bytes follow the header", ErrLength, nc, len(body))
		}
		return c, nil
	case len(body) < 3:
		return Command{}, fmt.Errorf("%w: %d bytes after the header starting with 00 (extended lengths need 3)", ErrLength, len(body))
	}
	// Extended: body[0] == 0.
	c.Extended = true
	n := int(body[1])<<8 | int(body[2])
	if len(body) == 3 { // case 2 extended
		c.Ne = extendedNe(n)
		return c, nil
	}
	if n == 0 {
		return Command{}, fmt.Errorf("%w: extended Lc of 0 with %d more bytes", ErrLength, len(body)-3)
	}
	switch len(body) {
	case 3 + n: // case 3 extended
		c.Data = body[3 : 3+n : 3+n]
	case 5 + n: // case 4 extended
		c.Data = body[3 : 3+n : 3+n]
		c.Ne = extendedNe(int(body[3+n])<<8 | int(body[4+n]))
	default:
		return Command{}, fmt.Errorf("%w: extended Lc says %d data bytes, %d bytes follow the header", ErrLength, n, len(body))
	}
	return c, nil
}

func shortNe(le byte) int {
	if le == 0 {
		return MaxShortNe
	}
	return int(le)
}

func extendedNe(le int) int {
	if le == 0 {
		return MaxExtendedNe
	}
	return le
}

// Marshal returns the encoding of the command, in short form when the data
// and Ne fit and Extended is false, otherwise in extended form. It returns
// an error wrapping [ErrTooLong] if Data is longer than 65535 bytes or Ne is
// not between 0 and 65536.
func (c Command) Marshal() ([]byte, error) {
	if len(c.Data) > MaxExtendedNc {
		return nil, fmt.Errorf("%w: %d data bytes, at most %d", ErrTooLong, len(c.Data), MaxExtendedNc)
	}
	if c.Ne < 0 || c.Ne > MaxExtendedNe {
		return nil, fmt.Errorf("%w: Ne %d is not between 0 and %d", ErrTooLong, c.Ne, MaxExtendedNe)
	}
	out := make([]byte, 0, 4+3+len(c.Data)+2)
	out = append(out, c.CLA, c.INS, c.P1, c.P2)
	short := !c.Extended && len(c.Data) <= MaxShortNc && c.Ne <= MaxShortNe
	if short {
		if len(c.Data) > 0 {
			out = append(out, byte(len(c.Data)))
			out = append(out, c.Data...)
		}
		if c.Ne > 0 {
			out = append(out, byte(c.Ne)) // 256 becomes 00
		}
		return out, nil
	}
	if len(c.Data) == 0 && c.Ne == 0 {
		return out, nil // case 1 has no extended form
	}
	out = append(out, 0)
	if len(c.Data) > 0 {
		out = append(out, byte(len(c.Data)>>8), byte(len(c.Data)))
		out = append(out, c.Data...)
	}
	if c.Ne > 0 {
		out = append(out, byte(c.Ne>>8), byte(c.Ne)) // 65536 becomes 0000
	}
	return out, nil
}

// Response is a response APDU: the response data and the status word.
type Response struct {
	Data []byte
	SW   StatusWord
}

// ParseResponse parses a response APDU. The returned Data aliases b. It
// returns an error wrapping [ErrTooShort] for fewer than 2 bytes and
// [ErrTooLong] for more than 65538 bytes (65536 data bytes and SW1 SW2).
func ParseResponse(b []byte) (Response, error) {
	if len(b) < 2 {
		return Response{}, fmt.Errorf("%w: %d bytes, a response has at least SW1 SW2", ErrTooShort, len(b))
	}
	if len(b) > MaxExtendedNe+2 {
		return Response{}, fmt.Errorf("%w: %d bytes", ErrTooLong, len(b))
	}
	n := len(b) - 2
	return Response{Data: b[:n:n], SW: StatusWord(b[n])<<8 | StatusWord(b[n+1])}, nil
}

// Marshal returns the data followed by SW1 SW2. It never fails.
func (r Response) Marshal() []byte {
	out := make([]byte, 0, len(r.Data)+2)
	out = append(out, r.Data...)
	return append(out, r.SW.SW1(), r.SW.SW2())
}

// String describes the response without its data: "12 bytes, 9000
// success".
func (r Response) String() string {
	return fmt.Sprintf("%d bytes, %v", len(r.Data), r.SW)
}

// Select returns SELECT by name (00 A4 04 00) for an application
// identifier or the PPSE name "2PAY.SYS.DDF01", expecting up to 256 bytes.
func Select(name []byte) Command {
	return Command{CLA: 0x00, INS: InsSelect, P1: 0x04, P2: 0x00, Data: name, Ne: 256}
}

// GetProcessingOptions returns GET PROCESSING OPTIONS (80 A8 00 00) with
// the PDOL-related data wrapped in the command template 83.
func GetProcessingOptions(pdolData []byte) Command {
	data := make([]byte, 0, len(pdolData)+4)
	data = append(data, 0x83)
	switch n := len(pdolData); {
	case n < 0x80:
		data = append(data, byte(n))
	case n <= 0xFF:
		data = append(data, 0x81, byte(n))
	default:
		data = append(data, 0x82, byte(n>>8), byte(n))
	}
	data = append(data, pdolData...)
	return Command{CLA: 0x80, INS: InsGetProcessingOptions, P1: 0x00, P2: 0x00, Data: data, Ne: 256}
}

// ReadRecord returns READ RECORD (00 B2) for a record number in the file
// with a short file identifier (1 to 30).
func ReadRecord(sfi, record byte) Command {
	return Command{CLA: 0x00, INS: InsReadRecord, P1: record, P2: sfi<<3 | 0x04, Ne: 256}
}

// Reference control parameters of GENERATE AC (P1): the cryptogram asked for.
const (
	RefAAC  byte = 0x00
	RefTC   byte = 0x40
	RefARQC byte = 0x80
)

// GenerateAC returns GENERATE AC (80 AE) with the reference control
// parameter (RefAAC, RefTC or RefARQC, optionally with the CDA bit 0x10)
// and the CDOL-related data.
func GenerateAC(ref byte, cdolData []byte) Command {
	return Command{CLA: 0x80, INS: InsGenerateAC, P1: ref, P2: 0x00, Data: cdolData, Ne: 256}
}

// GetData returns GET DATA (80 CA) for a one- or two-byte tag, such as
// 9F36 (ATC) or 9F79 (PBOC electronic cash balance).
func GetData(tag uint16) Command {
	return Command{CLA: 0x80, INS: InsGetData, P1: byte(tag >> 8), P2: byte(tag), Ne: 256}
}

// GetResponse returns GET RESPONSE (00 C0) for n bytes (1 to 256), as a
// terminal sends after a 61XX status.
func GetResponse(n int) Command {
	return Command{CLA: 0x00, INS: InsGetResponse, Ne: n}
}
