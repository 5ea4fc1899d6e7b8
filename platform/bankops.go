package platform

import (
	"crypto/subtle"
	"regexp"

	"github.com/tapwallet/tapwallet/fault"
)

// bankIDPattern is what a bank id may be in a file name.
var bankIDPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// BankOperatorToken returns the operator token of the bank bankID: the
// file operator-token-BANKID of the data folder, which a bank's operator
// uses to publish, list, pause and report its own campaigns over the
// network's operator routes (docs/promotions.md). When the file is missing
// it makes a fresh random one if create is set (mode 0600), else returns
// "". It fails with fault.Invalid for a bank id that is no file name, and
// fault.Unavailable when the file cannot be read or written.
func BankOperatorToken(dataDir, bankID string, create bool) (string, error) {
	if !bankIDPattern.MatchString(bankID) {
		return "", fault.E(fault.Invalid, "bad_bank", "bank id %q: want lower-case letters, digits and _", bankID)
	}
	return secretFile(dataDir, "operator-token-"+bankID, "operator_token", create)
}

// bankOperator names the bank whose operator token tok is, among the banks
// of the directory whose token file the data folder holds (read at each
// request: a token made by `tapwallet promo token` works at once).
func (p *Platform) bankOperator(dataDir string) func(tok string) (string, bool) {
	return func(tok string) (string, bool) {
		for _, b := range p.Banks.Banks {
			t, err := BankOperatorToken(dataDir, b.ID, false)
			if err == nil && t != "" && subtle.ConstantTimeCompare([]byte(t), []byte(tok)) == 1 {
				return b.ID, true
			}
		}
		return "", false
	}
}
