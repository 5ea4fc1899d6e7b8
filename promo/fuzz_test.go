package promo_test

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/promo"
)

// FuzzParseFile: any input is either refused with an invalid-campaign
// error and no campaigns, or accepted as campaigns that each validate and
// come back the same after writing them out and reading them again.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte(valid))
	if b, err := os.ReadFile("defaults.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(strings.Replace(valid, `"fixed", "threshold": "100.00", "amount": "50.00"`, `"random", "min": "0.01", "max": "9.99"`, 1)))
	f.Add([]byte(`{"campaigns": []}`))
	f.Add([]byte(`{"campaigns": [{"id": "x", "budget": "1e3"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, err := promo.ParseFile(bytes.NewReader(data))
		if err != nil {
			if cs != nil {
				t.Fatalf("refused with %d campaigns", len(cs))
			}
			return
		}
		for i := range cs {
			c := cs[i]
			if err := c.Validate(); err != nil {
				t.Fatalf("accepted %q that does not validate: %v", c.ID, err)
			}
		}
		out, err := json.Marshal(struct {
			Campaigns []promo.Campaign `json:"campaigns"`
		}{cs})
		if err != nil {
			t.Fatal(err)
		}
		again, err := promo.ParseFile(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("written out, refused: %v\n%s", err, out)
		}
		for i := range cs {
			if !cs[i].Window.Start.Equal(again[i].Window.Start) || !cs[i].Window.End.Equal(again[i].Window.End) {
				t.Fatalf("window changed: %v -> %v", cs[i].Window, again[i].Window)
			}
			again[i].Window, cs[i].Window = promo.Window{}, promo.Window{}
		}
		if !reflect.DeepEqual(cs, again) {
			t.Fatalf("round trip changed the campaigns:\n%+v\n%+v", cs, again)
		}
	})
}
