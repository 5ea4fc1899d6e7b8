package emv

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm4"
)

// vector is one entry of testdata/vectors.json; which fields matter
// depends on Op.
type vector struct {
	Name       string `json:"name"`
	Source     string `json:"source"`
	Published  bool   `json:"published"`
	Op         string `json:"op"`
	Alg        string `json:"alg"`
	Option     string `json:"option"`
	IMK        string `json:"imk"`
	MK         string `json:"mk"`
	Key        string `json:"key"`
	PAN        string `json:"pan"`
	PSN        string `json:"psn"`
	R          string `json:"r"`
	ATC        string `json:"atc"`
	UN         string `json:"un"`
	Data       string `json:"data"`
	DataASCII  string `json:"data_ascii"`
	Pad        int    `json:"pad"`
	ARQC       string `json:"arqc"`
	ARC        string `json:"arc"`
	CSU        string `json:"csu"`
	Prop       string `json:"prop"`
	Iterations int    `json:"iterations"`
	ARPCKey    string `json:"arpc_key"`
	ARPCMethod int    `json:"arpc_method"`
	Want       string `json:"want"`
	WantMKKCV  string `json:"want_mk_kcv"`
	WantSKKCV  string `json:"want_sk_kcv"`
	WantAC     string `json:"want_ac"`
	WantARPC   string `json:"want_arpc"`
}

type vectorFile struct {
	Sources map[string]string `json:"sources"`
	Vectors []vector          `json:"vectors"`
}

func loadVectors(t *testing.T, path string) vectorFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q in test data: %v", s, err)
	}
	return b
}

