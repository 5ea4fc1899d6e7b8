package sqlstore

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/netswitch"
)

// A record has two forms. The journal holds its values (authArgs) in
// recordCols' order, the columns switch_auths had before migration 004;
// the table holds it as a row of authCols, the values no reader filters,
// sorts or updates on folded into the one column detail (detailCols, each
// as its length in characters, ':' and its text — amount and currency in
// decimal: encodeDetail). Fewer values to bind: the write-behind's insert
// binds 16 a record instead of 31 (issue 16; migrations 004 and 005).

// recordCols are the values of a record as authArgs gives them (and the
// journal holds them), in order.
const recordCols = `id, digest, acquirer, terminal, stan, transmission, rrn, merchant, merchant_name, mcc, local_date, local_time,
	token, token_last4, pan_last4, pan_sealed, phone_id, account_id, bank_id, amount, currency, auth_code, response_code, reason,
	answer, business_date, received_at, answered_at, reversed_at, reversal_rc, clear_amount, cleared_at, clearing_date, par, promo`

// authCols are the columns of switch_auths a record is stored in and read
// from (scanAuth), in order.
const authCols = `id, digest, token, phone_id, business_date, received_at, response_code, auth_code, reason, answered_at, clear_amount,
	reversed_at, reversal_rc, cleared_at, clearing_date, par, promo, pan_sealed, answer, detail`

// detailCols are the values of a record in its column detail, in order:
// migration 004's, then 005's (the identity's parts).
const detailCols = `acquirer, rrn, merchant, merchant_name, mcc, local_date, local_time, token_last4, pan_last4, account_id, bank_id, amount, currency,
	terminal, stan, transmission`

// splitCols returns the names of a column list.
func splitCols(cols string) []string {
	out := strings.Split(cols, ",")
	for i, c := range out {
		out[i] = strings.TrimSpace(c)
	}
	return out
}

// The places of the columns among a record's values (recordCols): rowAt
// is each of authCols' (-1 for detail), freshAt each of freshCols',
// detailAt each of detailCols'; answerAt is, by place in a record's
// values, the place in finishArgs of the value an answer sets (-1 for
// the others); defaultCols are the places of the columns a record not yet
// reversed or cleared leaves at their defaults (fresh); rcCol is
// response_code's.
var (
	recAt              = colPlaces(recordCols)
	rowAt              = placesIn(splitCols(authCols))
	detailAt           = placesIn(splitCols(detailCols))
	freshCols, freshAt = freshColumns()
	defaultCols        = placesIn(splitCols(`reversed_at, reversal_rc, cleared_at, clearing_date`))
	answerAt           = answerPlaces()
	rcCol              = recAt["response_code"]
)

var errDetail = fault.E(fault.Internal, "switch_detail", "a stored record's detail does not decode")

// colPlaces maps each column of a list to its place.
func colPlaces(cols string) map[string]int {
	at := map[string]int{}
	for i, c := range splitCols(cols) {
		at[c] = i
	}
	return at
}

// placesIn returns the places of cols among a record's values (-1 for
// detail).
func placesIn(cols []string) []int {
	out := make([]int, len(cols))
	for i, c := range cols {
		at, ok := recAt[c]
		if !ok {
			at = -1 // detail
		}
		out[i] = at
	}
	return out
}

// freshColumns returns the columns a record is inserted with by the
// write-behind — authCols but those a record not yet reversed or cleared
// leaves at their defaults — and their places among its values.
func freshColumns() (string, []int) {
	var cols []string
	for _, c := range splitCols(authCols) {
		switch c {
		case "reversed_at", "reversal_rc", "cleared_at", "clearing_date":
		default:
			cols = append(cols, c)
		}
	}
	return strings.Join(cols, ", "), placesIn(cols)
}

// answerPlaces returns answerAt: the columns finishAuth sets, in
// finishArgs' order.
func answerPlaces() []int {
	at := make([]int, len(recAt))
	for i := range at {
		at[i] = -1
	}
	for i, c := range splitCols(finishCols) {
		at[recAt[c]] = i
	}
	return at
}

// finishCols are the columns finishAuth sets, in finishArgs' order (its
// last value is the record's identity).
const finishCols = `response_code, reason, auth_code, answer, answered_at, promo`

// finishAnswer is the answer's place in finishArgs.
var finishAnswer = colPlaces(finishCols)["answer"]

// nullable reports whether the value at place i of a journal record of
// kind may be nil (NULL): the sealed PAN and the answer only.
func nullable(kind byte, i int) bool {
	if kind == recFinish {
		return i == finishAnswer
	}
	return i == recAt["pan_sealed"] || i == recAt["answer"]
}

// appendRow appends the row of a record's values rec (authArgs) for the
// columns at places (rowAt, or freshAt), the values an answer sets taken
// from answer (finishArgs) when it is not nil.
func appendRow(dst, rec, answer []any, places []int) []any {
	return appendRowTo(dst, rec, answer, places, nil)
}

