package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// runEMVCommand runs the real program with "emv" and args.
func runEMVCommand(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(string) string { return "" }
	err = run(context.Background(), append([]string{"emv"}, args...), getenv, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

const imk = "0123456789ABCDEFFEDCBA9876543210"

// TestEMVCommandVectors checks every command against published vectors
// (sources in emv/testdata/vectors.json).
func TestEMVCommandVectors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"derive-mk option A (emv-basic)", []string{"derive-mk", "--imk", imk, "--pan", "12345678901234567", "--psn", "45"},
			"946DC1A8C78A624519BC4645CB073737"},
		{"derive-mk option A docstring (emv-basic)", []string{"derive-mk", "--imk", imk, "--pan", "99012345678901234", "--psn", "45", "--option", "a"},
			"67F8292358083E5EA7AB7FDA58D53B6B"},
		{"derive-mk option B (pyemv kd.py)", []string{"derive-mk", "--imk", imk, "--pan", "12345678901234567", "--psn", "01", "--option", "b", "--alg", "tdes"},
			"AD406D7F6D7570916D75E5DCAB8CF737"},
		{"derive-sk raw R (emv-basic)", []string{"derive-sk", "--mk", "946DC1A8C78A624519BC4645CB073737", "--r", "1234567890123456"},
			"C7AEDF49AEF2F146D692400E0B851A8F"},
		{"derive-sk ATC without UN (pyemv kd.py)", []string{"derive-sk", "--mk", imk, "--atc", "001C", "--scheme", "emv"},
			"E9FB384AF807B940FEDCEA613461B0C4"},
		{"arqc (emv-basic)", []string{"arqc", "--key", "C7AEDF49AEF2F146D692400E0B851A8F", "--data", "0123456789ABCDEF0123456789ABCDEF", "--pad", "2"},
			"19C1FBC83EBDC0D5"},
		{"arqc default padding (emv-basic ac.py)", []string{"arqc", "--key", "29B33180E567CE38EA4CBC9D753B0E61", "--data", "0123456789ABCDEF0123456789ABCDEF"},
			"FA624250B008B59A"},
		{"mac padding 1 (pyemv test_mac.py)", []string{"mac", "--key", "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB", "--data", "68656C6C6F20776F726C64", "--pad", "1"},
			"78DA3D3DEB48FD4D"},
		{"mac padding 2 (pyemv test_mac.py)", []string{"mac", "--key", "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB", "--data", "68656c6c6f20776f726c64", "--pad", "2"},
			"2BC2D9EDE0CF31F6"},
		{"mac sm4 (OpenSSL SM4-CBC vector)", []string{"mac", "--alg", "sm4", "--pad", "1", "--key", imk,
			"--data", "00000000000000000000000000000000" + imk}, "F6125F7275CE552C3A2BBCF533DE8A3B"},
		{"arpc method 1 with MK (emv-basic)", []string{"arpc", "--key", "946DC1A8C78A624519BC4645CB073737", "--arqc", "19C1FBC83EBDC0D5", "--arc", "0000"},
			"78A372523FA35A03"},
		{"arpc method 1 with SK (emv-basic)", []string{"arpc", "--key", "C7AEDF49AEF2F146D692400E0B851A8F", "--arqc", "19C1FBC83EBDC0D5", "--arc", "0000", "--method", "1"},
			"C3620580668E5B65"},
		{"arpc method 1 (emv-basic ac.py)", []string{"arpc", "--key", "29B33180E567CE38EA4CBC9D753B0E61", "--arqc", "FA624250B008B59A", "--arc", "0000"},
			"45D4255EEF10C920"},
		{"arpc method 2 (emv-basic ac.py)", []string{"arpc", "--key", "29B33180E567CE38EA4CBC9D753B0E61", "--arqc", "FA624250B008B59A", "--method", "2", "--csu", "00000000"},
			"CB56FA40"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runEMVCommand(t, "", tt.args...)
			if err != nil {
				t.Fatalf("got error %v (stderr %q), want none", err, errOut)
			}
			if out != tt.want+"\n" {
				t.Errorf("got %q, want %q", out, tt.want+"\n")
			}
		})
	}
}

// TestEMVCommandChain reproduces pyemv's test_derive_icc_mk_b_sha_pad with
// the commands in a row: option B master key, session key, ARQC, ARPC 2.
func TestEMVCommandChain(t *testing.T) {
	step := func(args ...string) string {
		t.Helper()
		out, errOut, err := runEMVCommand(t, "", args...)
		if err != nil {
			t.Fatalf("%v: %v (stderr %q)", args, err, errOut)
		}
		return strings.TrimSpace(out)
	}
	mk := step("derive-mk", "--imk", imk, "--pan", "000000000000000005", "--psn", "23", "--option", "b")
	sk := step("derive-sk", "--mk", mk, "--atc", "001C")
	arqc := step("arqc", "--key", sk, "--data", "0000000040000000000000000124800004800001241911050152BF45851800001C06011203A0B800")
	if arqc != "8CAD6F2489C640B1" {
		t.Errorf("arqc: got %s, want 8CAD6F2489C640B1", arqc)
	}
	arpc := step("arpc", "--method", "2", "--key", sk, "--arqc", arqc, "--csu", "00000000", "--prop", "12345678")
	if arpc != "E39F1876" {
		t.Errorf("arpc: got %s, want E39F1876", arpc)
	}
}

