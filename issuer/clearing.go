package issuer

import (
	"context"
	"strings"

	"github.com/tapwallet/tapwallet/clearing/clearfile"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/ledger"
)

// postChunk bounds the transfers of one ledger batch at clearing.
const postChunk = 1000

// PostClearing posts the bank's clearing file from the network, as the
// bank does at end of day: it first releases the holds whose time has run
// out, then posts, for each presentment (D), the hold that stands for its
// authorization now (CurrentHold of HoldID of the record's DE7, STAN and
// terminal: after a partial reversal, the reduced hold) for the amount
// presented, at most the hold, under PostID of that hold — so a file
// posted twice, or two files naming one authorization, post it once — and
// checks each refund (C) against the credit the host booked when it
// approved it. Then the bank's rewards (clearingRewards, rewards.go): the
// points each posted purchase earns accrued to its card (by PAR), a
// campaign's statement credit paid, and the points of each refund credited
// taken back; the points whose life ended expire first (ExpirePoints). It answers one Posting per record, in file order: Posted,
// AlreadyPosted or Flagged (with the reason) for a presentment; Credited
// or Flagged for a refund.
//
// It fails with fault.Invalid "bad_clearing_file" for a file of another
// bank or of a version without DE7 (before 3), and with the ledger's
// error; then posting the file again finishes the work.
func (h *Host) PostClearing(ctx context.Context, f clearfile.File) (clearfile.Ack, error) {
	if f.Header.Party != h.bank.ID {
		return clearfile.Ack{}, fault.E(fault.Invalid, "bad_clearing_file", "%s was given the clearing file of %s", h.bank.ID, f.Header.Party)
	}
	ack := clearfile.Ack{Date: f.Header.Date, Party: h.bank.ID, Postings: make([]clearfile.Posting, len(f.Details))}
	for i, d := range f.Details {
		if d.Transmission == "" || d.Bank != h.bank.ID {
			return clearfile.Ack{}, fault.E(fault.Invalid, "bad_clearing_file", "record %d: no transmission time (DE7) or another bank's record", d.Seq)
		}
		ack.Postings[i] = clearfile.Posting{Seq: d.Seq}
	}
	n, err := h.cfg.Ledger.ExpirePending(ctx, h.cfg.Now())
	if err != nil {
		return clearfile.Ack{}, err
	}
	ack.Expired = n
	if _, err := h.ExpirePoints(ctx, h.cfg.Now()); err != nil {
		return clearfile.Ack{}, err
	}
	var debits []int
	accts := make([]string, len(f.Details)) // each presentment's card account, from its hold
	for i, d := range f.Details {
		if d.Credit {
			if err := h.checkRefund(ctx, d, &ack.Postings[i]); err != nil {
				return clearfile.Ack{}, err
			}
			continue
		}
		debits = append(debits, i)
	}
	for start := 0; start < len(debits); start += postChunk {
		if err := h.post(ctx, f.Details, debits[start:min(start+postChunk, len(debits))], ack.Postings, accts); err != nil {
			return clearfile.Ack{}, err
		}
	}
	if err := h.clearingRewards(ctx, f.Details, ack.Postings, accts); err != nil {
		return clearfile.Ack{}, err
	}
	return ack, nil
}

// post posts the presentments f[idx] in one ledger batch and records each
// outcome in out, and the card account of each hold in accts.
func (h *Host) post(ctx context.Context, f []clearfile.Detail, idx []int, out []clearfile.Posting, accts []string) error {
	ts := make([]ledger.Transfer, len(idx))
	for k, i := range idx {
		d := f[i]
		id := HoldID(h.bank.ID, d.Transmission, d.STAN, d.Terminal)
		t, err := CurrentHold(ctx, h.cfg.Ledger, id)
		switch {
		case err == nil:
			id, out[i].Held, accts[i] = t.ID, t.Amount, t.DebitAccountID
		case fault.KindOf(err) != fault.NotFound:
			return err
		}
		ts[k] = ledger.Post(PostID(id), id, d.Amount, "clearing rrn "+strings.TrimSpace(d.RRN))
	}
	rs, err := h.cfg.Ledger.CreateTransfers(ctx, ts)
	if err != nil {
		return err
	}
	for k, i := range idx {
		switch rs[k] {
		case ledger.OK:
			out[i].Outcome = clearfile.Posted
		case ledger.Exists:
			out[i].Outcome = clearfile.AlreadyPosted
		default:
			out[i].Outcome = clearfile.Flagged
			out[i].Flag, out[i].Reason = postRefused(rs[k])
		}
	}
	return nil
}

// checkRefund finds the credit of a refund record (RefundID of its
// identity) for the same amount.
func (h *Host) checkRefund(ctx context.Context, d clearfile.Detail, out *clearfile.Posting) error {
	t, err := h.cfg.Ledger.LookupTransfer(ctx, RefundID(HoldID(h.bank.ID, d.Transmission, d.STAN, d.Terminal)))
	switch {
	case fault.KindOf(err) == fault.NotFound:
		out.Outcome, out.Flag, out.Reason = clearfile.Flagged, clearfile.FlagNoCredit, "the issuer holds no credit for it"
	case err != nil:
		return err
	case t.Amount != d.Amount || t.Flags&(ledger.Pending|ledger.PostPending|ledger.VoidPending) != 0:
		out.Outcome, out.Flag, out.Reason = clearfile.Flagged, clearfile.FlagCreditDiffers, "the issuer credited another amount"
	default:
		out.Outcome = clearfile.Credited
	}
	return nil
}

// postRefused says why a presentment could not be posted, as a code and
// in words.
func postRefused(r ledger.Result) (clearfile.Flag, string) {
	switch r {
	case ledger.ExceedsPendingTransferAmount:
		return clearfile.FlagExceedsHold, "more than the hold"
	case ledger.PendingTransferNotFound:
		return clearfile.FlagNoHold, "unknown authorization: the issuer holds nothing for it"
	case ledger.PendingTransferExpired:
		return clearfile.FlagHoldExpired, "the hold expired before clearing"
	case ledger.PendingTransferAlreadyVoided:
		return clearfile.FlagHoldVoided, "the hold was voided (reversed at the issuer)"
	case ledger.PendingTransferAlreadyPosted, ledger.ExistsWithDifferentFields:
		return clearfile.FlagClearedOther, "already cleared for another amount"
	}
	return clearfile.FlagLedgerRefused, "refused by the ledger: " + string(r)
}

// ClearingHosts hands each bank's clearing file to its issuer host in this
// process (clearing.Issuers), by bank id.
type ClearingHosts map[string]*Host

// PostClearing posts f at the host of bankID (Host.PostClearing). It fails
// with fault.Unavailable "issuer_unavailable" for a bank whose host is not
// in this process, and like Host.PostClearing.
func (m ClearingHosts) PostClearing(ctx context.Context, bankID string, f clearfile.File) (clearfile.Ack, error) {
	h, ok := m[bankID]
	if !ok {
		return clearfile.Ack{}, fault.E(fault.Unavailable, "issuer_unavailable", "no issuer host of %s in this process to post its clearing", bankID)
	}
	return h.PostClearing(ctx, f)
}
