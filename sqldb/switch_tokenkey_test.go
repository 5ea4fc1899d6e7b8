package sqldb_test

import (
	"context"
	"testing"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
	"github.com/tapwallet/tapwallet/tsp"
)

// TestTokenKey: the authorization path's one read of a token and one of
// its keys finds what Token and LUK find apart.
func TestTokenKey(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		res, err := f.tokens.AddCard(ctx, tsp.AddCardRequest{Phone: f.phone, PAN: testPAN(3), Expiry: "1230", CVN2: "123"})
		if err != nil || res.Card == nil {
			t.Fatalf("add card: got %v, want a provisioned token", err)
		}
		number := res.Card.Token.Number.Digits()
		fast := sqldb.NewFastTokenStore(db)
		defer fast.Close()
		want, err := fast.Token(ctx, number)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := fast.LUKs(ctx, number)
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
				tok, k, err := fast.TokenKey(ctx, number, tc.index)
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
		t.Run("unknown token", func(t *testing.T) {
			if _, _, err := fast.TokenKey(ctx, "6299990000000001", 1); fault.KindOf(err) != fault.NotFound {
				t.Errorf("got %v, want not found", err)
			}
		})
	})
}
