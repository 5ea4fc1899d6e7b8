package emv

import (
	"bytes"
	"crypto/des"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

type calcFile struct {
	Sources map[string]string `json:"sources"`
	CMAC    []struct {
		Source, Alg, Key, Msg, Want string
		Published                   bool
	} `json:"cmac"`
	KCV []struct {
		Name, Source, Alg, Method, Key, Want string
		Len                                  int
		Published                            bool
	} `json:"kcv"`
	CVV []struct {
		Source, CVK, PAN, Expiry, Want string
		ServiceCode                    string `json:"service_code"`
	} `json:"cvv"`
	PINBlock []struct {
		Source, PIN, PAN, Block string
		Format                  int
	} `json:"pinblock"`
	PINBlock4 []struct {
		Name, Source, Key, PIN, PAN, Fill, Block string
	} `json:"pinblock4"`
	PANField4 []struct{ Source, PAN, Want string } `json:"panfield4"`
}

func loadCalc(t *testing.T) calcFile {
	t.Helper()
	b, err := os.ReadFile("testdata/calculator.json")
	if err != nil {
		t.Fatal(err)
	}
	var f calcFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f calcFile) source(t *testing.T, s string, published bool) {
	t.Helper()
	if _, ok := f.Sources[s]; !ok {
		t.Fatalf("vector names unknown source %q", s)
	}
	if s == "regression" && published {
		t.Fatal("a regression value cannot be marked published")
	}
}

func cipherOf(t *testing.T, s string) BlockCipher {
	t.Helper()
	c, err := ParseBlockCipher(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCMACVectors(t *testing.T) {
	f := loadCalc(t)
	for _, v := range f.CMAC {
		f.source(t, v.Source, v.Published)
		b, err := cipherOf(t, v.Alg).NewBlock(unhex(t, v.Key))
		if err != nil {
			t.Fatal(err)
		}
		check(t, "CMAC of "+v.Msg, upper(CMAC(b, unhex(t, v.Msg))), v.Want)
	}
}

func TestKCVVectors(t *testing.T) {
	f := loadCalc(t)
	for _, v := range f.KCV {
		t.Run(v.Name, func(t *testing.T) {
			f.source(t, v.Source, v.Published)
			m := map[string]KCVMethod{"zeros": KCVEncryptZeros, "cmac": KCVCMAC}[v.Method]
			got, err := KeyCheckValue(cipherOf(t, v.Alg), unhex(t, v.Key), m, v.Len)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "KCV", upper(got), v.Want)
		})
	}
}

// TestKCVMethods checks what each method is by its definition: TDES
// encrypt-zeros equals the existing KCV of the 16-byte card keys and of
// single DES, and the AES default is CMAC, not encrypt-zeros.
func TestKCVMethods(t *testing.T) {
	key := unhex(t, "0123456789ABCDEFFEDCBA9876543210")
	old, err := KCV(TDES, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := KeyCheckValue(CipherTDES, key, KCVEncryptZeros, 3)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "TDES KCV", upper(got), upper(old))
	check(t, "TDES KCV 3 bytes (pyemv's 08D7 plus one)", upper(got), "08D7B4")

	// A 24-byte key K1 K2 K1 is the same key as the 16-byte K1 K2.
	got24, err := KeyCheckValue(CipherTDES, append(append([]byte{}, key...), key[:8]...), KCVEncryptZeros, 3)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "TDES 24-byte K1K2K1", upper(got24), "08D7B4")

	// Single DES: DES(K)[0] directly.
	d, _ := des.NewCipher(key[:8])
	want := make([]byte, 8)
	d.Encrypt(want, want)
	got8, err := KeyCheckValue(CipherTDES, key[:8], KCVEncryptZeros, 3)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "single DES", upper(got8), upper(want[:3]))

	if DefaultKCVMethod(CipherAES) != KCVCMAC || DefaultKCVMethod(CipherTDES) != KCVEncryptZeros || DefaultKCVMethod(CipherSM4) != KCVEncryptZeros {
		t.Error("default KCV methods: want CMAC for AES, encrypt-zeros for TDES and SM4")
	}
	smOld, _ := KCV(SM4, key)
	smNew, err := KeyCheckValue(CipherSM4, key, KCVEncryptZeros, 3)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "SM4 encrypt-zeros equals KCV(SM4)", upper(smNew), upper(smOld))
}

