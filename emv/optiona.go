package emv

import "fmt"

// OptionAData returns Y of EMV option A for a card (the rightmost 16
// digits of PAN || PSN as 8 BCD bytes; PSN "" is "00"), as MasterKey uses
// it: for key stores that derive the card master key inside an HSM
// (TDES(IMK)[Y || Y xor FF..FF] by encrypt-data derivation). It returns an
// error for a PAN that is not 1 to 19 digits or a PSN that is not 2 digits.
func OptionAData(pan, psn string) ([]byte, error) {
	if psn == "" {
		psn = "00"
	}
	if !digits(pan) || len(pan) == 0 || len(pan) > 19 {
		return nil, fmt.Errorf("%w: PAN must be 1 to 19 digits", ErrArgument)
	}
	if !digits(psn) || len(psn) != 2 {
		return nil, fmt.Errorf("%w: PAN sequence number must be 2 digits", ErrArgument)
	}
	return optionAData(pan, psn), nil
}
