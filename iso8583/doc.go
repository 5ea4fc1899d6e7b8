// Package iso8583 is the message language of tapwallet's card network: the
// ISO 8583:1987 messages that store terminals, the network switch and the
// issuer hosts exchange (0100/0110 authorization, 0400/0410 reversal,
// 0800/0810 network management). It is a small, strict codec of its own:
// the project guide names moov-io/iso8583, but the module proxy here refuses
// every version of it, so this package implements exactly the 1987 layout
// tapwallet uses and is tested (unit, golden file, fuzz) to stand alone.
//
// The layout: the MTI as four ASCII digits, a binary primary bitmap (and a
// binary secondary bitmap when an element above 64 is present), then the
// elements in order. Numeric and character elements are ASCII; b elements
// are raw bytes; LLVAR and LLLVAR elements carry their length as two or
// three ASCII digits (counting digits, characters or bytes). The element
// table is in spec.go and docs/iso8583.md; add an element by adding a line.
//
// Every error is a *fault.Error of kind fault.Invalid and code
// FormatErrorCode (answer it with ResponseCode FormatError, "30"), wrapping
// one class (ErrTruncated, ErrBadLength, ...). Error texts name the element,
// never its value; Describe, LogValue and the fmt verbs mask card numbers,
// track 2, expiry, ICC data and token data. Unpack never panics and never
// allocates more than its input.
package iso8583
