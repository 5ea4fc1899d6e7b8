package clearing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tapwallet/tapwallet/clearing/clearfile"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/money"
)

// The clearing file's format is package clearfile's, shared with the
// issuer hosts that read it; these names keep clearing's callers as they
// were.
type (
	File    = clearfile.File
	Header  = clearfile.Header
	Detail  = clearfile.Detail
	Outcome = clearfile.Outcome
	Ack     = clearfile.Ack
	Posting = clearfile.Posting
	Flag    = clearfile.Flag
)

// The outcomes of a presentment or refund (clearfile's).
const (
	Presented     = clearfile.Presented
	Posted        = clearfile.Posted
	AlreadyPosted = clearfile.AlreadyPosted
	Flagged       = clearfile.Flagged
	Credited      = clearfile.Credited
)

// FlagBadSplit is clearfile's: a refund whose promotion split does not
// balance, flagged by the network and not presented.
const FlagBadSplit = clearfile.FlagBadSplit

// FileType, FileVersion and MaxFileLine are clearfile's.
const (
	FileType    = clearfile.FileType
	FileVersion = clearfile.FileVersion
	MaxFileLine = clearfile.MaxFileLine
)

// ParseFile reads a clearing file (clearfile.Parse).
func ParseFile(r io.Reader) (File, error) { return clearfile.Parse(r) }

// ClearingFiles returns the day's clearing file of each bank that has
// presentments or refunds, by bank id: its presentments (D), then its
// refunds (C) — every one presented, whatever the bank answered.
func (r Report) ClearingFiles() map[string]File {
	files, _ := r.files()
	return files
}

// record is what one record of a clearing file stands for.
type record struct {
	item   *Item
	refund *RefundItem
}

// files returns the banks' clearing files and, for each, what its
// records stand for, in file order.
func (r *Report) files() (map[string]File, map[string][]record) {
	out := map[string]File{}
	recs := map[string][]record{}
	add := func(bankID string, d Detail, rec record) {
		f, ok := out[bankID]
		if !ok {
			f = File{Header: Header{Date: r.Date, Party: bankID, CreatedAt: r.CreatedAt.Truncate(time.Second)}}
		}
		d.Seq = len(f.Details) + 1
		f.Details = append(f.Details, d)
		out[bankID] = f
		recs[bankID] = append(recs[bankID], rec)
	}
	for i := range r.Items {
		it := &r.Items[i]
		a := it.auth
		add(it.Bank, Detail{LocalDate: localDate(r.Date, a.LocalDate), LocalTime: a.LocalTime, RRN: a.RRN, STAN: a.STAN,
			Terminal: a.Terminal, Merchant: a.Merchant, PANLast4: a.PANLast4, Amount: it.Amount, Currency: int(a.Amount.Currency),
			AuthCode: a.AuthCode, Bank: a.BankID, Acquirer: a.Acquirer, Transmission: a.Transmission, MCC: a.MCC, PAR: a.PAR, Promo: it.Promo},
			record{item: it})
	}
	for i := range r.Refunds {
		it := &r.Refunds[i]
		if it.Amount == 0 || it.Flag == FlagBadSplit {
			continue // all of it went back to the funders (nothing for the issuer to credit), or a split that does not balance
		}
		add(it.Bank, r.refundDetail(it), record{refund: it})
	}
	return out, recs
}

// localDate gives DE13 (MMDD) the year that puts it nearest the business
// date (YYYYMMDD).
func localDate(business, mmdd string) string {
	bd, err := time.Parse("20060102", business)
	if err != nil || len(mmdd) != 4 {
		return business
	}
	best := ""
	var bestD time.Duration
	for _, y := range []int{bd.Year() - 1, bd.Year(), bd.Year() + 1} {
		t, err := time.Parse("20060102", strconv.Itoa(y)+mmdd)
		if err != nil {
			continue
		}
		d := t.Sub(bd)
		if d < 0 {
			d = -d
		}
		if best == "" || d < bestD {
			best, bestD = t.Format("20060102"), d
		}
	}
	if best == "" {
		return business
	}
	return best
}

