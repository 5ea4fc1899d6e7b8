package apdu

import "fmt"

// StatusWord is SW1 SW2, the two bytes that end every response APDU.
type StatusWord uint16

// Status words the tapwallet applets answer and the terminal handles
// (ISO/IEC 7816-4 section 5.6, EMV Book 1 and Book 3, PBOC purse).
const (
	SWSuccess                    StatusWord = 0x9000 // normal processing
	SWBytesAvailable             StatusWord = 0x6100 // 61XX: XX more response bytes (GET RESPONSE)
	SWWarningNoInfo              StatusWord = 0x6200
	SWDataCorrupted              StatusWord = 0x6281
	SWEndOfFile                  StatusWord = 0x6282
	SWSelectedFileDeactivated    StatusWord = 0x6283 // EMV: application blocked
	SWFCIFormat                  StatusWord = 0x6284
	SWVerifyFailed               StatusWord = 0x6300 // 63CX: X retries left
	SWExecutionError             StatusWord = 0x6400
	SWMemoryFailure              StatusWord = 0x6581
	SWWrongLength                StatusWord = 0x6700
	SWLogicalChannelUnsupported  StatusWord = 0x6881
	SWSecureMessagingUnsupported StatusWord = 0x6882
	SWCommandNotAllowed          StatusWord = 0x6900
	SWIncompatibleFile           StatusWord = 0x6981
	SWSecurityNotSatisfied       StatusWord = 0x6982
	SWAuthMethodBlocked          StatusWord = 0x6983
	SWReferenceDataNotUsable     StatusWord = 0x6984
	SWConditionsNotSatisfied     StatusWord = 0x6985
	SWNoCurrentEF                StatusWord = 0x6986 // also "see phone" in consumer-device wallets
	SWSMObjectsMissing           StatusWord = 0x6987
	SWSMObjectsIncorrect         StatusWord = 0x6988
	SWWrongData                  StatusWord = 0x6A80
	SWFunctionNotSupported       StatusWord = 0x6A81
	SWFileNotFound               StatusWord = 0x6A82
	SWRecordNotFound             StatusWord = 0x6A83
	SWNotEnoughMemory            StatusWord = 0x6A84
	SWWrongP1P2Data              StatusWord = 0x6A86
	SWReferenceNotFound          StatusWord = 0x6A88
	SWWrongP1P2                  StatusWord = 0x6B00
	SWWrongLe                    StatusWord = 0x6C00 // 6CXX: XX is the exact length
	SWINSNotSupported            StatusWord = 0x6D00
	SWCLANotSupported            StatusWord = 0x6E00
	SWNoPreciseDiagnosis         StatusWord = 0x6F00
	SWPurseMACInvalid            StatusWord = 0x9302 // PBOC purse: MAC invalid
	SWPurseApplicationLocked     StatusWord = 0x9303 // PBOC purse: application permanently locked
	SWPurseInsufficientFunds     StatusWord = 0x9401 // PBOC purse: balance too low
	SWPurseKeyIndexUnsupported   StatusWord = 0x9403 // PBOC purse: key index not supported
	SWPurseMACUnavailable        StatusWord = 0x9406 // PBOC purse: required MAC unavailable
)

var swNames = map[StatusWord]string{
	0x9000: "success",
	0x6200: "warning: state of non-volatile memory unchanged",
	0x6281: "part of the returned data may be corrupted",
	0x6282: "end of file or record reached before reading Ne bytes",
	0x6283: "selected file or application deactivated",
	0x6284: "file control information not correctly formatted",
	0x6400: "execution error: state of non-volatile memory unchanged",
	0x6581: "memory failure",
	0x6700: "wrong length",
	0x6881: "logical channel not supported",
	0x6882: "secure messaging not supported",
	0x6900: "command not allowed",
	0x6981: "command incompatible with file structure",
	0x6982: "security status not satisfied",
	0x6983: "authentication method blocked",
	0x6984: "reference data not usable",
	0x6985: "conditions of use not satisfied",
	0x6986: "command not allowed (no current EF)",
	0x6987: "expected secure messaging data objects missing",
	0x6988: "incorrect secure messaging data objects",
	0x6A80: "incorrect parameters in the command data field",
	0x6A81: "function not supported",
	0x6A82: "file or application not found",
	0x6A83: "record not found",
	0x6A84: "not enough memory space in the file",
	0x6A86: "incorrect parameters P1-P2",
	0x6A88: "referenced data or reference data not found",
	0x6B00: "wrong parameters P1-P2",
	0x6D00: "instruction code not supported or invalid",
	0x6E00: "class not supported",
	0x6F00: "no precise diagnosis",
	0x9302: "MAC invalid",
	0x9303: "application permanently locked",
	0x9401: "insufficient funds",
	0x9403: "key index not supported",
	0x9406: "required MAC unavailable",
}

// SW returns the status word made of sw1 and sw2.
func SW(sw1, sw2 byte) StatusWord { return StatusWord(sw1)<<8 | StatusWord(sw2) }

// SW1 returns the first byte.
func (s StatusWord) SW1() byte { return byte(s >> 8) }

// SW2 returns the second byte.
func (s StatusWord) SW2() byte { return byte(s) }

// OK reports whether the command completed normally: 9000, or 61XX (more
// bytes to fetch with GET RESPONSE).
func (s StatusWord) OK() bool { return s == SWSuccess || s.SW1() == 0x61 }

// Name returns what the status word means ("file or application not
// found"), including the counted families 61XX, 63CX and 6CXX, or "" for a
// status word this package does not know.
func (s StatusWord) Name() string {
	if n, ok := swNames[s]; ok {
		return n
	}
	switch {
	case s.SW1() == 0x61:
		return fmt.Sprintf("%d response bytes still available", s.SW2())
	case s.SW1() == 0x63 && s.SW2()&0xF0 == 0xC0:
		return fmt.Sprintf("verification failed, %d retries left", s.SW2()&0x0F)
	case s.SW1() == 0x6C:
		return fmt.Sprintf("wrong Le field, exact length is %d", s.SW2())
	case s.SW1() == 0x62 || s.SW1() == 0x63:
		return "warning"
	case s.SW1() == 0x64 || s.SW1() == 0x65:
		return "execution error"
	}
	return ""
}

// String returns the status word in hex and its meaning: "6A82 file or
// application not found", or just "9F99" for an unknown one.
func (s StatusWord) String() string {
	if n := s.Name(); n != "" {
		return fmt.Sprintf("%04X %s", uint16(s), n)
	}
	return fmt.Sprintf("%04X", uint16(s))
}

// Error makes a status word usable as an error value: an applet handler
// can return apdu.SWFileNotFound and the dispatcher answers with it.
func (s StatusWord) Error() string { return "status " + s.String() }
