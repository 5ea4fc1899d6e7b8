package sqldb_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/tapwallet/tapwallet/keystore"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// TestRewrapSealed: after a master key rotation every stored card number
// is re-wrapped under the new key (more rows than one batch), opens with
// its record's aad, and a second pass changes nothing.
func TestRewrapSealed(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		keys, err := keystore.OpenFile(filepath.Join(t.TempDir(), "keys.json"))
		if err != nil {
			t.Fatal(err)
		}
		const n = 450
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("pan_%04d", i)
			pan := fmt.Sprintf("62220200%08d", i)
			sealed, _ := keys.Seal([]byte(pan), []byte("vault:"+id))
			if err := db.InTx(ctx, func(tx *sqldb.Tx) error {
				_, err := tx.Exec(ctx, "INSERT INTO vault_pans (id, pan_index, pan_sealed, par, bin, last4, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
					id, keys.Index("pan", []byte(pan)), sealed, "PAR"+id, pan[:6], pan[12:], 1)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := keys.RotateKind(keystore.Master); err != nil {
			t.Fatal(err)
		}
		got, err := db.RewrapSealed(ctx, keys.Rewrap)
		if err != nil || got != n {
			t.Fatalf("rewrap: got %d, %v; want %d", got, err, n)
		}
		rows, err := db.Query(ctx, "SELECT id, pan_sealed FROM vault_pans ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		i := 0
		for rows.Next() {
			var id string
			var sealed []byte
			rows.Scan(&id, &sealed)
			pan, err := keys.Open(sealed, []byte("vault:"+id))
			if err != nil || !bytes.Equal(pan, []byte(fmt.Sprintf("62220200%08d", i))) || keystore.SealedKeyID(sealed) != "k2" {
				t.Fatalf("%s: key %s, %v", id, keystore.SealedKeyID(sealed), err)
			}
			i++
		}
		if again, err := db.RewrapSealed(ctx, keys.Rewrap); err != nil || again != 0 {
			t.Errorf("second pass: got %d, %v; want 0", again, err)
		}
	})
}
