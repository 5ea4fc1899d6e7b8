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

// TestRewrapColumns: after a master key rotation every sealed value of the
// given column is re-wrapped under the new key (more rows than one batch),
// opens with its record's aad, a NULL stays NULL, and a second pass changes
// nothing.
func TestRewrapColumns(t *testing.T) {
	sqldbtest.EachPlace(t, func(t *testing.T, pl sqldb.Place) {
		ctx := context.Background()
		db := openAt(t, pl, beta)
		cols := [][2]string{{"secrets", "value_sealed"}}
		keys, err := keystore.OpenFile(filepath.Join(t.TempDir(), "keys.json"))
		if err != nil {
			t.Fatal(err)
		}
		const n = 450
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("s_%04d", i)
			sealed, _ := keys.Seal([]byte(fmt.Sprintf("62220200%08d", i)), []byte("secret:"+id))
			if err := db.InTx(ctx, func(tx *sqldb.Tx) error {
				_, err := tx.Exec(ctx, "INSERT INTO secrets (id, value_sealed) VALUES (?, ?)", id, sealed)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.InTx(ctx, func(tx *sqldb.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO secrets (id) VALUES (?)", "z_null")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := keys.RotateKind(keystore.Master); err != nil {
			t.Fatal(err)
		}
		got, err := db.RewrapColumns(ctx, cols, keys.Rewrap)
		if err != nil || got != n {
			t.Fatalf("rewrap: got %d, %v; want %d", got, err, n)
		}
		rows, err := db.Query(ctx, "SELECT id, value_sealed FROM secrets ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		i := 0
		for rows.Next() {
			var id string
			var sealed []byte
			if err := rows.Scan(&id, &sealed); err != nil {
				t.Fatal(err)
			}
			if id == "z_null" {
				if sealed != nil {
					t.Fatalf("a NULL value became %x", sealed)
				}
				continue
			}
			v, err := keys.Open(sealed, []byte("secret:"+id))
			if err != nil || !bytes.Equal(v, []byte(fmt.Sprintf("62220200%08d", i))) || keystore.SealedKeyID(sealed) != "k2" {
				t.Fatalf("%s: key %s, %v", id, keystore.SealedKeyID(sealed), err)
			}
			i++
		}
		if i != n {
			t.Fatalf("read %d sealed rows back, want %d", i, n)
		}
		if again, err := db.RewrapColumns(ctx, cols, keys.Rewrap); err != nil || again != 0 {
			t.Errorf("second pass: got %d, %v; want 0", again, err)
		}
	})
}