func TestKCVErrors(t *testing.T) {
	secret := unhex(t, "A1A2A3A4A5A6A7A8B1B2B3B4B5B6B7B8")
	tests := []struct {
		name string
		c    BlockCipher
		key  []byte
		m    KCVMethod
		n    int
		want error
	}{
		{"AES 15-byte key", CipherAES, secret[:15], KCVCMAC, 3, ErrKeyLength},
		{"TDES 12-byte key", CipherTDES, secret[:12], KCVEncryptZeros, 3, ErrKeyLength},
		{"SM4 32-byte key", CipherSM4, append(secret, secret...), KCVEncryptZeros, 3, ErrKeyLength},
		{"length 0", CipherAES, secret, KCVCMAC, 0, ErrArgument},
		{"length beyond the block", CipherTDES, secret, KCVEncryptZeros, 9, ErrArgument},
		{"unknown method", CipherAES, secret, KCVMethod(9), 3, ErrArgument},
		{"unknown cipher", BlockCipher(9), secret, KCVCMAC, 3, ErrAlg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := KeyCheckValue(tt.c, tt.key, tt.m, tt.n)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if strings.Contains(strings.ToUpper(err.Error()), "A1A2") {
				t.Errorf("error %q holds key bytes", err)
			}
		})
	}
}

func TestCVVVectors(t *testing.T) {
	f := loadCalc(t)
	for _, v := range f.CVV {
		f.source(t, v.Source, true)
		got, err := CVV(unhex(t, v.CVK), v.PAN, v.Expiry, v.ServiceCode)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "CVV "+v.PAN, got, v.Want)
	}
}

// TestCVVVariants checks iCVV and dCVV by their definitions (no published
// vector was found for either): iCVV is the CVV with service code 999,
// dCVV the CVV algorithm over ATC || PAN[4:] || expiry || service code.
func TestCVVVariants(t *testing.T) {
	cvk := unhex(t, "0123456789ABCDEFFEDCBA9876543210")
	pan := "4761739001010010"
	icvv, err := CVV(cvk, pan, "2212", ICVVServiceCode)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := cvvOf(cvk, pan+"2212"+"999")
	if err != nil {
		t.Fatal(err)
	}
	check(t, "iCVV", icvv, direct)

	d1, err := DCVV(cvk, pan, []byte{0x00, 0x01}, "2212", "000")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := cvvOf(cvk, "0001"+pan[4:]+"2212000")
	check(t, "dCVV ATC 0001", d1, want)
	// The ATC is read as hex digits, so ATC 0x001A enters as 001A.
	d2, _ := DCVV(cvk, pan, []byte{0x00, 0x1A}, "2212", "000")
	want2, _ := cvvOf(cvk, "001a"+pan[4:]+"2212000")
	check(t, "dCVV ATC 001A", d2, want2)
	for _, v := range []string{icvv, d1, d2} {
		if len(v) != 3 || !digits(v) {
			t.Errorf("got %q, want 3 digits", v)
		}
	}
}

func TestDecimalise(t *testing.T) {
	// Digits first, then letters less 10: 1A2B3C4D5E6F7089 -> 1234570 then 012345.
	check(t, "decimalise", decimalise(unhex(t, "1A2B3C4D5E6F7089")), "1234567089012345")
	check(t, "all letters", decimalise(unhex(t, "ABCDEFABCDEFABCD"))[:3], "012")
}

func TestCVVErrors(t *testing.T) {
	cvk := unhex(t, "0123456789ABCDEFFEDCBA9876543210")
	tests := []struct {
		name              string
		key               []byte
		pan, expiry, code string
		want              error
	}{
		{"short key", cvk[:8], "4761739001010010", "2212", "101", ErrKeyLength},
		{"20-digit PAN", cvk, "12345678901234567890", "2212", "101", ErrArgument},
		{"letter in PAN", cvk, "476173900101001X", "2212", "101", ErrArgument},
		{"expiry 5 digits", cvk, "4761739001010010", "22120", "101", ErrArgument},
		{"service code 2 digits", cvk, "4761739001010010", "2212", "10", ErrArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CVV(tt.key, tt.pan, tt.expiry, tt.code)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), "47617390") {
				t.Errorf("error %q holds the PAN", err)
			}
		})
	}
	if _, err := DCVV(cvk, "4761739001010010", []byte{1}, "2212", "000"); !errors.Is(err, ErrArgument) {
		t.Errorf("1-byte ATC: got %v, want ErrArgument", err)
	}
}

