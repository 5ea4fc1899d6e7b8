package portal

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// FuzzPasskeyBody feeds the passkey script's JSON parser anything: it
// never panics, and what it accepts keeps to its bounds.
func FuzzPasskeyBody(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"password":"correct horse battery"}`, `{"name":"My passkey","password":"pw"}`,
		`{"ceremony":"abc-DEF_123","credential":{"id":"AQID","type":"public-key"}}`,
		`{"ceremony":"x","credential":null}`, `{"credential":[1,2]}`, `{"unknown":1}`, `{"name":"\u0000"}`,
		`{} {}`, `{"password":`, ``, `null`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pb, err := parsePasskeyBody(b)
		if err != nil {
			if fault.KindOf(err) != fault.Invalid {
				t.Fatalf("error kind: got %s, want invalid (%v)", fault.KindOf(err), err)
			}
			return
		}
		if len(pb.Ceremony) > 100 || len(pb.Password) > 256 || len(pb.Credential) > MaxCredential || pb.Name == "" || len([]rune(pb.Name)) > 64 {
			t.Fatalf("accepted out of bounds: %+v", pb)
		}
	})
}

func TestParsePasskeyBody(t *testing.T) {
	tests := []struct {
		name, body, wantCode, wantName string
	}{
		{"begin", `{"name":" Laptop ","password":"pw"}`, "", "Laptop"},
		{"finish", `{"ceremony":"abc","credential":{"id":"x"}}`, "", "Passkey"},
		{"unknown field", `{"pin":"1234"}`, "bad_json", ""},
		{"two objects", `{} {}`, "bad_json", ""},
		{"empty", ``, "bad_json", ""},
		{"credential not an object", `{"credential":"x"}`, "bad_field", ""},
		{"ceremony with odd characters", `{"ceremony":"../x"}`, "bad_field", ""},
		{"control character in name", `{"name":"a\u0007b"}`, "bad_field", ""},
		{"name too long", `{"name":"` + strings.Repeat("n", 65) + `"}`, "bad_field", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pb, err := parsePasskeyBody([]byte(tt.body))
			if got := fault.CodeOf(err); tt.wantCode != "" && got != tt.wantCode || tt.wantCode == "" && err != nil {
				t.Fatalf("got %v, want code %q", err, tt.wantCode)
			}
			if tt.wantCode == "" && pb.Name != tt.wantName {
				t.Fatalf("name: got %q, want %q", pb.Name, tt.wantName)
			}
		})
	}
}

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/phones/ph_1", "/phones/ph_1"}, {"", "/phones"}, {"//evil.example/x", "/phones"},
		{"https://evil.example", "/phones"}, {"/login", "/phones"}, {"/phones?x=1", "/phones"}, {`/\evil`, "/phones"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := safeNext(tt.in); got != tt.want {
				t.Fatalf("safeNext(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestMapGolden pins the drawing of a phone's place (go test -update
// rewrites testdata/map_*.svg; open them in a browser to look).
func TestMapGolden(t *testing.T) {
	places := []struct {
		name     string
		lat, lon float64
	}{
		{"beijing", 39.90872, 116.39748},
		{"sydney", -33.8688, 151.2093},
		{"reykjavik", 64.1466, -21.9426},
	}
	for _, pl := range places {
		t.Run(pl.name, func(t *testing.T) {
			got := string(drawMap(pl.lat, pl.lon))
			path := filepath.Join("testdata", "map_"+pl.name+".svg")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Fatalf("map of %s: got\n%s\nwant\n%s", pl.name, got, want)
			}
		})
	}
}

func TestPlaceWords(t *testing.T) {
	tests := []struct {
		lat, lon          float64
		wantPlace, wantNr string
	}{
		{39.90872, 116.39748, "39.90872° N, 116.39748° E", "984 m from the centre of Beijing"},
		{31.2304, 121.4737, "31.23040° N, 121.47370° E", "0 m from the centre of Shanghai"},
		{-33.8688, 151.2093, "33.86880° S, 151.20930° E", ""},
		{40.0, -74.0, "40.00000° N, 74.00000° W", ""},
	}
	for _, tt := range tests {
		t.Run(tt.wantPlace, func(t *testing.T) {
			if got := formatPlace(tt.lat, tt.lon); got != tt.wantPlace {
				t.Errorf("place: got %q, want %q", got, tt.wantPlace)
			}
			if got := nearest(tt.lat, tt.lon); got != tt.wantNr {
				t.Errorf("nearest: got %q, want %q", got, tt.wantNr)
			}
		})
	}
}

func TestAge(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		ago  time.Duration
		want string
	}{
		{10 * time.Second, "just now"}, {90 * time.Second, "1 minute ago"}, {59 * time.Minute, "59 minutes ago"},
		{61 * time.Minute, "1 hour ago"}, {5 * time.Hour, "5 hours ago"}, {72 * time.Hour, "3 days ago"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := age(now, now.Add(-tt.ago)); got != tt.want {
				t.Fatalf("age of %v: got %q, want %q", tt.ago, got, tt.want)
			}
		})
	}
	if got := age(now, time.Time{}); got != "never" {
		t.Fatalf("age of the zero time: got %q, want never", got)
	}
}