// TestEMVCommandSM4 checks the SM4 commands against the regression values
// of emv/testdata/vectors.json (computed, not published; see there).
func TestEMVCommandSM4(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"derive-mk", []string{"derive-mk", "--alg", "sm4", "--imk", imk, "--pan", "12345678901234567", "--psn", "45"}, "E3E7BEAC49EBE76BDBEFE5AAF52464F0"},
		{"derive-sk defaults to pboc", []string{"derive-sk", "--alg", "sm4", "--mk", "E3E7BEAC49EBE76BDBEFE5AAF52464F0", "--atc", "001C"}, "76EE179C6FA9FDFF6B5F622E6E87414E"},
		{"arqc", []string{"arqc", "--alg", "sm4", "--key", "76EE179C6FA9FDFF6B5F622E6E87414E", "--data", "0123456789ABCDEF0123456789ABCDEF"}, "56F6CD04C05A595F"},
		{"mac is 16 bytes", []string{"mac", "--alg", "sm4", "--key", "76EE179C6FA9FDFF6B5F622E6E87414E", "--data", "0123456789ABCDEF0123456789ABCDEF"}, "56F6CD04C05A595F19D7DB311AFA4E9A"},
		{"arpc method 1", []string{"arpc", "--alg", "sm4", "--key", "76EE179C6FA9FDFF6B5F622E6E87414E", "--arqc", "56F6CD04C05A595F", "--arc", "3030"}, "FB7FE958BF035E28"},
		{"arpc method 2", []string{"arpc", "--alg", "sm4", "--method", "2", "--key", "76EE179C6FA9FDFF6B5F622E6E87414E", "--arqc", "56F6CD04C05A595F", "--csu", "00000000"}, "ED200E4E"},
		{"tdes pboc session key", []string{"derive-sk", "--scheme", "pboc", "--mk", "946DC1A8C78A624519BC4645CB073737", "--atc", "001C"}, "AC2AC5A00C8C81A83C88E1AC928A72FE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runEMVCommand(t, "", tt.args...)
			if err != nil {
				t.Fatalf("got error %v (stderr %q), want none", err, errOut)
			}
			if out != tt.want+"\n" {
				t.Errorf("got %q, want %q", out, tt.want+"\n")
			}
		})
	}
}

func TestEMVCommandTLV(t *testing.T) {
	const fci = "6F1A840E315041592E5359532E4444463031A5088801025F2D027A68"
	want := `6F File Control Information (FCI) Template
  84 Dedicated File (DF) Name: 315041592E5359532E4444463031
  A5 FCI Proprietary Template
    88 Short File Identifier (SFI): 02
    5F2D Language Preference: 7A68 "zh"
`
	tests := []struct {
		name  string
		stdin string
		args  []string
	}{
		{"argument", "", []string{"tlv", fci}},
		{"argument with spaces", "", []string{"tlv", "6F1A 840E315041592E5359532E4444463031", "A5088801025F2D027A68"}},
		{"stdin", fci + "\n", []string{"tlv", "-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runEMVCommand(t, tt.stdin, tt.args...)
			if err != nil {
				t.Fatalf("got error %v (stderr %q), want none", err, errOut)
			}
			if out != want {
				t.Errorf("got\n%s\nwant\n%s", out, want)
			}
		})
	}
}

