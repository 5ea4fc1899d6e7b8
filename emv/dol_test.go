package emv

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseDOL(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want DOL
	}{
		{"empty", "", nil},
		// A qPBOC PDOL: TTQ, amount, other amount, country, TVR, currency, date, type, UN.
		{"qPBOC PDOL", "9F66049F02069F03069F1A0295055F2A029A039C019F3704", DOL{
			{0x9F66, 4}, {0x9F02, 6}, {0x9F03, 6}, {0x9F1A, 2}, {0x95, 5}, {0x5F2A, 2}, {0x9A, 3}, {0x9C, 1}, {0x9F37, 4},
		}},
		{"long-form length", "9F4C8108", DOL{{0x9F4C, 8}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDOL(unhex(t, tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if tt.want != nil && tt.name != "long-form length" {
				check(t, "Bytes", upper(got.Bytes()), tt.in)
			}
		})
	}
}

func TestParseDOLErrors(t *testing.T) {
	tests := []struct{ name, in string }{
		{"tag without length", "9F66"},
		{"cut tag", "9F"},
		{"indefinite length", "9F6680"},
		{"too much data", "9F6682FFFF9F0201"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseDOL(unhex(t, tt.in)); !errors.Is(err, ErrDOL) {
				t.Errorf("got %v, want ErrDOL", err)
			}
		})
	}
}

func TestDOLBuild(t *testing.T) {
	tests := []struct {
		name  string
		dol   DOL
		value string
		want  string
	}{
		{"exact", DOL{{0x9F37, 4}}, "11223344", "11223344"},
		{"missing gives zeros", DOL{{0x9F37, 4}}, "", "00000000"},
		{"numeric padded left", DOL{{0x9F02, 6}}, "1000", "000000001000"},
		{"numeric truncated left", DOL{{0x9F02, 2}}, "000000001000", "1000"},
		{"compressed numeric padded right with FF", DOL{{0x5A, 10}}, "6212345678901234", "6212345678901234FFFF"},
		{"compressed numeric truncated right", DOL{{0x5A, 4}}, "6212345678901234", "62123456"},
		{"binary padded right", DOL{{0x9F66, 4}}, "3600", "36000000"},
		{"binary truncated right", DOL{{0x9F66, 2}}, "36004000", "3600"},
		{"text padded right", DOL{{0x9F4E, 4}}, "4142", "41420000"},
		{"unknown tag treated as binary", DOL{{0xDF7F, 3}}, "01", "010000"},
		{"constructed tag gives zeros", DOL{{0x70, 2}}, "0102", "0000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values := map[Tag][]byte{}
			if tt.value != "" {
				values[tt.dol[0].Tag] = unhex(t, tt.value)
			}
			check(t, "DOL data", upper(tt.dol.Build(values)), tt.want)
		})
	}
}

func TestDOLSplit(t *testing.T) {
	d := DOL{{0x9F66, 4}, {0x9F02, 6}, {0x9F37, 4}}
	data := unhex(t, "36004000"+"000000001000"+"11223344")
	got, err := d.Split(data)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "9F02", upper(got[0x9F02]), "000000001000")
	check(t, "9F37", upper(got[0x9F37]), "11223344")
	t.Run("wrong length", func(t *testing.T) {
		if _, err := d.Split(data[:5]); !errors.Is(err, ErrDOL) {
			t.Errorf("got %v, want ErrDOL", err)
		}
	})
	t.Run("negative entry length", func(t *testing.T) {
		if _, err := (DOL{{0x9F37, 5}, {0x9F02, -5}}).Split(nil); !errors.Is(err, ErrDOL) {
			t.Errorf("got %v, want ErrDOL", err)
		}
	})
}
