package portal

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/money"
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
	en := newTr(LangEN, time.UTC)
	for _, pl := range places {
		t.Run(pl.name, func(t *testing.T) {
			got := string(drawMap(en, pl.lat, pl.lon, 5*time.Minute))
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
		{30.5928, 114.3055, "30.59280° N, 114.30550° E", "0 m from the centre of Wuhan"},
		{31.2304, 121.4737, "31.23040° N, 121.47370° E", "0 m from the centre of Shanghai"},
		{-33.8688, 151.2093, "33.86880° S, 151.20930° E", ""},
		{40.0, -74.0, "40.00000° N, 74.00000° W", ""},
	}
	for _, tt := range tests {
		t.Run(tt.wantPlace, func(t *testing.T) {
			if got := formatPlace(tt.lat, tt.lon); got != tt.wantPlace {
				t.Errorf("place: got %q, want %q", got, tt.wantPlace)
			}
			if got := nearest(newTr(LangEN, time.UTC), tt.lat, tt.lon); got != tt.wantNr {
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
		{10 * time.Second, "刚刚"}, {90 * time.Second, "1 分钟前"}, {5 * time.Hour, "5 小时前"}, {72 * time.Hour, "3 天前"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			lang := LangEN
			if strings.ContainsAny(tt.want, "刚前") {
				lang = LangZH
			}
			if got := newTr(lang, time.UTC).Age(now, now.Add(-tt.ago)); got != tt.want {
				t.Fatalf("age of %v: got %q, want %q", tt.ago, got, tt.want)
			}
		})
	}
	if got := newTr(LangEN, time.UTC).Age(now, time.Time{}); got != "never" {
		t.Fatalf("age of the zero time: got %q, want never", got)
	}
}

// TestCSVSafe: a cell a spreadsheet would run as a formula stays text.
func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{
		"=HYPERLINK(\"http://x\")": "'=HYPERLINK(\"http://x\")", "+1": "'+1", "-¥5.00": "'-¥5.00", "@SUM(A1)": "'@SUM(A1)",
		"\tx": "'\tx", "\rx": "'\rx", "Luckin Coffee": "Luckin Coffee", "": "", "a=b": "a=b",
	} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWords: codes become words in both languages, an unknown code gets
// its kind's sentence, and no code is left in them.
func TestWords(t *testing.T) {
	zh, en := newTr(LangZH, time.UTC), newTr(LangEN, time.UTC)
	for _, tt := range []struct {
		tr      *tr
		rc, why string
		want    string
	}{
		{zh, "54", "card_expired", "卡片已过期"}, {en, "54", "card_expired", "card expired"},
		{en, "14", "bad_luhn", "wrong card number (check digit)"}, {zh, "78", "token_suspended", "卡片已暂停（手机钱包已关闭）"},
		{en, "51", "issuer_declined", "insufficient funds"}, {en, "05", "something_new", "the bank did not approve it"},
		{zh, "X9", "", "未获批准"},
	} {
		if got := tt.tr.decline(tt.rc, tt.why); got != tt.want {
			t.Errorf("%s decline(%s, %s) = %q, want %q", tt.tr.lang, tt.rc, tt.why, got, tt.want)
		}
	}
	if got := en.errText(fault.E(fault.Invalid, "bad_luhn", "card number fails the Luhn check")); got != "Wrong card number (check digit)." {
		t.Errorf("bad_luhn: %q", got)
	}
	if got := zh.errText(fault.E(fault.Conflict, "no_such_code_anywhere", "x")); got != "与当前状态冲突，请刷新页面后重试。" {
		t.Errorf("an unknown code: %q", got)
	}
	if got := en.actor("portal:acc_123", "acc_999", nil); RawCode(got) != "" || got != "another session" {
		t.Errorf("another account's actor: %q", got)
	}
	if got := zh.actor("phone:ph_1", "acc_1", map[string]string{"ph_1": "小米"}); got != "您的手机“小米”" {
		t.Errorf("a phone actor: %q", got)
	}
	if got := en.N("phones.card_count", 1, "Active", 1); got != "1 card (1 active)" {
		t.Errorf("one card: %q", got)
	}
	if got := en.N("phones.card_count", 2, "Active", 0); got != "2 cards (0 active)" {
		t.Errorf("two cards: %q", got)
	}
	if got := en.detail("card_removed", "token ending 1234"); got != "card ending 1234" {
		t.Errorf("detail: %q", got)
	}
	for _, s := range []string{"card_expired", "portal:acc_x", "bind_12", "⟦x⟧", "err.bad_luhn"} {
		if RawCode("a "+s+" b") == "" {
			t.Errorf("RawCode misses %q", s)
		}
	}
	if c := RawCode("卡片已过期 · card expired · ¥12.34 · 2026-12-06 20:56 (UTC+8) · grace@example.com"); c != "" {
		t.Errorf("RawCode finds %q in words", c)
	}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	if got := newTr(LangZH, sh).When(time.Date(2026, 12, 6, 12, 56, 0, 0, time.UTC)); got != "2026-12-06 20:56 (UTC+8)" {
		t.Errorf("When: %q", got)
	}
	if got := Money(money.Fen(1234)); got != "¥12.34" {
		t.Errorf("Money: %q", got)
	}
	if got := moneyText("23.50 CNY"); got != "¥23.50" {
		t.Errorf("moneyText: %q", got)
	}
}