// fixed is a reader of one byte repeated: the random fill of a test.
type fixed byte

func (f fixed) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(f)
	}
	return len(p), nil
}

func TestPINBlockVectors(t *testing.T) {
	f := loadCalc(t)
	for _, v := range f.PINBlock {
		f.source(t, v.Source, true)
		pin, err := DecodePINBlock(PINFormat(v.Format), unhex(t, v.Block), v.PAN)
		if err != nil {
			t.Fatalf("decode %s: %v", v.Block, err)
		}
		check(t, "decoded PIN", pin, v.PIN)
		// Format 0 encodes to exactly the vector; format 3 to its first
		// 2+len(PIN) digits (the rest is random A-F xor the PAN).
		got, err := PINBlock(PINFormat(v.Format), v.PIN, v.PAN, fixed(0))
		if err != nil {
			t.Fatal(err)
		}
		n := 16
		if v.Format == 3 {
			n = 2 + len(v.PIN)
		}
		check(t, "encoded block", upper(got)[:n], v.Block[:n])
	}
	for _, v := range f.PINBlock4 {
		t.Run(v.Name, func(t *testing.T) {
			f.source(t, v.Source, true)
			key := unhex(t, v.Key)
			pin, steps, err := DecipherPIN4(key, unhex(t, v.Block), v.PAN)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "PIN", pin, v.PIN)
			if v.Fill != "" {
				s, err := EncipherPIN4(key, v.PIN, v.PAN, bytes.NewReader(unhex(t, v.Fill)))
				if err != nil {
					t.Fatal(err)
				}
				check(t, "block", upper(s.Block), v.Block)
				check(t, "PIN field", upper(s.PINField), "441234AAAAAAAAAA"+v.Fill)
				check(t, "steps agree both ways", upper(s.A)+upper(s.B), upper(steps.A)+upper(steps.B))
			}
		})
	}
	for _, v := range f.PANField4 {
		got, err := PANField4(v.PAN)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "PAN field", upper(got), v.Want)
	}
}

// TestPINBlockFormat1And3Layout checks the formats whose fill is random
// by their layout (ISO 9564-1): no published block can be compared.
func TestPINBlockFormat1And3Layout(t *testing.T) {
	b1, err := PINBlock(PINFormat1, "1234", "", fixed(0x5C))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "format 1 with fill C", upper(b1), "141234CCCCCCCCCC")
	if pin, err := DecodePINBlock(PINFormat1, b1, ""); err != nil || pin != "1234" {
		t.Errorf("decode format 1: got %q, %v; want 1234", pin, err)
	}
	// Format 3: fill nibbles are 10 + byte%6, so byte 5 gives F and the
	// block equals format 0 with control digit 3.
	b3, _ := PINBlock(PINFormat3, "1234", "5555555551234567", fixed(5))
	check(t, "format 3 with fill F", upper(b3), "341261AAAAEDCBA9")
	for _, r := range []byte{0, 1, 2, 3, 4, 0xFF} {
		b, _ := PINBlock(PINFormat3, "98765", "4761739001010010", fixed(r))
		if pin, err := DecodePINBlock(PINFormat3, b, "4761739001010010"); err != nil || pin != "98765" {
			t.Errorf("fill byte %02X: got %q, %v", r, pin, err)
		}
	}
}

