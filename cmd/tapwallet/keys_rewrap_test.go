package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/keystore"
	"github.com/tapwallet/tapwallet/netswitch"
	netstore "github.com/tapwallet/tapwallet/netswitch/sqlstore"
	"github.com/tapwallet/tapwallet/sqldb"
	tspstore "github.com/tapwallet/tapwallet/tsp/sqlstore"
)

// TestKeysRotateRewrapsEachWing: keys rotate --kind master re-wraps the
// sealed card numbers of each wing that holds some — the token service's
// vault and the network's records — through the wings' own Rewrap (the
// kernel names no table), and each still opens, now under k2.
func TestKeysRotateRewrapsEachWing(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	keys, err := keystore.OpenFile(filepath.Join(data, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := tspstore.Open(ctx, "", data)
	if err != nil {
		t.Fatal(err)
	}
	defer tokens.Close()
	records, err := netstore.Open(ctx, "", data)
	if err != nil {
		t.Fatal(err)
	}
	defer records.Close()
	const n = 3
	for i := 0; i < n; i++ {
		pan := fmt.Sprintf("62220200%08d", i)
		id := fmt.Sprintf("pan_%d", i)
		sealed, _ := keys.Seal([]byte(pan), []byte("vault:"+id))
		if err := tokens.DB.InTx(ctx, func(tx *sqldb.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO vault_pans (id, pan_index, pan_sealed, par, bin, last4, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
				id, keys.Index("pan", []byte(pan)), sealed, "PAR"+id, pan[:6], pan[12:], 1)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		aid := fmt.Sprintf("T0000001|%06d|0101120000", i)
		sealed, _ = keys.Seal([]byte(pan), []byte("switch:"+aid))
		if err := records.SaveAuth(ctx, netswitch.Auth{ID: aid, SealedPAN: sealed}); err != nil {
			t.Fatal(err)
		}
	}
	out, errs, err := runCLI(t, nil, "keys", "rotate", "--kind", "master", "--data", data)
	if err != nil || !strings.Contains(out, fmt.Sprintf("re-wrapped %d stored card number(s) under k2", 2*n)) {
		t.Fatalf("keys rotate: %v\n%s%s", err, out, errs)
	}
	for _, w := range []struct {
		db     *sqldb.DB
		query  string
		prefix string
	}{{tokens.DB, "SELECT id, pan_sealed FROM vault_pans", "vault:"}, {records.DB, "SELECT id, pan_sealed FROM switch_auths", "switch:"}} {
		rows, err := w.db.Query(ctx, w.query)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for rows.Next() {
			var id string
			var sealed []byte
			rows.Scan(&id, &sealed)
			if _, err := keys.Open(sealed, []byte(w.prefix+id)); err != nil || keystore.SealedKeyID(sealed) != "k2" {
				t.Errorf("%s%s: under %s after the rotation (%v), want k2", w.prefix, id, keystore.SealedKeyID(sealed), err)
			}
			got++
		}
		rows.Close()
		if got != n {
			t.Errorf("%s: %d rows, want %d", w.prefix, got, n)
		}
	}
}