// Text returns the report as text tables: the banks' positions, the
// acquirers', and the flagged presentments.
func (r Report) Text() string {
	var b bytes.Buffer
	amt := func(m int64) string { return money.New(m, money.CNY).String() }
	fmt.Fprintf(&b, "Clearing of %s (created %s)\n", r.Date, r.CreatedAt.Format(time.RFC3339))
	if r.Expired > 0 {
		fmt.Fprintf(&b, "%d expired holds released before clearing\n", r.Expired)
	}
	fmt.Fprintln(&b)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "issuer\tpresented\tposted\tposted amount\tflagged\tflagged amount\trefunds\trefund amount\tpromo funded\tpromo credits\tnet position\t")
	var pres, posted, flagged, refunds int
	var postedAmt, flaggedAmt, refundAmt, funded, credits, net int64
	for _, l := range r.Banks {
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t\n", l.Bank, l.Presented, l.Posted, amt(l.PostedAmount), l.Flagged, amt(l.FlaggedAmount),
			l.Refunds, amt(l.RefundAmount), amt(l.PromoFunded), amt(l.PromoCredits), amt(l.Net))
		pres, posted, flagged, refunds = pres+l.Presented, posted+l.Posted, flagged+l.Flagged, refunds+l.Refunds
		postedAmt, flaggedAmt, refundAmt, net = postedAmt+l.PostedAmount, flaggedAmt+l.FlaggedAmount, refundAmt+l.RefundAmount, net+l.Net
		funded, credits = funded+l.PromoFunded, credits+l.PromoCredits
	}
	fmt.Fprintf(w, "total\t%d\t%d\t%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t\n", pres, posted, amt(postedAmt), flagged, amt(flaggedAmt), refunds, amt(refundAmt),
		amt(funded), amt(credits), amt(net))
	w.Flush()
	fmt.Fprintln(&b)
	w = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "acquirer\tpurchases\tdiscounted\tmerchant funded\trefunds\tnet position\t")
	for _, l := range r.Acquirers {
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%d\t%s\t\n", l.Acquirer, l.Count, l.Discounted, amt(l.MerchantFunded), l.Refunds, amt(l.Net))
	}
	fmt.Fprintf(w, "network promotions\t\t\t\t\t%s\t\n", amt(r.Promotion))
	fmt.Fprintf(w, "network\t\t\t\t\t%s\t\n", amt(r.Network))
	w.Flush()
	r.promoText(&b)
	if flags := r.Flags(); len(flags) > 0 {
		fmt.Fprintf(&b, "\nFlagged, not posted (%d):\n", len(flags))
		for _, it := range flags {
			fmt.Fprintf(&b, "  %s rrn %s card ending %s: %s presented, %s held — %s\n", it.Bank, strings.TrimSpace(it.RRN), it.PANLast4,
				amt(it.Amount), amt(it.Held), it.Reason)
		}
	}
	if flags := r.RefundFlags(); len(flags) > 0 {
		fmt.Fprintf(&b, "\nRefunds flagged, not netted (%d):\n", len(flags))
		for _, it := range flags {
			fmt.Fprintf(&b, "  %s rrn %s card ending %s: %s refunded — %s\n", it.Bank, strings.TrimSpace(it.RRN), it.PANLast4, amt(it.Amount), it.Reason)
		}
	}
	return b.String()
}

// Write writes the report (report-YYYYMMDD.txt and .json) and each bank's
// clearing file (TWCLR-YYYYMMDD-<bank>.txt) into dir, and returns the
// report with the files' paths. It fails with a fault.Unavailable error
// when dir cannot be written, and like File.Marshal.
func Write(dir string, r Report) (Report, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return r, fault.Wrap(err, fault.Unavailable, "clearing_write", "cannot create %s", dir)
	}
	files := r.ClearingFiles()
	r.Files = nil
	write := func(name string, data []byte) error {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o640); err != nil {
			return fault.Wrap(err, fault.Unavailable, "clearing_write", "cannot write %s", p)
		}
		r.Files = append(r.Files, p)
		return nil
	}
	for _, bankID := range sortedKeys(files) {
		data, err := files[bankID].Marshal()
		if err != nil {
			return r, err
		}
		if err := write(fmt.Sprintf("TWCLR-%s-%s.txt", r.Date, bankID), data); err != nil {
			return r, err
		}
	}
	if err := write("report-"+r.Date+".txt", []byte(r.Text())); err != nil {
		return r, err
	}
	j, _ := json.MarshalIndent(r, "", "  ")
	if err := write("report-"+r.Date+".json", append(j, '\n')); err != nil {
		return r, err
	}
	return r, nil
}

// promoText writes the promotion lines of the report (none: nothing).
func (r Report) promoText(b *bytes.Buffer) {
	st := r.Promotions
	h := r.PromoHolds
	if st == nil && h == (PromoHolds{}) {
		return
	}
	amt := func(m int64) string { return money.New(m, money.CNY).String() }
	fmt.Fprintf(b, "\nPromotion holds: %d expired before clearing, %d posted now, %d posted before, %d not posted; %d refunds restored to their budgets\n",
		h.Expired, h.Posted, h.AlreadyPosted, h.NotPosted, h.Restored)
	if st == nil {
		return
	}
	fmt.Fprintf(b, "Promotions: gross %s = card holders %s + discounts %s; funded %s (of which %s credited after clearing)\n\n",
		amt(st.Gross), amt(st.CardNet), amt(st.Discounts), amt(st.Funded), amt(st.Credits))
	w := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "campaign\tfunder\t\tto\tcount\tamount\t")
	for _, l := range st.Lines {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t\n", l.Campaign, l.Kind, l.Party, l.To, l.Count, amt(l.Amount))
	}
	w.Flush()
	fmt.Fprintln(b)
	w = tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "merchant\tdiscounted\tgross\tit funded\tsettled\t")
	for _, m := range st.Merchants {
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t\n", m.Merchant, m.Count, amt(m.Gross), amt(m.Funded), amt(m.Settled))
	}
	w.Flush()
}
