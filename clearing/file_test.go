package clearing_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/clearing"
	"github.com/tapwallet/tapwallet/promo"
)

// sampleV3 is the version 3 sample (testdata/TWCLR-v3.golden).
func sampleV3() clearing.File {
	return clearing.File{
		Header: clearing.Header{Version: "3", Date: "20260314", Party: "icbc", CreatedAt: time.Date(2026, 3, 15, 0, 5, 1, 0, time.UTC)},
		Details: []clearing.Detail{
			{LocalDate: "20260314", LocalTime: "172653", RRN: "607309004711", STAN: "004711", Terminal: "T0000001", Merchant: "898310054110001",
				PANLast4: "0007", Amount: 12345, Currency: 156, AuthCode: "A1B2C3", Bank: "icbc", Acquirer: "48021000", Transmission: "0314092653"},
			{LocalDate: "20260314", LocalTime: "173002", RRN: "607309004712", STAN: "004712", Terminal: "T0000001", Merchant: "898310054110001",
				PANLast4: "0005", Amount: 800, Currency: 156, AuthCode: "553901", Bank: "icbc", Acquirer: "48021000", Transmission: "0314093002"},
			{Credit: true, LocalDate: "20260314", LocalTime: "181500", RRN: "607309004711", STAN: "004713", Terminal: "T0000001", Merchant: "898310054110001",
				PANLast4: "0007", Amount: 2345, Currency: 156, AuthCode: "K7P2Q9", Bank: "icbc", Acquirer: "48021000", Transmission: "0314101500"},
		},
	}
}

// samplePAR is a payment account reference as the token service makes them.
const samplePAR = "U001ABCDEFGHJKLMNPQRSTUVWXY23"

// sampleFile is the version 4 sample (testdata/TWCLR.golden): a purchase
// without a promotion, an instant discount of ¥5.00 on ¥13.00 funded by
// the network, the bank and the merchant, a statement credit of ¥2.50 on
// ¥50.00, the refund of the first purchase and a half refund of the
// discounted one (the funders get half their shares back).
func sampleFile() clearing.File {
	f := sampleV3()
	f.Header.Version = ""
	f.Details[0].MCC, f.Details[0].PAR = "5812", samplePAR
	f.Details[1].MCC, f.Details[1].PAR = "5411", samplePAR
	f.Details[1].Promo = &promo.Redemption{Campaign: "icbc-lunch", Fulfilment: promo.FulfilInstant, Merchant: "898310054110001", CardBank: "icbc",
		Gross: 1300, Net: 800, Discount: 500, Shares: []promo.Share{
			{Kind: promo.FunderNetwork, Party: "network", Amount: 300}, {Kind: promo.FunderIssuer, Party: "icbc", Amount: 150},
			{Kind: promo.FunderMerchant, Party: "898310054110001", Amount: 50}}}
	credit := clearing.Detail{LocalDate: "20260314", LocalTime: "174500", RRN: "607309004714", STAN: "004714", Terminal: "T0000002", Merchant: "898310054110002",
		PANLast4: "0005", Amount: 5000, Currency: 156, AuthCode: "553902", Bank: "icbc", Acquirer: "48021000", Transmission: "0314094500", MCC: "5411",
		Promo: &promo.Redemption{Campaign: "ccb_grocery-5", Fulfilment: promo.FulfilStatementCredit, Merchant: "898310054110002", CardBank: "icbc",
			Gross: 5000, Net: 5000, Discount: 250, Shares: []promo.Share{{Kind: promo.FunderIssuer, Party: "icbc", Amount: 250}}}}
	half := clearing.Detail{Credit: true, LocalDate: "20260314", LocalTime: "190000", RRN: "607309004712", STAN: "004715", Terminal: "T0000001", Merchant: "898310054110001",
		PANLast4: "0005", Amount: 400, Currency: 156, AuthCode: "K7P2R1", Bank: "icbc", Acquirer: "48021000", Transmission: "0314110000", MCC: "5411", PAR: samplePAR,
		Promo: &promo.Redemption{Campaign: "icbc-lunch", Fulfilment: promo.FulfilInstant, Merchant: "898310054110001", CardBank: "icbc",
			Gross: 650, Net: 400, Discount: 250, Shares: []promo.Share{
				{Kind: promo.FunderNetwork, Party: "network", Amount: 150}, {Kind: promo.FunderIssuer, Party: "icbc", Amount: 75},
				{Kind: promo.FunderMerchant, Party: "898310054110001", Amount: 25}}}}
	f.Details = []clearing.Detail{f.Details[0], f.Details[1], credit, f.Details[2], half}
	for i := range f.Details {
		f.Details[i].Seq = i + 1
	}
	return f
}

