package kernel

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/apdu"
	"github.com/tapwallet/tapwallet/emv"
)

// Step is one APDU exchange of a tap.
type Step struct {
	Name     string // "SELECT PPSE", "GET PROCESSING OPTIONS", "READ RECORD 1/1"
	Command  []byte
	Response []byte        // data and SW1 SW2
	Elapsed  time.Duration // command sent → answer received
	Air      time.Duration // estimated air time of command and answer
}

// SW returns the status word of the answer.
func (s Step) SW() apdu.StatusWord {
	if len(s.Response) < 2 {
		return 0
	}
	n := len(s.Response)
	return apdu.SW(s.Response[n-2], s.Response[n-1])
}

// Trace is the APDU exchanges of a tap, in order.
type Trace []Step

// Format writes the trace readably, one line per command and one per
// answer, in hex with the token and expiry digits masked (tags 5A, 57,
// 5F24, 5F20, 9F6B): a trace can be shown and logged. With timing, each
// answer line ends with the exchange's compute and air time; without, the
// output depends only on the bytes (golden files).
func (t Trace) Format(w io.Writer, timing bool) {
	for _, s := range t {
		fmt.Fprintf(w, "→ %-24s %s\n", s.Name, strings.ToUpper(hex.EncodeToString(s.Command)))
		line := fmt.Sprintf("← %-24s %s", swName(s.SW()), MaskHex(s.Response))
		if timing {
			line += fmt.Sprintf("  [%d+%d bytes, %.3f ms, air %.3f ms]", len(s.Command), len(s.Response), ms(s.Elapsed), ms(s.Air))
		}
		fmt.Fprintln(w, line)
	}
}

// String returns Format without timing.
func (t Trace) String() string {
	var sb strings.Builder
	t.Format(&sb, false)
	return sb.String()
}

// swName names a status word, with the wallet meanings of 6986 and 6984.
func swName(sw apdu.StatusWord) string {
	switch sw {
	case apdu.SWNoCurrentEF:
		return "6986 see phone"
	case apdu.SWReferenceDataNotUsable:
		return "6984 no key left: sync"
	}
	return sw.String()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// sensitive are the tags whose values a trace masks.
var sensitive = map[emv.Tag]bool{0x5A: true, 0x57: true, 0x5F24: true, 0x5F20: true, 0x9F6B: true}

// MaskHex returns b (a response APDU) in upper-case hex with the digits of
// the card number in 5A / 57 kept only as the first 6 and last 4, and the
// rest of track 2, the expiry (5F24), the card holder name (5F20) and
// track-2 data (9F6B) replaced by '*'. Input that does not parse as BER-TLV
// is shown as its length only, as it could hold anything.
func MaskHex(b []byte) string {
	h := []byte(strings.ToUpper(hex.EncodeToString(b)))
	if len(b) <= 2 {
		return string(h)
	}
	data := b[:len(b)-2]
	if _, err := emv.Decode(data); err != nil {
		return fmt.Sprintf("[%d bytes that do not parse] %s", len(data), h[len(h)-4:])
	}
	for _, sp := range sensitiveSpans(data, 0, 0) {
		v := string(h[2*sp.off : 2*(sp.off+sp.n)])
		copy(h[2*sp.off:], maskValue(sp.tag, v))
	}
	return string(h)
}

type span struct {
	tag    emv.Tag
	off, n int
}

// sensitiveSpans walks BER-TLV that emv.Decode accepted and returns where
// the values of sensitive tags are, as offsets into the input.
func sensitiveSpans(b []byte, base, depth int) []span {
	var out []span
	i := 0
	for i < len(b) && depth <= emv.MaxDepth {
		if b[i] == 0x00 {
			i++
			continue
		}
		first := b[i]
		tag := emv.Tag(b[i])
		i++
		if first&0x1F == 0x1F {
			for i < len(b) {
				tag = tag<<8 | emv.Tag(b[i])
				i++
				if b[i-1]&0x80 == 0 {
					break
				}
			}
		}
		if i >= len(b) {
			break
		}
		n := int(b[i])
		i++
		if n&0x80 != 0 {
			k := n & 0x7F
			n = 0
			for ; k > 0 && i < len(b); k-- {
				n = n<<8 | int(b[i])
				i++
			}
		}
		if n < 0 || n > len(b)-i {
			break
		}
		if first&0x20 != 0 {
			out = append(out, sensitiveSpans(b[i:i+n], base+i, depth+1)...)
		} else if sensitive[tag] && n > 0 {
			out = append(out, span{tag: tag, off: base + i, n: n})
		}
		i += n
	}
	return out
}

// maskValue masks the hex of a sensitive value.
func maskValue(tag emv.Tag, v string) string {
	switch tag {
	case 0x5A, 0x57:
		end := strings.IndexAny(v, "DF")
		if end < 0 {
			end = len(v)
		}
		out := []byte(strings.Repeat("*", len(v)))
		if end >= 13 {
			copy(out, v[:6])
			copy(out[end-4:], v[end-4:end])
		}
		if end < len(v) {
			out[end] = v[end] // keep the separator or padding visible
		}
		return string(out)
	}
	return strings.Repeat("*", len(v))
}

// Summary returns one line: APDUs, bytes, compute and air time.
func (s Stats) Summary() string {
	return fmt.Sprintf("%d APDUs, %d bytes (%d sent, %d received), phone compute %.2f ms, estimated air time %.2f ms at 106 kbit/s",
		s.APDUs, s.Bytes(), s.Sent, s.Received, ms(s.Compute), ms(s.Air))
}
