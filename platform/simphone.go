package platform

import (
	"context"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/tsp"
)

// RegisterSimulatedPhone signs up an account for email and registers a
// phone with the device public key (DER) at the wallet service, and
// returns the phone as the token service knows it: the nettest.Registrar
// of the authorization benchmark and of tests that provision simulated
// phones. It fails with fault.Unavailable when this process runs no wallet
// role, and with the wallet service's errors.
func (p *Platform) RegisterSimulatedPhone(ctx context.Context, email string, publicKey []byte) (tsp.Device, error) {
	if p.Wallet == nil {
		return tsp.Device{}, fault.E(fault.Unavailable, "no_wallet", "this process runs no wallet role")
	}
	acc, err := p.Wallet.SignUp(ctx, email, "bench-password-1", "nettest")
	if err != nil {
		return tsp.Device{}, err
	}
	ph, err := p.Wallet.RegisterPhone(ctx, acc.ID, "simulated phone", "nettest", publicKey, "nettest")
	return tsp.Device{ID: ph.ID, AccountID: ph.AccountID, PublicKey: ph.PublicKey}, err
}