// v1File is a version 1 file: purchases only, a three-field trailer.
const v1File = `H|TWCLR|1|20260314|icbc|20260315T000501Z
D|1|20260314|172653|607309004711|004711|T0000001|898310054110001|0007|12345|156|A1B2C3|icbc|48021000
T|1|156:12345
`

// TestFileGolden checks the clearing file against testdata/TWCLR.golden
// (rewrite with go test ./clearing -run Golden -update) and that it reads back.
func TestFileGolden(t *testing.T) {
	b, err := sampleFile().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "TWCLR.golden")
	checkGolden(t, golden, b)
	f, err := clearing.ParseFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if f.Header.Version != "4" {
		t.Errorf("got version %q, want 4", f.Header.Version)
	}
	// Everything reads back as written; of a promotion the record gives
	// the campaign, fulfilment, gross, discount and shares, and the
	// merchant, bank and net are the record's own.
	if want := sampleFile(); !reflect.DeepEqual(f.Details, want.Details) {
		t.Errorf("got\n%+v\nwant\n%+v", f.Details, want.Details)
	}
	if got := f.PromoDebits()[156]; got != 750 {
		t.Errorf("got promotion debits %d, want 750 (500 + 250)", got)
	}
	if got := f.PromoCredits()[156]; got != 250 {
		t.Errorf("got promotion credits %d, want 250", got)
	}
	if got := f.Totals()[156]; got != 12345+800+5000 {
		t.Errorf("got debit totals %d, want the nets", got)
	}
}

// TestFileGoldenV3 writes the version 3 sample as version 3
// (testdata/TWCLR-v3.golden), reads it back and refuses to write a version
// 4 field into it.
func TestFileGoldenV3(t *testing.T) {
	b, err := sampleV3().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, filepath.Join("testdata", "TWCLR-v3.golden"), b)
	f, err := clearing.ParseFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if f.Header.Version != "3" || !reflect.DeepEqual(f.Details, func() []clearing.Detail {
		ds := sampleV3().Details
		for i := range ds {
			ds[i].Seq = i + 1
		}
		return ds
	}()) {
		t.Errorf("got %+v, want the version 3 sample back", f)
	}
	for _, mod := range []func(*clearing.Detail){
		func(d *clearing.Detail) { d.MCC = "5812" },
		func(d *clearing.Detail) { d.PAR = samplePAR },
		func(d *clearing.Detail) { d.Promo = sampleFile().Details[1].Promo },
	} {
		v3 := sampleV3()
		mod(&v3.Details[1])
		if _, err := v3.Marshal(); err == nil || !strings.Contains(err.Error(), "version 3 file has no MCC, PAR or promotion") {
			t.Errorf("got %v writing a version 4 field into a version 3 file, want an error", err)
		}
	}
}

func checkGolden(t *testing.T, golden string, b []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
}

// TestFileVersion1 reads a version 1 file and writes it back as it was;
// a credit record has no place in one.
func TestFileVersion1(t *testing.T) {
	f, err := clearing.ParseFile(strings.NewReader(v1File))
	if err != nil {
		t.Fatal(err)
	}
	if f.Header.Version != "1" || len(f.Details) != 1 {
		t.Fatalf("got version %q and %d details, want 1 and 1", f.Header.Version, len(f.Details))
	}
	b, err := f.Marshal()
	if err != nil || string(b) != v1File {
		t.Errorf("got %q %v, want the file back", b, err)
	}
	f.Details = append(f.Details, clearing.Detail{Credit: true, LocalDate: "20260314", LocalTime: "181500", PANLast4: "0007", Amount: 1, Currency: 156})
	if _, err := f.Marshal(); err == nil {
		t.Error("got a version 1 file with a credit record, want an error")
	}
}

func TestFileRefusesPipes(t *testing.T) {
	f := sampleFile()
	f.Details[0].Merchant = "SHOP|1"
	if _, err := f.Marshal(); err == nil {
		t.Fatal("got a file with a '|' inside a field, want an error")
	}
}

