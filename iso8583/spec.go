package iso8583

import "strconv"

// Type is the character class of a data element, as the 1987 standard names it.
type Type string

// The data element types we use.
const (
	N   Type = "n"   // numeric digits 0-9, ASCII
	AN  Type = "an"  // letters and digits, ASCII; the space is accepted as padding
	ANS Type = "ans" // printable ASCII 0x20-0x7E
	Z   Type = "z"   // track-2 characters: digits, '=' and 'D' as field separators
	B   Type = "b"   // binary bytes, carried as they are
)

// LengthKind tells whether an element has a fixed length or carries its own
// length in front of it as ASCII digits.
type LengthKind int

// The length kinds of the 1987 layout.
const (
	Fixed  LengthKind = iota // exactly Spec.Max units, no prefix
	LLVAR                    // two ASCII digits of length, then 1..99 units
	LLLVAR                   // three ASCII digits of length, then 1..999 units
)

// String returns "fixed", "LLVAR" or "LLLVAR".
func (k LengthKind) String() string {
	switch k {
	case Fixed:
		return "fixed"
	case LLVAR:
		return "LLVAR"
	case LLLVAR:
		return "LLLVAR"
	}
	return "LengthKind(" + strconv.Itoa(int(k)) + ")"
}

// Mask says how Describe and LogValue show an element, so that card numbers
// and chip data never reach a log.
type Mask int

// The masks.
const (
	Clear      Mask = iota // shown as it is
	MaskPAN                // first six and last four digits, stars between
	MaskTrack2             // the PAN part masked like MaskPAN, everything after the separator hidden
	Hidden                 // only the length is shown
)

// Spec describes one data element: its number, name, character type, length
// kind and maximum (for Fixed: exact) length. Lengths count digits or
// characters for n, an, ans and z elements and bytes for b elements.
type Spec struct {
	DE     int
	Name   string
	Type   Type
	Length LengthKind
	Max    int
	Mask   Mask
}

// Format returns the element's format in the standard's notation,
// such as "n12", "n..19 LLVAR" or "b..255 LLLVAR".
func (s Spec) Format() string {
	if s.Length == Fixed {
		return string(s.Type) + strconv.Itoa(s.Max)
	}
	return string(s.Type) + ".." + strconv.Itoa(s.Max) + " " + s.Length.String()
}

// The element numbers we use, named for readability.
const (
	DEPAN             = 2   // primary account number or token number
	DEProcessingCode  = 3   // transaction type and accounts
	DEAmount          = 4   // amount, transaction, in minor units
	DETransmission    = 7   // transmission date and time, MMDDhhmmss UTC
	DESTAN            = 11  // system trace audit number
	DELocalTime       = 12  // local transaction time hhmmss
	DELocalDate       = 13  // local transaction date MMDD
	DEExpiry          = 14  // expiration date YYMM
	DEMCC             = 18  // merchant category code
	DEPOSEntryMode    = 22  // point of service entry mode (072 contactless chip)
	DECardSequence    = 23  // card sequence number
	DEFunctionCode    = 24  // function code / network international identifier
	DEPOSCondition    = 25  // point of service condition code
	DEAcquirer        = 32  // acquiring institution identification code
	DETrack2          = 35  // track-2 equivalent data
	DERRN             = 37  // retrieval reference number
	DEAuthID          = 38  // authorization identification response (auth code)
	DEResponseCode    = 39  // response code
	DETerminal        = 41  // card acceptor terminal identification
	DEMerchant        = 42  // card acceptor identification code
	DEMerchantName    = 43  // card acceptor name and location
	DECurrency        = 49  // currency code, transaction (ISO 4217 numeric)
	DEICC             = 55  // ICC system related data (EMV BER-TLV)
	DENetworkCode     = 70  // network management information code
	DEOriginal        = 90  // original data elements
	DEReplacement     = 95  // replacement amounts
	DEAccount         = 102 // account identification 1
	DETokenData       = 123 // private: token data as BER-TLV (see TokenData)
	DEPromotionData   = 124 // private: promotion data as BER-TLV (see PromotionData)
	DEPrivate124      = DEPromotionData
	DEPrivate127      = 127 // private: text, free for later
	maxDE             = 128
	secondaryBitmapDE = 1
)

