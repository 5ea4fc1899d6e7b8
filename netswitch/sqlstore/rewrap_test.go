package sqlstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/keystore"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// TestRewrap: after a rotation of the master key, Rewrap re-seals the
// records' card numbers under the new key; each still opens with its
// record's aad, and a second pass changes nothing.
func TestRewrap(t *testing.T) {
	ctx := context.Background()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dsn, dir := "", t.TempDir()
			if backend == "postgres" {
				dsn, dir = sqldbtest.PostgresDSN(t), ""
			}
			st := open(t, ctx, dsn, dir)
			keys, err := keystore.OpenFile(filepath.Join(t.TempDir(), "keys.json"))
			if err != nil {
				t.Fatal(err)
			}
			const n = 5
			for i := range n {
				id := fmt.Sprintf("T1|%06d|0314090000", i)
				sealed, err := keys.Seal([]byte("6222020000000007"), []byte("switch:"+id))
				if err != nil {
					t.Fatal(err)
				}
				if err := st.SaveAuth(ctx, netswitch.Auth{ID: id, Digest: "d", SealedPAN: sealed, ResponseCode: "00", ReceivedAt: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			// A declined record holds no sealed PAN.
			if err := st.SaveAuth(ctx, netswitch.Auth{ID: "declined", Digest: "d", ResponseCode: "14", ReceivedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			if _, err := keys.Rotate(); err != nil {
				t.Fatal(err)
			}
			if got, err := st.Rewrap(ctx, keys.Rewrap); err != nil || got != n {
				t.Fatalf("rewrap: got %d (%v), want %d", got, err, n)
			}
			if got, err := st.Rewrap(ctx, keys.Rewrap); err != nil || got != 0 {
				t.Errorf("second rewrap: got %d (%v), want 0", got, err)
			}
			for i := range n {
				id := fmt.Sprintf("T1|%06d|0314090000", i)
				a, err := st.Auth(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				pan, err := keys.Open(a.SealedPAN, []byte("switch:"+id))
				if err != nil || string(pan) != "6222020000000007" {
					t.Errorf("record %s after the rewrap: %v", id, err)
				}
			}
		})
	}
}
