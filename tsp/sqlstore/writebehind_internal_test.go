package sqlstore

import (
	"reflect"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/tsp"
)

// TestUseRecord: a key use comes back from its journal record as it was
// (the time to the millisecond, as SQL keeps it); every shorter or longer
// record, and another version, is refused without a panic.
func TestUseRecord(t *testing.T) {
	u := tsp.KeyUse{Token: "6288990000000012345", KeyIndex: 70000, ATC: 65535, At: time.Now(), Cryptogram: []byte{1, 2, 3, 4, 5, 6, 7, 8}}
	rec := encodeUse(u)
	got, err := decodeUse(rec)
	want := u
	want.At = sqldb.Time(sqldb.Millis(u.At))
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip: got %+v (%v), want %+v", got, err, want)
	}
	for i := range rec {
		if _, err := decodeUse(rec[:i]); err == nil {
			t.Errorf("the first %d of %d bytes decoded", i, len(rec))
		}
	}
	if _, err := decodeUse(append(rec, 0)); err == nil {
		t.Error("a record with a byte more decoded")
	}
	other := append([]byte{2}, rec[1:]...)
	if _, err := decodeUse(other); err == nil {
		t.Error("version 2 decoded")
	}
}
