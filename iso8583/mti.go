package iso8583

import "sync/atomic"

// MTI is a message type indicator of the 1987 layout: four digits, version
// (0), class, function and origin, such as "0100".
type MTI string

// The message types tapwallet uses.
const (
	AuthorizationRequest        MTI = "0100" // terminal → network → issuer: may I?
	AuthorizationRequestRepeat  MTI = "0101"
	AuthorizationResponse       MTI = "0110"
	AuthorizationAdvice         MTI = "0120" // stand-in notice: it was approved for you
	AuthorizationAdviceResponse MTI = "0130"
	FinancialRequest            MTI = "0200" // a refund (DE3 200000): the acquirer gives money back to a card
	FinancialRequestRepeat      MTI = "0201"
	FinancialResponse           MTI = "0210"
	ReversalRequest             MTI = "0400" // undo an authorization that timed out or was cancelled
	ReversalRequestRepeat       MTI = "0401"
	ReversalResponse            MTI = "0410"
	ReversalAdvice              MTI = "0420"
	ReversalAdviceResponse      MTI = "0430"
	NetworkRequest              MTI = "0800" // sign-on, sign-off, echo (DE70)
	NetworkResponse             MTI = "0810"
)

// Check returns nil when m is four digits with version 0 (1987), a class
// 1-8, a function 0-4 and an origin 0-5; otherwise a format error wrapping
// ErrBadMTI.
func (m MTI) Check() error {
	if len(m) != 4 {
		return formatErr(ErrBadMTI, 0, "MTI must be 4 digits, got %d characters", len(m))
	}
	for i := 0; i < 4; i++ {
		if m[i] < '0' || m[i] > '9' {
			return formatErr(ErrBadMTI, 0, "MTI must be 4 digits")
		}
	}
	switch {
	case m[0] != '0':
		return formatErr(ErrBadMTI, 0, "MTI version %c is not 0 (ISO 8583:1987)", m[0])
	case m[1] < '1' || m[1] > '8':
		return formatErr(ErrBadMTI, 0, "MTI class %c is not 1-8", m[1])
	case m[2] > '4':
		return formatErr(ErrBadMTI, 0, "MTI function %c is not 0-4", m[2])
	case m[3] > '5':
		return formatErr(ErrBadMTI, 0, "MTI origin %c is not 0-5", m[3])
	}
	return nil
}

// Class returns the class digit ('1' authorization, '2' financial,
// '4' reversal, '8' network management ...), or 0 when m is not valid.
func (m MTI) Class() byte {
	if m.Check() != nil {
		return 0
	}
	return m[1]
}

// IsRequest reports whether m is a valid request or advice, one that expects
// an answer (function 0 or 2).
func (m MTI) IsRequest() bool {
	return m.Check() == nil && (m[2] == '0' || m[2] == '2')
}

// IsResponse reports whether m is a valid answer to a request or advice
// (function 1 or 3).
func (m MTI) IsResponse() bool {
	return m.Check() == nil && (m[2] == '1' || m[2] == '3')
}

// Response returns the MTI that answers m: 0100 and 0101 → 0110,
// 0120 → 0130, 0400 → 0410, 0800 → 0810 and so on. It returns a format error
// wrapping ErrBadMTI when m is not a valid request or advice.
func (m MTI) Response() (MTI, error) {
	if err := m.Check(); err != nil {
		return "", err
	}
	if !m.IsRequest() {
		return "", formatErr(ErrBadMTI, 0, "MTI %s is not a request and has no response", string(m))
	}
	origin := (m[3]-'0')&^1 + '0' // the answer to a repeat is not a repeat
	return mtiOf([]byte{m[0], m[1], m[2] + 1, origin}), nil
}

// named are the MTIs named here: a message read or answered with one of
// them shares the constant's string instead of allocating one.
var named = [...]MTI{AuthorizationRequest, AuthorizationRequestRepeat, AuthorizationResponse, AuthorizationAdvice,
	AuthorizationAdviceResponse, FinancialRequest, FinancialRequestRepeat, FinancialResponse, ReversalRequest,
	ReversalRequestRepeat, ReversalResponse, ReversalAdvice, ReversalAdviceResponse, NetworkRequest, NetworkResponse}

// mtiOf returns b as an MTI, a named one's constant when b is one.
func mtiOf(b []byte) MTI {
	for _, m := range named {
		if string(m) == string(b) {
			return m
		}
	}
	return MTI(b)
}

// STAN is a system trace audit number (DE11): 1 to 999999, unique per sender
// and day, shown as six digits.
type STAN uint32

// MaxSTAN is the largest STAN.
const MaxSTAN STAN = 999999

// String returns the six-digit form.
func (s STAN) String() string {
	var b [6]byte
	v := uint32(s % 1000000)
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[:])
}

// ParseSTAN reads six digits; it returns a format error wrapping
// ErrBadCharacters or ErrBadLength otherwise.
func ParseSTAN(s string) (STAN, error) {
	if len(s) != 6 {
		return 0, formatErr(ErrBadLength, DESTAN, "must be 6 digits, got %d characters", len(s))
	}
	v := 0
	for i := 0; i < 6; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, formatErr(ErrBadCharacters, DESTAN, "must contain digits only")
		}
		v = v*10 + int(s[i]-'0')
	}
	return STAN(v), nil
}

// STANCounter hands out STANs 1, 2, ... 999999, 1, ...; safe for concurrent
// use. The zero value starts at 1.
type STANCounter struct{ n atomic.Uint32 }

// NewSTANCounter returns a counter whose first STAN follows start.
func NewSTANCounter(start STAN) *STANCounter {
	c := &STANCounter{}
	c.n.Store(uint32(start % (MaxSTAN + 1)))
	return c
}

// Next returns the next STAN; it never fails.
func (c *STANCounter) Next() STAN {
	for {
		old := c.n.Load()
		next := old + 1
		if next > uint32(MaxSTAN) {
			next = 1
		}
		if c.n.CompareAndSwap(old, next) {
			return STAN(next)
		}
	}
}

// NetworkCode is a network management information code (DE70).
type NetworkCode string

// The network management codes we use.
const (
	SignOn   NetworkCode = "001"
	SignOff  NetworkCode = "002"
	EchoTest NetworkCode = "301"
)
