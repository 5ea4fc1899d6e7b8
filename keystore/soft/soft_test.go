package soft_test

import (
	"path/filepath"
	"testing"

	"github.com/tapwallet/tapwallet/keystore/keystoretest"
	"github.com/tapwallet/tapwallet/keystore/soft"
)

// TestConformance runs the key-store conformance suite on the key file.
func TestConformance(t *testing.T) {
	s, err := soft.Open(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	keystoretest.Run(t, s)
}