// TestEMVCommandErrors checks that bad input exits with status 2, prints
// nothing on stdout, and never repeats a key in the message.
func TestEMVCommandErrors(t *testing.T) {
	const key = "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB"
	tests := []struct {
		name    string
		args    []string
		wantMsg string
	}{
		{"no command", nil, "want a command"},
		{"unknown command", []string{"encrypt"}, "unknown command"},
		{"bad hex key", []string{"mac", "--key", "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBX", "--data", "00"}, "--key is not hex"},
		{"odd digit count", []string{"mac", "--key", key + "A", "--data", "00"}, "odd number of hex digits"},
		{"odd data digits", []string{"mac", "--key", key, "--data", "123"}, "--data has an odd number"},
		{"short key", []string{"arqc", "--key", "AAAAAAAAAAAAAAAA", "--data", "00"}, "--key must be 16 bytes"},
		{"24-byte key", []string{"arqc", "--key", key + "CCCCCCCCCCCCCCCC", "--data", "00"}, "--key must be 16 bytes"},
		{"missing key", []string{"mac", "--data", "00"}, "--key is required"},
		{"missing data", []string{"arqc", "--key", key}, "--data is required"},
		{"bad padding", []string{"mac", "--key", key, "--data", "00", "--pad", "4"}, "--pad must be"},
		{"bad alg", []string{"mac", "--key", key, "--data", "00", "--alg", "aes"}, "--alg must be tdes or sm4"},
		{"unknown flag", []string{"mac", "--key", key, "--data", "00", "--nope"}, "flag provided but not defined"},
		{"stray argument", []string{"mac", "--key", key, "--data", "00", "extra"}, "unexpected argument"},
		{"non-digit PAN", []string{"derive-mk", "--imk", imk, "--pan", "1234567890123X"}, "--pan must be 1 to 19 digits"},
		{"20-digit PAN", []string{"derive-mk", "--imk", imk, "--pan", "12345678901234567890"}, "--pan must be 1 to 19 digits"},
		{"missing PAN", []string{"derive-mk", "--imk", imk}, "--pan is required"},
		{"bad PSN", []string{"derive-mk", "--imk", imk, "--pan", "1234", "--psn", "1"}, "--psn must be 2 digits"},
		{"bad option", []string{"derive-mk", "--imk", imk, "--pan", "1234", "--option", "c"}, "--option must be a or b"},
		{"short ATC", []string{"derive-sk", "--mk", imk, "--atc", "01"}, "--atc must be 2 bytes"},
		{"missing ATC", []string{"derive-sk", "--mk", imk}, "--atc is required"},
		{"short UN", []string{"derive-sk", "--mk", imk, "--atc", "0001", "--un", "0102"}, "--un must be 4 bytes"},
		{"R and ATC", []string{"derive-sk", "--mk", imk, "--atc", "0001", "--r", "1234567890123456"}, "either --r or --atc"},
		{"emv scheme with sm4", []string{"derive-sk", "--mk", imk, "--atc", "0001", "--alg", "sm4", "--scheme", "emv"}, "use --scheme pboc"},
		{"pboc scheme with UN", []string{"derive-sk", "--mk", imk, "--atc", "0001", "--scheme", "pboc", "--un", "01020304"}, "only --atc"},
		{"bad scheme", []string{"derive-sk", "--mk", imk, "--atc", "0001", "--scheme", "visa"}, "--scheme must be"},
		{"short ARQC", []string{"arpc", "--key", key, "--arqc", "0102", "--arc", "0000"}, "--arqc must be 8 bytes"},
		{"missing ARC", []string{"arpc", "--key", key, "--arqc", "0102030405060708"}, "--arc is required"},
		{"missing CSU", []string{"arpc", "--key", key, "--arqc", "0102030405060708", "--method", "2"}, "--csu is required"},
		{"long proprietary data", []string{"arpc", "--key", key, "--arqc", "0102030405060708", "--method", "2", "--csu", "00000000", "--prop", "010203040506070809"}, "--prop must be 0 to 8 bytes"},
		{"bad method", []string{"arpc", "--key", key, "--arqc", "0102030405060708", "--arc", "0000", "--method", "3"}, "--method must be 1 or 2"},
		{"tlv without data", []string{"tlv"}, "want BER-TLV data"},
		{"tlv bad hex", []string{"tlv", "6F0"}, "odd number of hex digits"},
		{"tlv truncated", []string{"tlv", "6F05840301"}, "input ends inside a data object"},
		{"tlv indefinite length", []string{"tlv", "6F80"}, "indefinite length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runEMVCommand(t, "", tt.args...)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 2 {
				t.Fatalf("got error %v, want an *exitError with code 2", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got message %q, want it to contain %q", err.Error(), tt.wantMsg)
			}
			if strings.Contains(err.Error(), "AAAAAAAA") || strings.Contains(err.Error(), imk) {
				t.Errorf("message %q repeats a key", err.Error())
			}
			if out != "" {
				t.Errorf("stdout: got %q, want nothing", out)
			}
		})
	}
}

func TestEMVCommandHelp(t *testing.T) {
	out, _, err := runEMVCommand(t, "", "help")
	if err != nil {
		t.Fatalf("got %v, want nil", err)
	}
	for _, cmd := range []string{"derive-mk", "derive-sk", "mac", "arqc", "arpc", "tlv"} {
		if !strings.Contains(out, cmd) {
			t.Errorf("help: got no mention of %s, want one", cmd)
		}
	}
	if _, errOut, err := runEMVCommand(t, "", "mac", "-h"); err != nil || !strings.Contains(errOut, "Usage: tapwallet emv") {
		t.Errorf("mac -h: got %v and stderr %q, want nil and the help", err, errOut)
	}
}