func TestEncipherPINBlockTDES(t *testing.T) {
	key := unhex(t, "0123456789ABCDEFFEDCBA9876543210")
	for _, f := range []PINFormat{PINFormat0, PINFormat1, PINFormat3} {
		enc, err := EncipherPINBlock(CipherTDES, key, f, "123456", "5555555551234567", fixed(7))
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := PINBlock(f, "123456", "5555555551234567", fixed(7))
		b, _ := CipherTDES.NewBlock(key)
		want := make([]byte, 8)
		b.Encrypt(want, plain)
		check(t, "enciphered", upper(enc), upper(want))
		pin, err := DecipherPINBlock(CipherTDES, key, f, enc, "5555555551234567")
		if err != nil || pin != "123456" {
			t.Errorf("format %d: got %q, %v", f, pin, err)
		}
	}
	aesKey := unhex(t, "00112233445566778899AABBCCDDEEFF")
	enc, err := EncipherPINBlock(CipherAES, aesKey, PINFormat4, "1234", "1234567890123456789", fixed(0xFF))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "format 4 via EncipherPINBlock", upper(enc), "28B41FDDD29B743E93124BD8E32D921E")
}

func TestPINBlockErrors(t *testing.T) {
	key := unhex(t, "0123456789ABCDEFFEDCBA9876543210")
	pan := "5555555551234567"
	tests := []struct {
		name string
		run  func() error
		msg  string
	}{
		{"3-digit PIN", func() error { _, err := PINBlock(PINFormat0, "123", pan, fixed(0)); return err }, "4 to 12 digits"},
		{"13-digit PIN", func() error { _, err := PINBlock(PINFormat0, "1234567890123", pan, fixed(0)); return err }, "4 to 12 digits"},
		{"short PAN", func() error { _, err := PINBlock(PINFormat0, "1234", "555555555123", fixed(0)); return err }, "13 to 19 digits"},
		{"format 2", func() error { _, err := PINBlock(PINFormat(2), "1234", pan, fixed(0)); return err }, "not an 8-byte format"},
		{"wrong control digit", func() error { _, err := DecodePINBlock(PINFormat0, unhex(t, "241261AAAAEDCBA9"), pan); return err }, "control digit is 2"},
		{"7-byte block", func() error { _, err := DecodePINBlock(PINFormat0, unhex(t, "041261AAAAEDCB"), pan); return err }, "must be 8 bytes"},
		{"length F", func() error { _, err := DecodePINBlock(PINFormat0, unhex(t, "0F1261AAAAEDCBA9"), pan); return err }, "length digit is 15"},
		{"bad fill", func() error { _, err := DecodePINBlock(PINFormat0, unhex(t, "041261AAAAEDCBAA"), pan); return err }, "fill digits"},
		{"PIN not numeric", func() error { _, err := DecodePINBlock(PINFormat0, unhex(t, "051261AAAAEDCBA9"), pan); return err }, "not all 0-9"},
		{"format 3 bad fill", func() error { _, err := DecodePINBlock(PINFormat3, unhex(t, "341261AAAAEDCBA2"), pan); return err }, "fill digits"},
		{"format 4 with TDES", func() error {
			_, err := EncipherPINBlock(CipherTDES, key, PINFormat4, "1234", pan, fixed(0))
			return err
		}, "enciphered with AES"},
		{"format 0 with AES", func() error {
			_, err := DecipherPINBlock(CipherAES, key, PINFormat0, make([]byte, 8), pan)
			return err
		}, "enciphered with TDES"},
		{"format 4 wrong PAN", func() error {
			_, _, err := DecipherPIN4(unhex(t, "C1D0F8FB4958670DBA40AB1F3752EF0D"), unhex(t, "CC17F65586BFD0953010226C4FC5B3CA"), "432198765432109871")
			return err
		}, "key or PAN?"},
		{"format 4 17 bytes", func() error {
			_, _, err := DecipherPIN4(unhex(t, "C1D0F8FB4958670DBA40AB1F3752EF0D"), make([]byte, 17), "4321")
			return err
		}, "must be 16 bytes"},
		{"format 4 20-digit PAN", func() error { _, err := PANField4("12345678901234567890"); return err }, "1 to 19 digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v, want an error containing %q", err, tt.msg)
			}
			for _, secret := range []string{"1234", "5555555551", "4321987654", "0123456789ABCDEF"} {
				if strings.Contains(strings.ToUpper(err.Error()), secret) {
					t.Errorf("error %q holds %s", err, secret)
				}
			}
		})
	}
}
