package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/qpboc"
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

// emvCase is a command line and the one line it must print.
type emvCase struct {
	name string
	args []string
	want string
}

func checkEMVOutputs(t *testing.T, tests []emvCase) {
	t.Helper()
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

// TestEMVCommandVectors checks every command against published vectors
// (sources in emv/testdata/vectors.json).
func TestEMVCommandVectors(t *testing.T) {
	tests := []emvCase{
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
	checkEMVOutputs(t, tests)
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
	tests := []emvCase{
		{"derive-mk", []string{"derive-mk", "--alg", "sm4", "--imk", imk, "--pan", "12345678901234567", "--psn", "45"}, "E3E7BEAC49EBE76BDBEFE5AAF52464F0"},
		{"derive-sk defaults to pboc", []string{"derive-sk", "--alg", "sm4", "--mk", "E3E7BEAC49EBE76BDBEFE5AAF52464F0", "--atc", "001C"}, "76EE179C6FA9FDFF6B5F622E6E87414E"},
		{"arqc", []string{"arqc", "--alg", "sm4", "--key", "76EE179C6FA9FDFF6B5F622E6E87414E", "--data", "0123456789ABCDEF0123456789ABCDEF"}, "56F6CD04C05A595F"},
		{"mac is 16 bytes", []string{"mac", "--alg", "sm4", "--key", "76EE179C6FA9FDFF6B5F622E6E87414E", "--data", "0123456789ABCDEF0123456789ABCDEF"}, "56F6CD04C05A595F19D7DB311AFA4E9A"},
		{"arpc method 1", []string{"arpc", "--alg", "sm4", "--key", "76EE179C6FA9FDFF6B5F622E6E87414E", "--arqc", "56F6CD04C05A595F", "--arc", "3030"}, "FB7FE958BF035E28"},
		{"arpc method 2", []string{"arpc", "--alg", "sm4", "--method", "2", "--key", "76EE179C6FA9FDFF6B5F622E6E87414E", "--arqc", "56F6CD04C05A595F", "--csu", "00000000"}, "ED200E4E"},
		{"tdes pboc session key", []string{"derive-sk", "--scheme", "pboc", "--mk", "946DC1A8C78A624519BC4645CB073737", "--atc", "001C"}, "AC2AC5A00C8C81A83C88E1AC928A72FE"},
	}
	checkEMVOutputs(t, tests)
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
	tests := []emvErrCase{
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
	checkEMVErrors(t, tests)
}

// emvErrCase is a command line that must fail with exit status 2 and a
// message containing wantMsg.
type emvErrCase struct {
	name    string
	args    []string
	wantMsg string
}

// checkEMVErrors runs each case: exit status 2, the message, nothing on
// stdout, and no key, PAN, PIN or PIN block repeated in the message.
func checkEMVErrors(t *testing.T, tests []emvErrCase) {
	t.Helper()
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
			for _, secret := range []string{"AAAAAAAA", imk, "55555555", "43219876", "CC17F655", "041261AA", "1234"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("message %q repeats %s (a key, PAN, PIN or PIN block)", err.Error(), secret)
				}
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
	for _, cmd := range []string{"derive-mk", "derive-sk", "mac", "arqc", "arpc", "tlv", "kcv", "icvv", "dcvv", "pinblock decode", "decode "} {
		if !strings.Contains(out, cmd) {
			t.Errorf("help: got no mention of %s, want one", cmd)
		}
	}
	for _, args := range [][]string{{"mac", "-h"}, {"kcv", "--help"}, {"pinblock", "encode", "-h"}, {"pinblock", "-h"}, {"decode", "-h"}} {
		if out, _, err := runEMVCommand(t, "", args...); err != nil || !strings.Contains(out, "Usage: tapwallet emv") {
			t.Errorf("%v: got %v and stdout %q, want nil and the help on stdout", args, err, out)
		}
	}
}

// TestEMVCalculatorVectors runs the calculator commands on the published
// vectors of emv/testdata/calculator.json (sources named there).
func TestEMVCalculatorVectors(t *testing.T) {
	tests := []emvCase{
		{"kcv tdes (pyemv test_kd_hsm: 08D7)", []string{"kcv", "--key", imk}, "08D7B4"},
		{"kcv tdes 2 bytes", []string{"kcv", "--key", imk, "--len", "2"}, "08D7"},
		{"kcv aes zeros (RFC 4493 L)", []string{"kcv", "--alg", "aes", "--method", "zeros", "--len", "16", "--key", "2B7E151628AED2A6ABF7158809CF4F3C"}, "7DF76B0C1AB899B33E42F047B91B546F"},
		{"kcv aes default is cmac (regression, cross-checked in Python)", []string{"kcv", "--alg", "aes", "--key", "2B7E151628AED2A6ABF7158809CF4F3C"}, "7AD386"},
		{"kcv sm4 cmac (regression)", []string{"kcv", "--alg", "sm4", "--method", "cmac", "--key", imk}, "909F5E"},
		{"cvv (psec test_cvv)", []string{"cvv", "--cvk", "99999999999999998888888888888888", "--pan", "2222222222222222", "--expiry", "3333", "--service-code", "111"}, "361"},
		{"cvv (psec cvv.py docstring)", []string{"cvv", "--cvk", imk, "--pan", "1234567890123456", "--expiry", "9912", "--service-code", "220"}, "170"},
		{"pinblock decode format 0 (psec)", []string{"pinblock", "decode", "--format", "0", "--block", "0C1261032D8226A9", "--pan", "5555555551234567"}, "123456789012"},
		{"pinblock decode format 3 (psec)", []string{"pinblock", "decode", "--format", "3", "--block", "391261032D8DCBA9", "--pan", "5555555551234567"}, "123456789"},
		{"pinblock encode format 0 (psec)", []string{"pinblock", "encode", "--format", "0", "--pin", "1234", "--pan", "5555555551234567"}, "041261AAAAEDCBA9"},
		{"pinblock decode format 4 (ep2 8.4)", []string{"pinblock", "decode", "--format", "4", "--block", "CC17F65586BFD0953010226C4FC5B3CA", "--pan", "432198765432109870", "--key", "C1D0F8FB4958670DBA40AB1F3752EF0D"}, "1234"},
		{"pinblock decode format 4, 1-digit PAN (psec)", []string{"pinblock", "decode", "--format", "4", "--block", "39B69B1B91FE05D48F7EF0D68EB2CBD6", "--pan", "1", "--key", "00112233445566778899AABBCCDDEEFF"}, "123456"},
	}
	checkEMVOutputs(t, tests)
}

// TestEMVCommandCVVVariants: icvv is cvv with service code 999, dcvv
// defaults to service code 000 and changes with the ATC.
func TestEMVCommandCVVVariants(t *testing.T) {
	base := []string{"--cvk", imk, "--pan", "1234567890123456", "--expiry", "9912"}
	run := func(args ...string) string {
		t.Helper()
		out, errOut, err := runEMVCommand(t, "", args...)
		if err != nil {
			t.Fatalf("%v: %v (stderr %q)", args, err, errOut)
		}
		return strings.TrimSpace(out)
	}
	icvv := run(append([]string{"icvv"}, base...)...)
	if want := run(append([]string{"cvv", "--service-code", "999"}, base...)...); icvv != want {
		t.Errorf("icvv: got %s, want cvv with 999 = %s", icvv, want)
	}
	d1 := run(append([]string{"dcvv", "--atc", "0001"}, base...)...)
	if want := run(append([]string{"dcvv", "--atc", "0001", "--service-code", "000"}, base...)...); d1 != want {
		t.Errorf("dcvv default service code: got %s, want %s", d1, want)
	}
	for _, v := range []string{icvv, d1} {
		if len(v) != 3 || !allDigits(v) {
			t.Errorf("got %q, want 3 digits", v)
		}
	}
}

// TestEMVCommandPINBlockRoundTrip encodes with random fill and decodes
// the result, for every format, clear and enciphered.
func TestEMVCommandPINBlockRoundTrip(t *testing.T) {
	const pan = "4761739001010010"
	tests := []struct {
		format string
		key    []string
	}{
		{"0", nil}, {"1", nil}, {"3", nil},
		{"0", []string{"--key", imk}}, {"1", []string{"--key", imk}}, {"3", []string{"--key", "0123456789ABCDEF"}},
		{"4", []string{"--key", "00112233445566778899AABBCCDDEEFF"}},
		{"4", []string{"--key", "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"}},
	}
	for _, tt := range tests {
		t.Run(tt.format+strings.Join(tt.key, ""), func(t *testing.T) {
			out, errOut, err := runEMVCommand(t, "", append([]string{"pinblock", "encode", "--format", tt.format, "--pin", "98765", "--pan", pan}, tt.key...)...)
			if err != nil {
				t.Fatalf("encode: %v (%s)", err, errOut)
			}
			block := strings.TrimSpace(out)
			out, errOut, err = runEMVCommand(t, "", append([]string{"pinblock", "decode", "--format", tt.format, "--block", block, "--pan", pan}, tt.key...)...)
			if err != nil {
				t.Fatalf("decode %s: %v (%s)", block, err, errOut)
			}
			if out != "98765\n" {
				t.Errorf("got %q, want 98765", out)
			}
		})
	}
}

// TestEMVCommandJSON checks that every command's --json output is one
// object with the named fields a script reads.
func TestEMVCommandJSON(t *testing.T) {
	tests := []struct {
		args []string
		want map[string]any
	}{
		{[]string{"derive-mk", "--imk", imk, "--pan", "12345678901234567", "--psn", "45", "--json"}, map[string]any{"mk": "946DC1A8C78A624519BC4645CB073737"}},
		{[]string{"derive-sk", "--json", "--mk", "946DC1A8C78A624519BC4645CB073737", "--r", "1234567890123456"}, map[string]any{"sk": "C7AEDF49AEF2F146D692400E0B851A8F"}},
		{[]string{"arqc", "--json", "--key", "C7AEDF49AEF2F146D692400E0B851A8F", "--data", "0123456789ABCDEF0123456789ABCDEF"}, map[string]any{"cryptogram": "19C1FBC83EBDC0D5"}},
		{[]string{"mac", "--json", "--key", "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB", "--data", "68656C6C6F20776F726C64", "--pad", "1"}, map[string]any{"mac": "78DA3D3DEB48FD4D"}},
		{[]string{"arpc", "--json", "--key", "C7AEDF49AEF2F146D692400E0B851A8F", "--arqc", "19C1FBC83EBDC0D5", "--arc", "0000"}, map[string]any{"arpc": "C3620580668E5B65"}},
		{[]string{"kcv", "--json", "--key", imk}, map[string]any{"kcv": "08D7B4", "alg": "tdes", "method": "zeros", "length": 3.0}},
		{[]string{"cvv", "--json", "--cvk", imk, "--pan", "1234567890123456", "--expiry", "9912", "--service-code", "220"}, map[string]any{"cvv": "170", "service_code": "220"}},
		{[]string{"pinblock", "decode", "--json", "--format", "0", "--block", "041261AAAAEDCBA9", "--pan", "5555555551234567"}, map[string]any{"format": 0.0, "pin": "1234", "clear_block": "041261AAAAEDCBA9"}},
		{[]string{"pinblock", "decode", "--json", "--format", "4", "--block", "CC17F65586BFD0953010226C4FC5B3CA", "--pan", "432198765432109870", "--key", "C1D0F8FB4958670DBA40AB1F3752EF0D"},
			map[string]any{"format": 4.0, "pin": "1234", "pin_field": "441234AAAAAAAAAA146C6601F4A8035C", "pan_field": "64321987654321098700000000000000",
				"aes_pin_field": "A138D674E41EE99861AEC8017ECABEAA", "xor_pan_field": "C50ACFF3815DC891E6AEC8017ECABEAA", "block": "CC17F65586BFD0953010226C4FC5B3CA"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[:1], " "), func(t *testing.T) {
			out, errOut, err := runEMVCommand(t, "", tt.args...)
			if err != nil {
				t.Fatalf("%v (stderr %q)", err, errOut)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("output %q is not a JSON object: %v", out, err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("got fields %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s: got %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestEMVCommandDecode(t *testing.T) {
	out, _, err := runEMVCommand(t, "", "decode", "tvr", "80 00 04 80 00")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"95 Terminal Verification Results: 8000048000\n",
		"byte 1 b8     1        Offline data authentication was not performed\n",
		"byte 1 b7     0        SDA failed\n",
		"byte 3 b3     1        Online PIN entered\n",
		"byte 5 b2-b1  00       Relay resistance performed",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}
	out, _, err = runEMVCommand(t, "", "decode", "--set", "9F34", "420302")
	if err != nil {
		t.Fatal(err)
	}
	want := `9F34 Cardholder Verification Method (CVM) Results: 420302
byte 1 b7     1        Apply succeeding CV rule if this CVM is unsuccessful
byte 1 b6-b1  000010   CVM performed: Enciphered PIN verified online
byte 2 b8-b1  00000011 CVM condition: If terminal supports the CVM
byte 3 b8-b1  00000010 CVM result: successful
`
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	// The whole IAD of a tapwallet card, flags after the arguments.
	iad := qpboc.IAD{DKI: 1, CVN: qpboc.CVNTDES, CVR: qpboc.NewCVR(true), KeyIndex: 7}
	out, _, err = runEMVCommand(t, "", "decode", "cvr-tapwallet", fmt.Sprintf("%X", iad.Bytes()), "--set", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Object string
		Fields []struct {
			Name, Meaning string
			Set           bool
		}
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range d.Fields {
		names = append(names, f.Name+"="+f.Meaning)
	}
	got := strings.Join(names, "; ")
	if d.Object != "cvr-tapwallet" || !strings.Contains(got, "first GENERATE AC=ARQC") || !strings.Contains(got, "Consumer device CVM (fingerprint) performed") {
		t.Errorf("got object %s fields %s", d.Object, got)
	}
	// Every bit qpboc sets in its TTQ and CTQ has a name, not RFU.
	for _, c := range []struct{ obj, hex string }{{"ttq", fmt.Sprintf("%X", qpboc.StoreTTQ())}, {"ctq", fmt.Sprintf("%X", qpboc.CTQ(true))}} {
		out, _, err := runEMVCommand(t, "", "decode", "--set", c.obj, c.hex)
		if err != nil || strings.Contains(out, "RFU") {
			t.Errorf("%s %s: got %v\n%s", c.obj, c.hex, err, out)
		}
	}
}

// TestEMVCalculatorErrors: bad input exits 2 with a clear message that
// repeats no key, PIN or PAN.
func TestEMVCalculatorErrors(t *testing.T) {
	const key = "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB"
	const pan = "5555555551234567"
	tests := []emvErrCase{
		{"kcv bad alg", []string{"kcv", "--key", key, "--alg", "rsa"}, "--alg must be tdes, aes or sm4"},
		{"kcv aes 8-byte key", []string{"kcv", "--key", "AAAAAAAAAAAAAAAA", "--alg", "aes"}, "aes key must be 16, 24 or 32 bytes, got 8"},
		{"kcv bad method", []string{"kcv", "--key", key, "--method", "sha1"}, "--method must be zeros or cmac"},
		{"kcv long", []string{"kcv", "--key", key, "--len", "9"}, "1 to 8 bytes"},
		{"kcv missing key", []string{"kcv"}, "--key is required"},
		{"cvv no service code", []string{"cvv", "--cvk", key, "--pan", pan, "--expiry", "2512"}, "--service-code is required"},
		{"cvv bad expiry", []string{"cvv", "--cvk", key, "--pan", pan, "--expiry", "25/12", "--service-code", "101"}, "expiry must be 4 digits"},
		{"cvv short cvk", []string{"cvv", "--cvk", "AAAAAAAAAAAAAAAA", "--pan", pan, "--expiry", "2512", "--service-code", "101"}, "--cvk must be 16 bytes"},
		{"icvv with atc", []string{"icvv", "--cvk", key, "--pan", pan, "--expiry", "2512", "--atc", "0001"}, "--atc is for dcvv"},
		{"dcvv no atc", []string{"dcvv", "--cvk", key, "--pan", pan, "--expiry", "2512"}, "--atc is required"},
		{"pinblock no verb", []string{"pinblock", "--format", "0"}, "want encode or decode"},
		{"pinblock format 2", []string{"pinblock", "encode", "--format", "2", "--pin", "1234", "--pan", pan}, "--format must be 0, 1, 3 or 4"},
		{"pinblock short PIN", []string{"pinblock", "encode", "--pin", "123", "--pan", pan}, "PIN must be 4 to 12 digits"},
		{"pinblock no PAN", []string{"pinblock", "encode", "--pin", "1234"}, "--pan is required for format 0"},
		{"pinblock 4 no key", []string{"pinblock", "encode", "--format", "4", "--pin", "1234", "--pan", pan}, "--key is required"},
		{"pinblock 4 TDES-size key", []string{"pinblock", "encode", "--format", "4", "--pin", "1234", "--pan", pan, "--key", "AAAAAAAAAAAAAAAA"}, "aes key must be 16, 24 or 32 bytes"},
		{"pinblock decode wrong PAN", []string{"pinblock", "decode", "--block", "041261AAAAEDCBA9", "--pan", "5555555551234577"}, "wrong key or PAN?"},
		{"pinblock decode short block", []string{"pinblock", "decode", "--block", "041261AAAAEDCB", "--pan", pan}, "--block must be 8 bytes"},
		{"pinblock decode 4 short block", []string{"pinblock", "decode", "--format", "4", "--block", "041261AAAAEDCBA9", "--pan", pan, "--key", key}, "--block must be 16 bytes"},
		{"pinblock decode wrong key", []string{"pinblock", "decode", "--format", "4", "--block", "CC17F65586BFD0953010226C4FC5B3CA", "--pan", "432198765432109870", "--key", key}, "PIN block"},
		{"decode nothing", []string{"decode"}, "want an object"},
		{"decode unknown", []string{"decode", "tlv", "00"}, "unknown object"},
		{"decode short", []string{"decode", "tvr", "0000"}, "tvr must be 5 bytes, got 2"},
		{"decode bad hex", []string{"decode", "tsi", "0G00"}, "is not hex"},
	}
	checkEMVErrors(t, tests)
}