func upper(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

func (v vector) alg(t *testing.T) Alg {
	t.Helper()
	if v.Alg == "" {
		return TDES
	}
	a, err := ParseAlg(v.Alg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (v vector) option(t *testing.T) Option {
	t.Helper()
	switch v.Option {
	case "a":
		return OptionA
	case "b":
		return OptionB
	}
	t.Fatalf("bad option %q in test data", v.Option)
	return 0
}

func (v vector) data(t *testing.T) []byte {
	if v.DataASCII != "" {
		return []byte(v.DataASCII)
	}
	return unhex(t, v.Data)
}

func check(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %s, want %s", what, got, want)
	}
}

func kcv2(t *testing.T, a Alg, key []byte) string {
	t.Helper()
	k, err := KCV(a, key)
	if err != nil {
		t.Fatal(err)
	}
	return upper(k[:2])
}

// TestVectors runs every vector of testdata/vectors.json.
func TestVectors(t *testing.T) {
	f := loadVectors(t, "testdata/vectors.json")
	if len(f.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range f.Vectors {
		t.Run(v.Op+"/"+v.Name, func(t *testing.T) {
			if _, ok := f.Sources[v.Source]; !ok {
				t.Fatalf("vector names unknown source %q", v.Source)
			}
			if v.Source == "regression" && v.Published {
				t.Fatalf("a regression value cannot be marked published")
			}
			runVector(t, v)
		})
	}
}

func runVector(t *testing.T, v vector) {
	a := v.alg(t)
	switch v.Op {
	case "mk", "mk-kcv":
		mk, err := MasterKey(a, v.option(t), unhex(t, v.IMK), v.PAN, v.PSN)
		if err != nil {
			t.Fatal(err)
		}
		if v.Op == "mk-kcv" {
			check(t, "MK KCV", kcv2(t, a, mk), v.Want)
		} else {
			check(t, "MK", upper(mk), v.Want)
		}
	case "kcv":
		check(t, "KCV", kcv2(t, a, unhex(t, v.Key)), v.Want)
	case "csk":
		sk, err := CommonSessionKey(unhex(t, v.MK), unhex(t, v.R))
		if err != nil {
			t.Fatal(err)
		}
		check(t, "SK", upper(sk), v.Want)
	case "sk-emv":
		var un []byte
		if v.UN != "" {
			un = unhex(t, v.UN)
		}
		sk, err := SessionKeyEMV(unhex(t, v.MK), unhex(t, v.ATC), un)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "SK", upper(sk), v.Want)
	case "sk-pboc":
		sk, err := SessionKeyPBOC(a, unhex(t, v.MK), unhex(t, v.ATC))
		if err != nil {
			t.Fatal(err)
		}
		check(t, "SK", upper(sk), v.Want)
	case "mac":
		m, err := MAC(a, unhex(t, v.Key), v.data(t), Padding(v.Pad))
		if err != nil {
			t.Fatal(err)
		}
		check(t, "MAC", upper(m), v.Want)
	case "ac":
		ac, err := Cryptogram(a, unhex(t, v.Key), v.data(t), Padding(v.Pad))
		if err != nil {
			t.Fatal(err)
		}
		check(t, "cryptogram", upper(ac), v.Want)
		ok, err := VerifyCryptogram(a, unhex(t, v.Key), v.data(t), Padding(v.Pad), unhex(t, v.Want))
		if err != nil || !ok {
			t.Errorf("VerifyCryptogram: got %v, %v, want true, nil", ok, err)
		}
	case "arpc1":
		arpc, err := ARPCMethod1(a, unhex(t, v.Key), unhex(t, v.ARQC), unhex(t, v.ARC))
		if err != nil {
			t.Fatal(err)
		}
		check(t, "ARPC", upper(arpc), v.Want)
	case "arpc2":
		arpc, err := ARPCMethod2(a, unhex(t, v.Key), unhex(t, v.ARQC), unhex(t, v.CSU), unhex(t, v.Prop))
		if err != nil {
			t.Fatal(err)
		}
		check(t, "ARPC", upper(arpc), v.Want)
	case "sm4-encrypt":
		b, err := sm4.NewCipher(unhex(t, v.Key))
		if err != nil {
			t.Fatal(err)
		}
		n := v.Iterations
		if n == 0 {
			n = 1
		}
		if n > 1 && testing.Short() {
			t.Skip("skipping the million-encryption SM4 example in -short mode")
		}
		x := unhex(t, v.Data)
		for i := 0; i < n; i++ {
			b.Encrypt(x, x)
		}
		check(t, "ciphertext", upper(x), v.Want)
	case "chain":
		runChain(t, a, v)
	default:
		t.Fatalf("unknown op %q in test data", v.Op)
	}
}

// runChain reproduces one of pyemv's HSM tests: master key, common session
// key, cryptogram and ARPC in a row.
func runChain(t *testing.T, a Alg, v vector) {
	mk, err := MasterKey(a, v.option(t), unhex(t, v.IMK), v.PAN, v.PSN)
	if err != nil {
		t.Fatal(err)
	}
	if v.WantMKKCV != "" {
		check(t, "MK KCV", kcv2(t, a, mk), v.WantMKKCV)
	}
	sk, err := CommonSessionKey(mk, unhex(t, v.R))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "SK KCV", kcv2(t, a, sk), v.WantSKKCV)
	ac, err := Cryptogram(a, sk, v.data(t), Padding(v.Pad))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "cryptogram", upper(ac), v.WantAC)
	key := sk
	if v.ARPCKey == "mk" {
		key = mk
	}
	var arpc []byte
	if v.ARPCMethod == 1 {
		arpc, err = ARPCMethod1(a, key, ac, unhex(t, v.ARC))
	} else {
		arpc, err = ARPCMethod2(a, key, ac, unhex(t, v.CSU), unhex(t, v.Prop))
	}
	if err != nil {
		t.Fatal(err)
	}
	check(t, "ARPC", upper(arpc), v.WantARPC)
}