// appendRowTo is appendRow with the column detail written by details
// (nil: a string of its own, encodeDetail).
func appendRowTo(dst, rec, answer []any, places []int, details *detailWriter) []any {
	for _, at := range places {
		if at < 0 {
			if details != nil {
				dst = append(dst, details.detail(rec))
			} else {
				dst = append(dst, encodeDetail(rec))
			}
			continue
		}
		v := rec[at]
		if answer != nil {
			if k := answerAt[at]; k >= 0 {
				v = answer[k]
			}
		}
		dst = append(dst, v)
	}
	return dst
}

// rowArgs returns a's row (authCols).
func rowArgs(a netswitch.Auth) []any {
	return appendRow(make([]any, 0, len(rowAt)), authArgs(a), nil, rowAt)
}

// encodeDetail returns the column detail of a record's values (authArgs):
// each of detailCols as its length in characters (the length() of SQLite
// and PostgreSQL, with which migrations 004 and 005 made the rows they
// carried over), ':' and its text.
func encodeDetail(rec []any) string {
	var buf [256]byte
	return string(appendDetail(buf[:0], rec))
}

// appendDetail appends the column detail of rec (encodeDetail) to b.
func appendDetail(b []byte, rec []any) []byte {
	var num [24]byte
	for _, at := range detailAt {
		var digits []byte
		switch v := rec[at].(type) {
		case string:
			b = appendLength(b, runeCount(v))
			b = append(b, v...)
			continue
		case int64:
			digits = strconv.AppendInt(num[:0], v, 10)
		case int:
			digits = strconv.AppendInt(num[:0], int64(v), 10)
		}
		b = appendLength(b, len(digits))
		b = append(b, digits...)
	}
	return b
}

// appendLength appends a field's length n in decimal and ':' to b.
func appendLength(b []byte, n int) []byte {
	if n < 10 {
		return append(b, byte('0'+n), ':')
	}
	return append(strconv.AppendInt(b, int64(n), 10), ':')
}

// runeCount is utf8.RuneCountInString, at once for ASCII text (nearly
// every value of a record): a pass that ORs the bytes instead of decoding
// each as a rune.
func runeCount(s string) int {
	var or byte
	for i := 0; i < len(s); i++ {
		or |= s[i]
	}
	if or < utf8.RuneSelf {
		return len(s)
	}
	return utf8.RuneCountInString(s)
}

// detailWriter writes the column detail of the rows of a write-behind's
// inserts into one buffer, each row's detail a part of its text: one
// allocation for a chunk of rows instead of one a row. A string taken
// stays as it is when the buffer grows (strings.Builder never changes
// what it wrote; a larger buffer is a copy).
type detailWriter struct {
	b       strings.Builder
	scratch []byte
}

// reset starts a new buffer with room for about rows details (the
// strings taken from the last one stay valid).
func (w *detailWriter) reset(rows int) {
	w.b = strings.Builder{}
	w.b.Grow(rows * detailRoom)
}

// detailRoom is the room reset makes for a detail: bench auth's are ~150
// bytes (a bigger one grows the buffer).
const detailRoom = 192

// detail returns the column detail of rec, written into w's buffer.
func (w *detailWriter) detail(rec []any) string {
	w.scratch = appendDetail(w.scratch[:0], rec)
	start := w.b.Len()
	w.b.Write(w.scratch)
	return w.b.String()[start:]
}

// decodeDetail reads the column detail into a (and the amount's stored
// form into tv); errDetail when it does not decode.
func decodeDetail(s string, a *netswitch.Auth, tv *typed) error {
	var minor, currency string
	for _, p := range [...]*string{&a.Acquirer, &a.RRN, &a.Merchant, &a.MerchantName, &a.MCC, &a.LocalDate, &a.LocalTime, &a.TokenLast4,
		&a.PANLast4, &a.AccountID, &a.BankID, &minor, &currency, &a.Terminal, &a.STAN, &a.Transmission} {
		v, rest, ok := cutField(s)
		if !ok {
			return errDetail
		}
		*p, s = v, rest
	}
	var err1, err2 error
	tv.minor, err1 = strconv.ParseInt(minor, 10, 64)
	tv.currency, err2 = strconv.Atoi(currency)
	if s != "" || err1 != nil || err2 != nil {
		return errDetail
	}
	return nil
}

// cutField cuts the first field (a length in characters, ':' and the
// text) off s.
func cutField(s string) (v, rest string, ok bool) {
	colon := strings.IndexByte(s, ':')
	if colon < 1 || colon > 9 {
		return "", "", false
	}
	n, err := strconv.Atoi(s[:colon])
	if err != nil || n < 0 {
		return "", "", false
	}
	s = s[colon+1:]
	i := 0
	for range n {
		if i >= len(s) {
			return "", "", false
		}
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return s[:i], s[i:], true
}