// table is the 1987 layout of every element tapwallet uses. To carry a new
// element, add a line here (and to docs/iso8583.md); nothing else changes.
var table = []Spec{
	{DEPAN, "primary account number", N, LLVAR, 19, MaskPAN},
	{DEProcessingCode, "processing code", N, Fixed, 6, Clear},
	{DEAmount, "amount, transaction", N, Fixed, 12, Clear},
	{DETransmission, "transmission date and time", N, Fixed, 10, Clear},
	{DESTAN, "system trace audit number", N, Fixed, 6, Clear},
	{DELocalTime, "time, local transaction", N, Fixed, 6, Clear},
	{DELocalDate, "date, local transaction", N, Fixed, 4, Clear},
	{DEExpiry, "date, expiration", N, Fixed, 4, Hidden},
	{DEMCC, "merchant type", N, Fixed, 4, Clear},
	{DEPOSEntryMode, "point of service entry mode", N, Fixed, 3, Clear},
	{DECardSequence, "card sequence number", N, Fixed, 3, Clear},
	{DEFunctionCode, "function code / network international identifier", N, Fixed, 3, Clear},
	{DEPOSCondition, "point of service condition code", N, Fixed, 2, Clear},
	{DEAcquirer, "acquiring institution identification code", N, LLVAR, 11, Clear},
	{DETrack2, "track 2 equivalent data", Z, LLVAR, 37, MaskTrack2},
	{DERRN, "retrieval reference number", AN, Fixed, 12, Clear},
	{DEAuthID, "authorization identification response", AN, Fixed, 6, Clear},
	{DEResponseCode, "response code", AN, Fixed, 2, Clear},
	{DETerminal, "card acceptor terminal identification", ANS, Fixed, 8, Clear},
	{DEMerchant, "card acceptor identification code", ANS, Fixed, 15, Clear},
	{DEMerchantName, "card acceptor name/location", ANS, Fixed, 40, Clear},
	{DECurrency, "currency code, transaction", N, Fixed, 3, Clear},
	{DEICC, "ICC system related data", B, LLLVAR, 255, Hidden},
	{DENetworkCode, "network management information code", N, Fixed, 3, Clear},
	{DEOriginal, "original data elements", N, Fixed, 42, Clear},
	{DEReplacement, "replacement amounts", AN, Fixed, 42, Clear},
	{DEAccount, "account identification 1", ANS, LLVAR, 28, MaskPAN},
	{DETokenData, "private: token data", B, LLLVAR, 999, Hidden},
	{DEPromotionData, "private: promotion data", B, LLLVAR, 999, Hidden},
	{DEPrivate127, "private: reserved text", ANS, LLLVAR, 999, Hidden},
}

// specs indexes table by element number; nil means "no spec".
var specs = func() (s [maxDE + 1]*Spec) {
	for i := range table {
		// TestSpecTable checks that numbers are in 2..128 and unique.
		if sp := &table[i]; sp.DE > secondaryBitmapDE && sp.DE <= maxDE {
			s[sp.DE] = sp
		}
	}
	return s
}()

// SpecOf returns the spec of element de; false when we have none.
func SpecOf(de int) (Spec, bool) {
	if de < 0 || de > maxDE || specs[de] == nil {
		return Spec{}, false
	}
	return *specs[de], true
}

// Specs returns every element spec, in element order.
func Specs() []Spec {
	out := make([]Spec, 0, len(table))
	for _, s := range specs {
		if s != nil {
			out = append(out, *s)
		}
	}
	return out
}

// prefixDigits returns the number of length digits in front of an element.
func (s *Spec) prefixDigits() int {
	switch s.Length {
	case LLVAR:
		return 2
	case LLLVAR:
		return 3
	}
	return 0
}

// validChars reports whether every byte of v belongs to the element's type.
func (s *Spec) validChars(v []byte) bool {
	switch s.Type {
	case N:
		for _, c := range v {
			if c < '0' || c > '9' {
				return false
			}
		}
	case AN:
		for _, c := range v {
			if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == ' ') {
				return false
			}
		}
	case ANS:
		for _, c := range v {
			if c < 0x20 || c > 0x7e {
				return false
			}
		}
	case Z:
		for _, c := range v {
			if !(c >= '0' && c <= '9' || c == '=' || c == 'D') {
				return false
			}
		}
	case B:
	default:
		return false
	}
	return true
}

// unit names what the element's length counts, for error messages.
func (s *Spec) unit() string {
	switch s.Type {
	case N:
		return "digits"
	case B:
		return "bytes"
	}
	return "characters"
}

// charsRule names the element's character class, for error messages.
func (s *Spec) charsRule() string {
	switch s.Type {
	case N:
		return "digits only"
	case AN:
		return "letters, digits and spaces only"
	case ANS:
		return "printable ASCII only"
	case Z:
		return "track-2 characters (digits, '=', 'D') only"
	}
	return "bytes"
}