func TestPad(t *testing.T) {
	tests := []struct {
		name string
		data string
		bs   int
		p    Padding
		want string
	}{
		{"method 1 empty", "", 8, PadMethod1, "0000000000000000"},
		{"method 1 partial", "AABB", 8, PadMethod1, "AABB000000000000"},
		{"method 1 whole block unchanged", "0102030405060708", 8, PadMethod1, "0102030405060708"},
		{"method 2 empty", "", 8, PadMethod2, "8000000000000000"},
		{"method 2 whole block adds a block", "0102030405060708", 8, PadMethod2, "01020304050607088000000000000000"},
		{"method 2 sm4 block", "AA", 16, PadMethod2, "AA800000000000000000000000000000"},
		{"method 3 one byte", "46", 8, PadMethod3, "00000000000000084600000000000000"},
		{"method 3 empty", "", 8, PadMethod3, "00000000000000000000000000000000"},
		{"method 3 sixteen-byte block", "46", 16, PadMethod3, "0000000000000000000000000000000846000000000000000000000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Pad(unhex(t, tt.data), tt.bs, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "padded", upper(got), tt.want)
		})
	}
	if _, err := Pad(nil, 8, Padding(4)); !errors.Is(err, ErrPadding) {
		t.Errorf("Pad method 4: got %v, want ErrPadding", err)
	}
}

func TestAdjustParity(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0000000000000000", "0101010101010101"},
		{"FFFFFFFFFFFFFFFF", "FEFEFEFEFEFEFEFE"},
		{"0123456789ABCDEF", "0123456789ABCDEF"},
		{"0022446688AACCEE", "0123456789ABCDEF"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			check(t, "adjusted", upper(AdjustParity(unhex(t, tt.in))), tt.want)
		})
	}
}

// TestBadArguments checks that every calculator refuses bad lengths and
// names with the documented errors instead of panicking.
func TestBadArguments(t *testing.T) {
	k16 := make([]byte, 16)
	k8 := make([]byte, 8)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"master key short IMK", func() error { _, err := MasterKey(TDES, OptionA, k8, "1234", "00"); return err }, ErrKeyLength},
		{"master key bad alg", func() error { _, err := MasterKey(Alg(9), OptionA, k16, "1234", "00"); return err }, ErrAlg},
		{"master key non-digit PAN", func() error { _, err := MasterKey(TDES, OptionA, k16, "12A4", "00"); return err }, ErrArgument},
		{"master key empty PAN", func() error { _, err := MasterKey(TDES, OptionA, k16, "", "00"); return err }, ErrArgument},
		{"master key 20-digit PAN", func() error { _, err := MasterKey(TDES, OptionA, k16, "12345678901234567890", "00"); return err }, ErrArgument},
		{"master key 3-digit PSN", func() error { _, err := MasterKey(TDES, OptionA, k16, "1234", "001"); return err }, ErrArgument},
		{"master key bad option", func() error { _, err := MasterKey(TDES, Option(3), k16, "1234", "00"); return err }, ErrArgument},
		{"common session key short R", func() error { _, err := CommonSessionKey(k16, k8[:7]); return err }, ErrArgument},
		{"common session key 24-byte MK", func() error { _, err := CommonSessionKey(make([]byte, 24), k8); return err }, ErrKeyLength},
		{"EMV session key short ATC", func() error { _, err := SessionKeyEMV(k16, []byte{1}, nil); return err }, ErrArgument},
		{"EMV session key short UN", func() error { _, err := SessionKeyEMV(k16, []byte{0, 1}, []byte{1, 2}); return err }, ErrArgument},
		{"PBOC session key long ATC", func() error { _, err := SessionKeyPBOC(SM4, k16, []byte{1, 2, 3}); return err }, ErrArgument},
		{"MAC bad padding", func() error { _, err := MAC(TDES, k16, nil, Padding(0)); return err }, ErrPadding},
		{"MAC short key", func() error { _, err := MAC(SM4, k8, nil, PadMethod2); return err }, ErrKeyLength},
		{"ARPC1 short ARQC", func() error { _, err := ARPCMethod1(TDES, k16, k8[:4], []byte{0, 0}); return err }, ErrArgument},
		{"ARPC1 long ARC", func() error { _, err := ARPCMethod1(TDES, k16, k8, []byte{0, 0, 0}); return err }, ErrArgument},
		{"ARPC2 short CSU", func() error { _, err := ARPCMethod2(TDES, k16, k8, []byte{0}, nil); return err }, ErrArgument},
		{"ARPC2 long proprietary data", func() error { _, err := ARPCMethod2(TDES, k16, k8, make([]byte, 4), make([]byte, 9)); return err }, ErrArgument},
		{"KCV bad alg", func() error { _, err := KCV(Alg(0), k16); return err }, ErrAlg},
		{"NewKey short", func() error { _, err := NewKey(SM4, k8); return err }, ErrKeyLength},
		{"ParseAlg unknown", func() error { _, err := ParseAlg("aes"); return err }, ErrAlg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want an error wrapping %v", err, tt.want)
			}
		})
	}
}

