package se

import (
	"github.com/tapwallet/tapwallet/devicekey"
)

// PersonaliseApplet installs an applet's data from personalisation sealed
// to this element's device key (devicekey.Seal with aad), as a transit
// operator personalises a purse: the element opens the data, hands the
// plaintext to build — the applet's installer, running inside the
// element — and saves what build returns under name before answering. The
// plaintext is wiped afterwards. It fails with fault.Invalid
// "bad_sealed_data" if the data is not sealed to this element with aad,
// or with build's error.
func (e *Element) PersonaliseApplet(name string, sealed, aad []byte, build func(plain []byte) ([]byte, error)) error {
	plain, err := devicekey.Open(e.priv, sealed, aad)
	if err != nil {
		return err
	}
	defer clear(plain)
	data, err := build(plain)
	if err != nil {
		return err
	}
	defer clear(data)
	return e.SetAppletData(name, data)
}
