package iso8583

import (
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// Describe returns the message on one line, safe to log: the MTI, then
// "DEn=value" for every element in order, with the elements whose Spec has a
// mask shown masked: the PAN and account id as 622202******0004, track 2 as
// 622202******0004=****, expiry, ICC data and private elements as their
// length only. Binary elements without a mask are shown in hex. It never fails.
func (m Message) Describe() string {
	var b strings.Builder
	if m.MTI == "" {
		b.WriteString("----")
	} else {
		b.WriteString(safeText(string(m.MTI)))
	}
	m.each(func(de int, v []byte) {
		b.WriteString(" DE")
		b.WriteString(strconv.Itoa(de))
		b.WriteByte('=')
		b.WriteString(shown(de, v))
	})
	return b.String()
}

// LogValue makes slog print the message as a group: "mti" and "deN" with
// the values Describe shows, so card data never reaches a log.
func (m Message) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, 24)
	attrs = append(attrs, slog.String("mti", safeText(string(m.MTI))))
	m.each(func(de int, v []byte) {
		attrs = append(attrs, slog.String("de"+strconv.Itoa(de), shown(de, v)))
	})
	return slog.GroupValue(attrs...)
}

// Format makes every fmt verb (%v, %+v, %#v, %s, %q, ...) print Describe,
// so that printing a message by mistake cannot leak a card number.
func (m Message) Format(f fmt.State, verb rune) {
	_, _ = io.WriteString(f, m.Describe())
}

// shown returns the printable, masked form of element de.
func shown(de int, v []byte) string {
	sp := specs[de]
	if sp == nil {
		return "[" + strconv.Itoa(len(v)) + " bytes]"
	}
	switch sp.Mask {
	case MaskPAN:
		return maskPAN(v)
	case MaskTrack2:
		i := strings.IndexAny(string(v), "=D")
		if i < 0 {
			return maskPAN(v)
		}
		return maskPAN(v[:i]) + "=****"
	case Hidden:
		return "[" + strconv.Itoa(len(v)) + " " + sp.unit() + "]"
	}
	if sp.Type == B {
		return hex.EncodeToString(v)
	}
	return safeText(string(v))
}

// maskPAN keeps the first six and last four characters of a 13-or-longer
// number and replaces the rest with stars; a shorter one is all stars.
func maskPAN(v []byte) string {
	if len(v) < 13 {
		return strings.Repeat("*", len(v))
	}
	var b strings.Builder
	b.Write(v[:6])
	b.WriteString(strings.Repeat("*", len(v)-10))
	b.Write(v[len(v)-4:])
	return safeText(b.String())
}

// safeText replaces anything but printable ASCII with '?', so that a log
// line cannot be forged or garbled by a value.
func safeText(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			b := []byte(s)
			for j := range b {
				if b[j] < 0x20 || b[j] > 0x7e {
					b[j] = '?'
				}
			}
			return string(b)
		}
	}
	return s
}
