package qpboc

import (
	"errors"

	"github.com/tapwallet/tapwallet/emv"
)

// The terminal outcome: after going online, the terminal tells the phone,
// still on the reader, what became of the payment it made the ARQC for.
// It is a PUT DATA (CLA 80, INS DA) of the proprietary tag TagOutcome,
// whose value is a list of data objects:
//
//	8A   ARC, an 2: the issuer's answer (ISO 8583 DE39: "00", "51", …),
//	     or the terminal's own EMV Book 4 code: "Z3" no answer from the
//	     network (not paid, reversed), "Z1" declined by the terminal
//	     without going online; absent when the terminal reports an error
//	91   issuer authentication data (ARPC ‖ ARC), when the issuer sent it
//	DF72 the terminal's message, ans up to 64 ("APPROVED", "card read error")
//
// See docs/emv.md ("The terminal's outcome").
const (
	TagOutcome        emv.Tag = 0xFF71
	TagOutcomeMessage emv.Tag = 0xDF72
	TagARC            emv.Tag = 0x8A
)

// Terminal-made authorisation response codes (EMV Book 4, A6).
const (
	ARCOfflineDeclined = "Z1" // declined by the terminal, not sent online
	ARCUnableOnline    = "Z3" // could not go online: not paid
)

// Outcome is what the terminal tells the phone after the authorization.
type Outcome struct {
	ARC        string // two characters, "" for a terminal error
	IssuerAuth []byte // tag 91, if the issuer sent it
	Message    string // printable ASCII, at most 64 characters
}

// ErrOutcome is returned by ParseOutcome for data that is not an outcome.
var ErrOutcome = errors.New("qpboc: malformed terminal outcome")

// Bytes returns the PUT DATA data field: TagOutcome with the objects.
// Unprintable characters of the message are dropped and it is cut at 64.
func (o Outcome) Bytes() []byte {
	var objs []emv.TLV
	if o.ARC != "" {
		objs = append(objs, emv.New(TagARC, []byte(o.ARC)))
	}
	if len(o.IssuerAuth) > 0 {
		objs = append(objs, emv.New(TagIssuerAuth, o.IssuerAuth))
	}
	if m := printableASCII(o.Message, 64); m != "" {
		objs = append(objs, emv.New(TagOutcomeMessage, []byte(m)))
	}
	b, _ := emv.Encode(emv.NewConstructed(TagOutcome, objs...))
	return b
}

// ParseOutcome reads the PUT DATA data field. It fails with ErrOutcome if
// it is not one TagOutcome template, the ARC is not 2 printable
// characters, the issuer authentication data is over 16 bytes or the
// message over 64 printable characters.
func ParseOutcome(data []byte) (Outcome, error) {
	objs, err := emv.Decode(data)
	if err != nil || len(objs) != 1 || objs[0].Tag != TagOutcome {
		return Outcome{}, ErrOutcome
	}
	var o Outcome
	for _, c := range objs[0].Children {
		switch c.Tag {
		case TagARC:
			if len(c.Value) != 2 || printableASCII(string(c.Value), 2) != string(c.Value) {
				return Outcome{}, ErrOutcome
			}
			o.ARC = string(c.Value)
		case TagIssuerAuth:
			if len(c.Value) < 8 || len(c.Value) > 16 {
				return Outcome{}, ErrOutcome
			}
			o.IssuerAuth = append([]byte(nil), c.Value...)
		case TagOutcomeMessage:
			if len(c.Value) > 64 || printableASCII(string(c.Value), 64) != string(c.Value) {
				return Outcome{}, ErrOutcome
			}
			o.Message = string(c.Value)
		}
	}
	return o, nil
}

func printableASCII(s string, max int) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < max; i++ {
		if s[i] >= 0x20 && s[i] <= 0x7E {
			b = append(b, s[i])
		}
	}
	return string(b)
}