func TestParseFileErrors(t *testing.T) {
	good, _ := sampleV3().Marshal()
	lines := strings.Split(strings.TrimSuffix(string(good), "\n"), "\n")
	join := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
	tests := []struct {
		name, file, want string
	}{
		{"empty", "", "empty"},
		{"unknown header", join(strings.Replace(lines[0], "TWCLR", "XXXXX", 1), lines[1], lines[2], lines[3]), "header"},
		{"no trailer", join(lines[0], lines[1], lines[2]), "no trailer"},
		{"count mismatch", join(lines[0], lines[1], lines[2], lines[3], "T|4|156:13145|156:2345"), "counts"},
		{"totals mismatch", join(lines[0], lines[1], lines[2], lines[3], "T|3|156:13146|156:2345"), "totals"},
		{"credit totals mismatch", join(lines[0], lines[1], lines[2], lines[3], "T|3|156:13145|156:2344"), "totals"},
		{"credit counted as debit", join(lines[0], lines[1], lines[2], lines[3], "T|3|156:15490|"), "totals"},
		{"three-field trailer in version 3", join(lines[0], lines[1], lines[2], lines[3], "T|3|156:13145"), "4 fields"},
		{"credit in version 1", join(strings.Replace(lines[0], "|3|", "|1|", 1), strings.Replace(lines[3], "C|3|", "C|1|", 1), "T|1|156:2345"), "unknown record"},
		{"version 5", join(strings.Replace(lines[0], "|3|", "|5|", 1), lines[1], lines[2], lines[3], lines[4]), "header"},
		{"version 3 records in version 4", join(strings.Replace(lines[0], "|3|", "|4|", 1), lines[1], lines[2], lines[3], lines[4]), "21 fields"},
		{"no transmission in version 3", join(lines[0], strings.TrimSuffix(lines[1], "|0314092653"), lines[2], lines[3], lines[4]), "15 fields"},
		{"transmission not a date", join(lines[0], strings.Replace(lines[1], "|0314092653", "|1314092653", 1), lines[2], lines[3], lines[4]), "transmission"},
		{"transmission not digits", join(lines[0], strings.Replace(lines[1], "|0314092653", "|03140926 3", 1), lines[2], lines[3], lines[4]), "transmission"},
		{"version 3 record in version 2", join(strings.Replace(lines[0], "|3|", "|2|", 1), lines[1], lines[2], lines[3], lines[4]), "14 fields"},
		{"sequence gap", join(lines[0], lines[1], strings.Replace(lines[2], "D|2|", "D|3|", 1), lines[3], lines[4]), "sequence"},
		{"more than last four", join(lines[0], strings.Replace(lines[1], "|0007|", "|6222020000000007|", 1), lines[2], lines[3], lines[4]), "last four"},
		{"after the trailer", join(lines[0], lines[1], lines[2], lines[3], lines[4], lines[1]), "after the trailer"},
		{"unknown record", join(lines[0], "X|1", lines[4]), "unknown record"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := clearing.ParseFile(strings.NewReader(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "6222020000000007") {
				t.Error("the error text holds a card number")
			}
		})
	}
}

// FuzzParseFile: the reader never panics, and what it reads writes back
// the same. Seeds: testdata/fuzz/FuzzParseFile and the golden file.
func FuzzParseFile(f *testing.F) {
	good, _ := sampleFile().Marshal()
	f.Add(good)
	f.Add([]byte("H|TWCLR|1|20260314|icbc|20260315T000501Z\nT|0|\n"))
	f.Add([]byte(v1File))
	v3, _ := sampleV3().Marshal()
	f.Add(v3)
	f.Add([]byte("H|TWCLR|2|20260314|icbc|20260315T000501Z\nT|0||\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := clearing.ParseFile(bytes.NewReader(b))
		if err != nil {
			return
		}
		out, err := file.Marshal()
		if err != nil {
			return // a field with a line break cannot come from a line, but '|' cannot either
		}
		again, err := clearing.ParseFile(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("a file that read does not read again after writing: %v", err)
		}
		if len(again.Details) != len(file.Details) {
			t.Fatalf("got %d details after writing, want %d", len(again.Details), len(file.Details))
		}
		if back, _ := again.Marshal(); !bytes.Equal(back, out) {
			t.Fatalf("the file does not write back the same:\n%s\nthen\n%s", out, back)
		}
	})
}

