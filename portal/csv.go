package portal

import (
	"encoding/csv"
	"net/http"
	"strings"
)

// transactionsCSV exports the account's payments (at most MaxPayments,
// newest first) as CSV in the visitor's language: no token or card number
// beyond the last 4 digits, every cell escaped by encoding/csv, and a cell
// a spreadsheet would take for a formula (starting with = + - @, a tab or
// a carriage return) prefixed with ' so it stays text.
func (p *Portal) transactionsCSV(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	t := p.tr(r)
	names, err := p.phoneNames(ctx, v.AccountID)
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	pays, err := p.payments(ctx, v.AccountID, MaxPayments)
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="tapwallet-transactions.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("\ufeff")) // so spreadsheets read the Chinese as UTF-8
	cw := csv.NewWriter(w)
	head := []string{t.T("csv.when"), t.T("csv.phone"), t.T("csv.bank"), t.T("csv.card"), t.T("csv.token"), t.T("csv.merchant"), t.T("csv.amount"), t.T("csv.currency"), t.T("csv.discount"), t.T("csv.result")}
	cw.Write(head)
	for _, pm := range pays {
		disc := t.discount(pm)
		row := []string{t.When(pm.At), names[pm.PhoneID], t.bank(pm.BankID, pm.BankName), "•••• " + pm.PANLast4, "•••• " + pm.TokenLast4, pm.Merchant,
			Money(pm.Amount), pm.Amount.Currency.Code(), disc, t.result(pm)}
		for i := range row {
			row[i] = csvSafe(row[i])
		}
		cw.Write(row)
	}
	cw.Flush()
}

// csvSafe keeps a cell from being read as a formula by a spreadsheet
// (OWASP's CSV injection advice): a leading = + - @ tab or CR gets a '.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
