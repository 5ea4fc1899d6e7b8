package sqlstore_test

import (
	"context"
	"os"
	"testing"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/keystore/soft"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/tsp/sqlstore"
	"github.com/tapwallet/tapwallet/tsp/tsptest"
)

// each runs fn on a fresh token store in its own wing: on SQLite always,
// reading SQL and from memory (Sole), on PostgreSQL when
// TAPWALLET_TEST_POSTGRES is set.
func each(t *testing.T, fn func(t *testing.T, st *sqlstore.Store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, openWing(t, "", t.TempDir())) })
	t.Run("sqlite-memory", func(t *testing.T) { fn(t, openWing(t, "", t.TempDir(), sqlstore.Sole())) })
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		t.Run("postgres", func(t *testing.T) { fn(t, openWing(t, sqldbtest.PostgresDSN(t), "")) })
	}
}

// openWing opens a token store in its own wing, closed when t ends.
func openWing(t testing.TB, dsn, dir string, opts ...sqlstore.Option) *sqlstore.Store {
	st, err := sqlstore.Open(context.Background(), dsn, dir, opts...)
	if err != nil {
		t.Fatalf("open the tsp wing: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestConformance runs the token store suite on the SQL store, each case
// on a fresh wing.
func TestConformance(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		tsptest.Run(t, func(t *testing.T) tsp.Store { return openWing(t, "", t.TempDir()) })
	})
	t.Run("sqlite-memory", func(t *testing.T) {
		tsptest.Run(t, func(t *testing.T) tsp.Store { return openWing(t, "", t.TempDir(), sqlstore.Sole()) })
	})
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		t.Run("postgres", func(t *testing.T) {
			tsptest.Run(t, func(t *testing.T) tsp.Store { return openWing(t, sqldbtest.PostgresDSN(t), "") })
		})
	}
}

// TestTokenKey: the authorization path's one read of a token and one of
// its keys finds what Token and LUK find apart.
func TestTokenKey(t *testing.T) {
	each(t, func(t *testing.T, st *sqlstore.Store) {
		ctx := context.Background()
		s := tsptest.NewService(t, st)
		res, err := s.AddCard(ctx, tsp.AddCardRequest{Device: tsptest.NewDevice(t), PAN: tsptest.PAN("622999", 3), Expiry: "1230", CVN2: "123"})
		if err != nil || res.Card == nil {
			t.Fatalf("add card: got %v, want a provisioned token", err)
		}
		number := res.Card.Token.Number.Digits()
		want, err := st.Token(ctx, number)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := st.LUKs(ctx, number)
		if err != nil || len(keys) == 0 {
			t.Fatalf("keys: got %d (%v), want some", len(keys), err)
		}
		tests := []struct {
			name  string
			index int
			want  *tsp.LUK
		}{
			{"first key", keys[0].Index, &keys[0]},
			{"last key", keys[len(keys)-1].Index, &keys[len(keys)-1]},
			{"key never issued", 9999, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				tok, k, err := st.TokenKey(ctx, number, tc.index)
				if err != nil {
					t.Fatalf("TokenKey: %v", err)
				}
				if tok.Number != want.Number || tok.PhoneID != want.PhoneID || tok.LastATC != want.LastATC || tok.PAR != want.PAR || tok.PANLast4 != want.PANLast4 {
					t.Errorf("token: got %+v, want %+v", tok, want)
				}
				switch {
				case tc.want == nil && k != nil:
					t.Errorf("key: got %+v, want none", *k)
				case tc.want != nil && k == nil:
					t.Errorf("key: got none, want index %d", tc.want.Index)
				case tc.want != nil && (k.Token != tc.want.Token || k.Index != tc.want.Index || !k.ExpiresAt.Equal(tc.want.ExpiresAt) || !k.UsedAt.Equal(tc.want.UsedAt)):
					t.Errorf("key: got %+v, want %+v", *k, *tc.want)
				}
			})
		}
		if _, _, err := st.TokenKey(ctx, "6299990000000001", 1); fault.KindOf(err) != fault.NotFound {
			t.Errorf("unknown token: got %v, want not found", err)
		}
	})
}

// TestWingAlone: the tsp wing holds the token service's tables and no
// other party's (its statements could not reach them: on PostgreSQL the
// search path is the wing's schema alone).
func TestWingAlone(t *testing.T) {
	each(t, func(t *testing.T, st *sqlstore.Store) {
		ctx := context.Background()
		for _, table := range []string{"phones", "accounts", "switch_auths"} {
			if _, err := st.DB.SQL().ExecContext(ctx, "SELECT 1 FROM "+table); err == nil {
				t.Errorf("the tsp wing reaches table %s, want no such table", table)
			}
		}
		for _, table := range []string{"vault_pans", "tokens", "luks", "bindings", "otp_outbox", "token_events", "devices"} {
			if _, err := st.DB.SQL().ExecContext(ctx, "SELECT 1 FROM "+table); err != nil {
				t.Errorf("table %s: %v", table, err)
			}
		}
	})
}

// TestRewrap: after a rotation of the master key, Rewrap re-seals the
// vault's card numbers and a pending binding's under the new key; each
// still opens with its record's aad, and a second pass changes nothing.
func TestRewrap(t *testing.T) {
	each(t, func(t *testing.T, st *sqlstore.Store) {
		ctx := context.Background()
		s := tsptest.NewService(t, st)
		d := tsptest.NewDevice(t)
		for i := 0; i < 3; i++ {
			if _, err := s.AddCard(ctx, tsp.AddCardRequest{Device: d, PAN: tsptest.PAN("622999", i), Expiry: "1230", CVN2: "123"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.AddCard(ctx, tsp.AddCardRequest{Device: d, PAN: tsptest.PAN("622998", 1), Expiry: "1230", CVN2: "123"}); err != nil {
			t.Fatal(err)
		}
		keys := s.Keys.(*soft.Store).File()
		if _, err := keys.Rotate(); err != nil {
			t.Fatal(err)
		}
		n, err := st.Rewrap(ctx, keys.Rewrap)
		if err != nil || n != 4 {
			t.Fatalf("rewrap: got %d (%v), want 3 vault records and 1 binding", n, err)
		}
		if n, err := st.Rewrap(ctx, keys.Rewrap); err != nil || n != 0 {
			t.Errorf("second rewrap: got %d (%v), want 0", n, err)
		}
		rows, err := st.DB.SQL().Query("SELECT id, pan_sealed FROM vault_pans")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var vid string
			var sealed []byte
			if err := rows.Scan(&vid, &sealed); err != nil {
				t.Fatal(err)
			}
			if _, err := keys.Open(sealed, []byte("vault:"+vid)); err != nil {
				t.Errorf("vault record %s does not open after the rewrap: %v", vid, err)
			}
		}
	})
}
