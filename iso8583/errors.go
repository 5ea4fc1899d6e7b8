package iso8583

import (
	"errors"
	"fmt"

	"github.com/tapwallet/tapwallet/fault"
)

// FormatErrorCode is the fault code of every error that Pack, Unpack and the
// setters return. The edge answers such an error with response code 30
// (FormatError): fault.Has(err, fault.Invalid, iso8583.FormatErrorCode).
const FormatErrorCode = "format_error"

// ErrFormat matches, with errors.Is, every format error of this package
// (a *fault.Error of kind fault.Invalid and code FormatErrorCode).
var ErrFormat = fault.E(fault.Invalid, FormatErrorCode, "iso8583: format error")

// The classes of format error. Every error of Pack, Unpack and the setters
// wraps exactly one of them, so errors.Is(err, iso8583.ErrTruncated) tells the
// classes apart while errors.Is(err, iso8583.ErrFormat) matches them all.
var (
	ErrTruncated      = errors.New("truncated")                  // the message ends inside the MTI, bitmap, a length prefix or an element
	ErrBadMTI         = errors.New("bad MTI")                    // the MTI is not four digits of a 1987 message we know how to classify
	ErrBadBitmap      = errors.New("bad bitmap")                 // the bitmap names no element
	ErrHexBitmap      = errors.New("ASCII-hex bitmap")           // the bitmap is sent as ASCII hex digits; the layout takes binary
	ErrUnknownElement = errors.New("element without a spec")     // the bitmap (or a setter) names an element that has no spec
	ErrBadLength      = errors.New("bad length")                 // a length prefix that is not digits, zero or above the maximum; a wrong fixed length
	ErrBadCharacters  = errors.New("bad characters")             // a character that the element's type does not allow (non-digits in n, ...)
	ErrTrailingBytes  = errors.New("trailing bytes")             // bytes left after the last element the bitmap names
	ErrWrongType      = errors.New("wrong type for the element") // a typed setter or getter used on an element of another type
)

// formatErr returns a format error of the given class. The message names the
// element (never its value); de 0 means the message as a whole.
func formatErr(class error, de int, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if de > 0 {
		name := "?"
		if s, ok := SpecOf(de); ok {
			name = s.Name
		}
		msg = fmt.Sprintf("DE%d (%s) %s", de, name, msg)
	}
	return fault.Wrap(class, fault.Invalid, FormatErrorCode, "iso8583: %s", msg)
}
