package iso8583

// ResponseCode is the answer of an issuer or the network (DE39): two characters.
//
//	code  constant                  meaning in tapwallet
//	00    Approved                  approved
//	05    DoNotHonour               do not honour (a generic decline)
//	12    InvalidTransaction        invalid transaction (this message makes no sense here)
//	13    InvalidAmount             invalid amount (zero, negative, too large, wrong currency)
//	14    InvalidCardNumber         invalid card number (no such PAN or token)
//	25    UnableToLocateRecord      unable to locate record (a reversal whose original is unknown)
//	30    FormatError               format error (the message broke the ISO 8583 layout)
//	41    LostCard                  lost card: the holder reported the card lost (issuer)
//	40    FunctionNotSupported      requested function not supported
//	51    InsufficientFunds         insufficient funds (debit) or credit limit reached
//	54    ExpiredCard               expired card or token
//	55    IncorrectPIN              incorrect PIN; we use it for "consumer-device CVM missing"
//	                                (the phone did not confirm the fingerprint): CDCVMMissing
//	57    NotPermittedToCardholder  transaction not permitted to cardholder
//	59    SuspectedFraud            suspected fraud (risk engine)
//	61    ExceedsAmountLimit        exceeds withdrawal amount limit (per-transaction or daily)
//	62    RestrictedCard            restricted card: token domain restriction (wrong channel or device)
//	78    Blocked                   blocked: the token is suspended (lost phone) or deleted
//	88    CryptographicFailure      cryptographic failure (ARQC does not verify, replayed ATC)
//	91    IssuerInoperative         issuer or switch inoperative (no answer in time)
//	94    DuplicateTransmission     duplicate transmission (same STAN and terminal again)
//	96    SystemMalfunction         system malfunction
type ResponseCode string

// The response codes tapwallet sends; see the table on ResponseCode.
const (
	Approved                 ResponseCode = "00"
	DoNotHonour              ResponseCode = "05"
	InvalidTransaction       ResponseCode = "12"
	InvalidAmount            ResponseCode = "13"
	InvalidCardNumber        ResponseCode = "14"
	UnableToLocateRecord     ResponseCode = "25"
	FormatError              ResponseCode = "30"
	FunctionNotSupported     ResponseCode = "40"
	LostCard                 ResponseCode = "41"
	InsufficientFunds        ResponseCode = "51"
	ExpiredCard              ResponseCode = "54"
	IncorrectPIN             ResponseCode = "55"
	NotPermittedToCardholder ResponseCode = "57"
	SuspectedFraud           ResponseCode = "59"
	ExceedsAmountLimit       ResponseCode = "61"
	RestrictedCard           ResponseCode = "62"
	Blocked                  ResponseCode = "78"
	CryptographicFailure     ResponseCode = "88"
	IssuerInoperative        ResponseCode = "91"
	DuplicateTransmission    ResponseCode = "94"
	SystemMalfunction        ResponseCode = "96"

	// CDCVMMissing is the code tapwallet sends when the phone did not verify
	// the person (no consumer-device CVM, e.g. no fresh fingerprint): 55,
	// the "incorrect PIN" code, as networks do for a failed cardholder check.
	CDCVMMissing = IncorrectPIN
)

var responseText = map[ResponseCode]string{
	Approved:                 "approved",
	DoNotHonour:              "do not honour",
	InvalidTransaction:       "invalid transaction",
	InvalidAmount:            "invalid amount",
	InvalidCardNumber:        "invalid card number",
	UnableToLocateRecord:     "unable to locate record",
	FormatError:              "format error",
	FunctionNotSupported:     "requested function not supported",
	LostCard:                 "lost card",
	InsufficientFunds:        "insufficient funds",
	ExpiredCard:              "expired card",
	IncorrectPIN:             "incorrect PIN or consumer-device CVM missing",
	NotPermittedToCardholder: "transaction not permitted to cardholder",
	SuspectedFraud:           "suspected fraud",
	ExceedsAmountLimit:       "exceeds withdrawal amount limit",
	RestrictedCard:           "restricted card",
	Blocked:                  "blocked",
	CryptographicFailure:     "cryptographic failure",
	IssuerInoperative:        "issuer or switch inoperative",
	DuplicateTransmission:    "duplicate transmission",
	SystemMalfunction:        "system malfunction",
}

// ResponseCodes returns every response code tapwallet knows, in code order.
func ResponseCodes() []ResponseCode {
	return []ResponseCode{Approved, DoNotHonour, InvalidTransaction, InvalidAmount, InvalidCardNumber,
		UnableToLocateRecord, FormatError, FunctionNotSupported, LostCard, InsufficientFunds, ExpiredCard,
		IncorrectPIN, NotPermittedToCardholder, SuspectedFraud, ExceedsAmountLimit, RestrictedCard,
		Blocked, CryptographicFailure, IssuerInoperative, DuplicateTransmission, SystemMalfunction}
}

// responseCodes are ResponseCodes, for Message.ResponseCode to return.
var responseCodes = ResponseCodes()

// Approved reports whether the code is 00.
func (c ResponseCode) Approved() bool { return c == Approved }

// Known reports whether the code is one of tapwallet's constants.
func (c ResponseCode) Known() bool { _, ok := responseText[c]; return ok }

// Text returns the meaning of the code, or "unknown response code" for a
// code tapwallet does not send.
func (c ResponseCode) Text() string {
	if t, ok := responseText[c]; ok {
		return t
	}
	return "unknown response code"
}

// String returns the code and its meaning, such as "51 insufficient funds".
func (c ResponseCode) String() string { return string(c) + " " + c.Text() }
