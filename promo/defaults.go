package promo

import (
	"bytes"
	_ "embed"
)

//go:embed defaults.json
var defaultsJSON []byte

// Defaults returns the campaigns shipped for the demo and a newcomer: a
// network-funded "spend ¥100, save ¥50" for new users, a random discount
// of ICBC, CMB's dining tiers, CCB's grocery cash back (add to card,
// credited after clearing) and BOC's transit top-up discount. It fails
// only if the embedded file is broken (a test keeps it valid).
func Defaults() ([]Campaign, error) { return ParseFile(bytes.NewReader(defaultsJSON)) }