// TestSM4Layouts checks the PBOC SM4 derivations against their documented
// input layouts computed with the raw block cipher, so that a change of
// layout cannot pass unnoticed.
func TestSM4Layouts(t *testing.T) {
	imk := unhex(t, "0123456789ABCDEFFEDCBA9876543210")
	b, err := sm4.NewCipher(imk)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(in string) string {
		x := unhex(t, in)
		b.Encrypt(x, x)
		return upper(x)
	}
	t.Run("master key option A", func(t *testing.T) {
		mk, err := MasterKey(SM4, OptionA, imk, "12345678901234567", "45")
		if err != nil {
			t.Fatal(err)
		}
		// Y = rightmost 16 digits of PAN||PSN, then Y xor FF..FF.
		check(t, "MK", upper(mk), enc("4567890123456745"+"BA9876FEDCBA98BA"))
	})
	t.Run("session key", func(t *testing.T) {
		sk, err := SessionKeyPBOC(SM4, imk, []byte{0x00, 0x1C})
		if err != nil {
			t.Fatal(err)
		}
		check(t, "SK", upper(sk), enc("000000000000001C000000000000FFE3"))
	})
	t.Run("ARPC method 1", func(t *testing.T) {
		arpc, err := ARPCMethod1(SM4, imk, unhex(t, "1122334455667788"), []byte{'0', '0'})
		if err != nil {
			t.Fatal(err)
		}
		check(t, "ARPC", upper(arpc), enc("2112334455667788" + "0000000000000000")[:16])
	})
	t.Run("cryptogram is the leftmost 8 bytes of the MAC", func(t *testing.T) {
		data := []byte("qPBOC data")
		m, err := MAC(SM4, imk, data, PadMethod2)
		if err != nil {
			t.Fatal(err)
		}
		ac, err := Cryptogram(SM4, imk, data, PadMethod2)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "cryptogram", upper(ac), upper(m[:8]))
		check(t, "MAC", upper(m), enc(hex.EncodeToString(append(data, 0x80, 0, 0, 0, 0, 0))))
	})
}

func TestTDESPBOCSessionKeyLayout(t *testing.T) {
	mk := unhex(t, "946DC1A8C78A624519BC4645CB073737")
	sk, err := SessionKeyPBOC(TDES, mk, []byte{0x12, 0x34})
	if err != nil {
		t.Fatal(err)
	}
	b, err := TDES.block(mk)
	if err != nil {
		t.Fatal(err)
	}
	want := encryptECB(b, unhex(t, "0000000000001234"+"000000000000EDCB"))
	check(t, "SK", upper(sk), upper(want))
}

func TestKeyRedacted(t *testing.T) {
	raw := unhex(t, "0123456789ABCDEFFEDCBA9876543210")
	k, err := NewKey(TDES, raw)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("key", "k", k)
	for _, s := range []string{k.String(), fmt.Sprintf("%v %+v %#v %s", k, k, k, k), logged.String()} {
		if strings.Contains(strings.ToUpper(s), "0123456789ABCDEF") || strings.Contains(s, "0123456789abcdef") {
			t.Errorf("key bytes leaked: %q", s)
		}
		if !strings.Contains(s, "redacted") {
			t.Errorf("got %q, want it to say redacted", s)
		}
	}
	raw[0] = 0xFF
	if got := upper(k.Bytes()); got != "0123456789ABCDEFFEDCBA9876543210" {
		t.Errorf("Bytes after changing the caller's slice: got %s, want the original key", got)
	}
	k2, _ := NewKey(TDES, k.Bytes())
	k3, _ := NewKey(SM4, k.Bytes())
	if !k.Equal(k2) || k.Equal(k3) {
		t.Errorf("Equal: got %v (same) and %v (other alg), want true and false", k.Equal(k2), k.Equal(k3))
	}
}
