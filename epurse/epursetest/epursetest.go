// Package epursetest makes transit purses with fixed test master keys, for
// the tests and benchmarks of the purse, the gate and its SAM, and the
// operator's clearing: keys are diversified exactly as the operator's host
// does, so a gate's SAM built from the same master keys accepts them.
// Never use it for a real card: real cards are personalised by the
// operator's host with keys from its key store.
package epursetest

import (
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/keystore"
)

// MasterKeys returns the fixed test master keys of a city (SHA-256 of the
// city and key name, cut to 16 bytes).
func MasterKeys(city string) epurse.MasterKeys {
	k := func(name string) keystore.Secret {
		h := sha256.Sum256([]byte("tapwallet test " + city + " " + name))
		return keystore.NewSecret(h[:16])
	}
	return epurse.MasterKeys{Purchase: k("purchase"), Load: k("load"), TAC: k("tac"), Maintenance: k("maintenance")}
}

// Store is a secure element's applet store in memory.
type Store struct {
	mu   sync.Mutex
	data map[string][]byte
	// Fail makes every save fail (to test that nothing half-done stays).
	Fail bool
}

// AppletData returns an applet's data.
func (s *Store) AppletData(name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.data[name]...)
}

// SetAppletData saves an applet's data, or fails if Fail is set.
func (s *Store) SetAppletData(name string, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail {
		return errFail{}
	}
	if s.data == nil {
		s.data = map[string][]byte{}
	}
	s.data[name] = append([]byte(nil), b...)
	return nil
}

type errFail struct{}

func (errFail) Error() string { return "the test store refuses to save" }

// Issued is the issue date of test cards.
var Issued = time.Date(2016, 4, 6, 9, 0, 0, 0, epurse.China)

// Perso returns the personalisation of a test card of a city with a
// balance, from MasterKeys.
func Perso(t testing.TB, cityID string, serial uint64, balance int64) epurse.Personalisation {
	t.Helper()
	c, err := fare.Default().City(cityID)
	if err != nil {
		t.Fatal(err)
	}
	p, err := epurse.NewPersonalisation(c, MasterKeys(cityID), epurse.NewCardNumber(c.AreaCode, serial), Issued)
	if err != nil {
		t.Fatal(err)
	}
	p.Balance = balance
	return p
}

// Purse installs a test card in a fresh store and returns it with the store.
func Purse(t testing.TB, cityID string, serial uint64, balance int64) (*epurse.Purse, *Store) {
	t.Helper()
	st := &Store{}
	p, err := epurse.Install(st, Perso(t, cityID, serial, balance))
	if err != nil {
		t.Fatal(err)
	}
	return p, st
}