// TestParseFileErrorsV4 damages the version 4 sample's promotion and
// fields one way at a time: each file is refused whole, naming the line
// and what is wrong.
func TestParseFileErrorsV4(t *testing.T) {
	good, err := sampleFile().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(good), "\n"), "\n")
	// lines: 0 header, 1 D plain, 2 D instant, 3 D credit, 4 C plain, 5 C half refund, 6 trailer
	with := func(i int, edit func([]string) []string) string {
		ls := append([]string(nil), lines...)
		ls[i] = strings.Join(edit(strings.Split(ls[i], "|")), "|")
		return strings.Join(ls, "\n") + "\n"
	}
	set := func(i int, v string) func([]string) []string {
		return func(f []string) []string { f[i] = v; return f }
	}
	tests := []struct {
		name, file, want string
	}{
		{"shares not adding up to the discount", with(2, set(26, "149")), "line 3: the funder shares do not add up to the discount"},
		{"discount not the shares", with(2, set(20, "499")), "line 3: the funder shares do not add up to the discount"},
		{"gross is not amount + shares (instant)", with(2, set(19, "1301")), "line 3: the gross (field 20) of an instant discount is not the amount"},
		{"amount is the gross (instant)", with(2, set(9, "1300")), "line 3: the gross (field 20) of an instant discount"},
		{"credit's gross is not the amount", with(3, set(19, "5250")), "line 4: the gross (field 20) of a credit or points after clearing"},
		{"refund's gross is not amount + parts", with(5, set(19, "649")), "line 6: the refunded gross (field 20)"},
		{"negative share", with(2, func(f []string) []string { f[23], f[26] = "-150", "350"; return f }), "line 3: field 24 (share) must be an amount"},
		{"signed share", with(2, set(23, "+150")), "line 3: field 24 (share) must be an amount"},
		{"negative gross", with(2, set(19, "-1300")), "line 3: field 20 (gross) must be a positive amount"},
		{"zero gross", with(2, set(19, "0")), "line 3: field 20 (gross) must be a positive amount"},
		{"negative discount", with(2, set(20, "-500")), "line 3: field 21 (discount) must be an amount"},
		{"unknown fulfilment", with(2, set(18, "cashback")), "line 3: field 19 (fulfilment) must be instant, statement_credit or points"},
		{"unknown funder kind", with(2, set(21, "acquirer")), "line 3: field 22 (funder kind) must be network, issuer or merchant"},
		{"network share of another party", with(2, set(22, "icbc")), "line 3: field 23 (funder) must be network"},
		{"issuer share not a bank id", with(2, set(25, "ICBC")), "line 3: field 26 (funder) must be a bank id"},
		{"merchant share too long", with(2, set(28, "8983100541100011")), "line 3: field 29 (funder) must be a merchant id"},
		{"bad campaign id", with(2, set(17, "lunch!")), "line 3: field 18 (campaign) must be a campaign id"},
		{"no shares", with(2, func(f []string) []string { return f[:21] }), "line 3: a promotion has at least one funder share"},
		{"a share cut short", with(2, func(f []string) []string { return f[:len(f)-1] }), "line 3: a detail record has 21 fields, or 3 more per funder share"},
		{"a share without a promotion", with(1, func(f []string) []string { return append(f, "network", "network", "0") }), "line 2: field 22 (funder kind) must be empty"},
		{"a gross without a campaign", with(1, set(19, "100")), "line 2: field 20 (gross) must be empty"},
		{"a funder twice", with(2, func(f []string) []string { f[24], f[25], f[26] = "network", "network", "150"; return f }), "line 3: a funder has two shares"},
		{"discount the whole gross", with(3, func(f []string) []string { f[20], f[23] = "5000", "5000"; return f }), "line 4: a presentment's discount must be at least 1 and below the gross"},
		{"MCC not 4 digits", with(1, set(15, "581")), "line 2: field 16 (MCC) must be 4 digits"},
		{"PAR too short", with(1, set(16, samplePAR[1:])), "line 2: field 17 (PAR) must be 29 letters or digits"},
		{"promotion totals do not match", with(6, set(4, "156:749")), "line 7: the trailer's promotion totals do not match"},
		{"promotion credit totals do not match", with(6, set(5, "")), "line 7: the trailer's promotion totals do not match"},
		{"version 3 trailer", with(6, func(f []string) []string { return f[:4] }), "line 7: a trailer has 6 fields"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := clearing.ParseFile(strings.NewReader(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), samplePAR[1:]) {
				t.Error("the error text repeats the PAR")
			}
		})
	}
	// The writer refuses what the reader would: no file the bank refuses
	// leaves the network.
	for _, tc := range []struct {
		name string
		mod  func(*clearing.Detail)
	}{
		{"shares not adding up", func(d *clearing.Detail) { d.Promo.Shares[0].Amount++ }},
		{"net not the amount", func(d *clearing.Detail) { d.Amount++ }},
		{"negative share", func(d *clearing.Detail) { d.Promo.Shares[0].Amount, d.Promo.Shares[1].Amount = -1, 451 }},
		{"unknown fulfilment", func(d *clearing.Detail) { d.Promo.Fulfilment = "cashback" }},
		{"network share of a bank", func(d *clearing.Detail) { d.Promo.Shares[0].Party = "icbc" }},
		{"no shares", func(d *clearing.Detail) { d.Promo.Shares, d.Promo.Discount, d.Amount = nil, 0, 1300 }},
		{"bad MCC", func(d *clearing.Detail) { d.MCC = "58a2" }},
	} {
		f := sampleFile()
		tc.mod(&f.Details[1])
		if _, err := f.Marshal(); err == nil || !strings.Contains(err.Error(), "record 2") {
			t.Errorf("%s: got %v, want the writer to refuse detail record 2", tc.name, err)
		}
	}
}
