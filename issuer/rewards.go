package issuer

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/clearing/clearfile"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/promo/points"
)

// The error codes of rewards (fault.CodeOf).
const (
	CodeBadRewards    = "bad_rewards_request" // fault.Invalid: a request that cannot be asked
	CodeNoPurchase    = "purchase_not_found"  // fault.NotFound: no posted purchase of that card
	CodePointsShort   = "points_short"        // fault.Limit: the card has no points to pay with
	CodeNoRewardsHost = "rewards_not_hosted"  // fault.NotFound: the bank's host is not in this process
)

// Program returns the bank's points programme. It never fails.
func (h *Host) Program() *points.Program { return h.program }

// Points returns a card's points at the bank (bank.Rewards.Points): the
// points of lots not expired now, what a point pays and the oldest lot.
// An unknown card has 0. It fails with fault.Invalid for an empty PAR and
// the store's error.
func (h *Host) Points(ctx context.Context, par string) (bank.Points, error) {
	if err := checkPAR(par); err != nil {
		return bank.Points{}, err
	}
	c, err := h.cfg.Points.PointsCard(ctx, h.bank.ID, par)
	if err != nil {
		return bank.Points{}, err
	}
	return h.pointsOf(c, h.cfg.Now()), nil
}

func (h *Host) pointsOf(c PointsCard, now time.Time) bank.Points {
	bal, oldest, ok := c.Live(now)
	p := bank.Points{Bank: h.bank.ID, Balance: bal, FenPerPoint: h.program.FenPerPoint}
	if ok {
		p.Expiring, p.ExpiresAt = oldest.Left, oldest.Expires
	}
	return p
}

// checkPAR refuses a PAR that is empty, longer than 32 or not letters and
// digits (a PAR is 29).
func checkPAR(par string) error {
	if par == "" || len(par) > 32 {
		return fault.E(fault.Invalid, CodeBadRewards, "a card's PAR is 1 to 32 letters and digits")
	}
	for _, c := range par {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return fault.E(fault.Invalid, CodeBadRewards, "a card's PAR is 1 to 32 letters and digits")
		}
	}
	return nil
}

// PurchaseHold returns the hold id (HoldID) of a purchase named as the
// network names it (its record's identity, DE41|DE11|DE7, netmsg.ID) or as
// the bank does (bank|DE7|DE11|DE41); false for anything else.
func PurchaseHold(bankID, purchase string) (string, bool) {
	parts := strings.Split(purchase, "|")
	var terminal, stan, transmission string
	switch {
	case len(parts) == 3:
		terminal, stan, transmission = parts[0], parts[1], parts[2]
	case len(parts) == 4 && parts[0] == bankID:
		transmission, stan, terminal = parts[1], parts[2], parts[3]
	default:
		return "", false
	}
	if !allDigits(stan, 6) || !allDigits(transmission, 10) || terminal == "" || len(terminal) > 8 {
		return "", false
	}
	return HoldID(bankID, transmission, stan, terminal), true
}

func allDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// PayWithPoints pays a posted purchase of the card with points
// (bank.Rewards.PayWithPoints): it spends at most req.Points (0: as many
// as the purchase takes) of the card's points, oldest lots first, no more
// than the purchase is worth (what clearing posted less what was
// refunded), and credits the card's account their worth from the bank's
// promotion account — the points and the credit in the bank's ledger in
// one step with the lots. Keyed by the purchase: asked again (however
// often, at once or later) it credits nothing more and answers the first
// payment with Again. It fails with fault.Invalid for a request it cannot
// read, fault.NotFound (purchase_not_found) for a purchase the bank has
// not posted for that card, fault.Limit (points_short) when the card has
// no points, and the store's or the ledger's error.
func (h *Host) PayWithPoints(ctx context.Context, req bank.PayWithPoints) (bank.PointsPayment, error) {
	if req.Bank != "" && req.Bank != h.bank.ID {
		return bank.PointsPayment{}, fault.E(fault.Invalid, CodeBadRewards, "%s was asked to pay with the points of %s", h.bank.ID, req.Bank)
	}
	if err := checkPAR(req.PAR); err != nil {
		return bank.PointsPayment{}, err
	}
	if req.Points < 0 {
		return bank.PointsPayment{}, fault.E(fault.Invalid, CodeBadRewards, "points %d is negative", req.Points)
	}
	holdID, ok := PurchaseHold(h.bank.ID, req.Purchase)
	if !ok {
		return bank.PointsPayment{}, fault.E(fault.Invalid, CodeBadRewards, "purchase %q is not a purchase's identity (terminal|STAN|DE7)", clip(req.Purchase))
	}
	notFound := fault.E(fault.NotFound, CodeNoPurchase, "%s posted no purchase %s for this card", h.bank.ID, req.Purchase)
	// The purchase as clearing posted it, read before the card's update.
	t, err := CurrentHold(ctx, h.cfg.Ledger, holdID)
	if fault.KindOf(err) == fault.NotFound {
		return bank.PointsPayment{}, notFound
	}
	if err != nil {
		return bank.PointsPayment{}, err
	}
	worth := int64(0)
	if t.Status == ledger.StatusPosted {
		p, err := h.cfg.Ledger.LookupTransfer(ctx, PostID(t.ID))
		switch {
		case err == nil:
			worth = p.Amount
		case fault.KindOf(err) != fault.NotFound:
			return bank.PointsPayment{}, err
		}
	}
	refunded, err := h.cfg.Refunds.Refunded(ctx, h.bank.ID, holdID)
	if err != nil {
		return bank.PointsPayment{}, err
	}
	worth -= refunded
	now := h.cfg.Now()
	var out bank.PointsPayment
	err = h.cfg.Points.UpdatePoints(ctx, h.bank.ID, req.PAR, func(c *PointsCard) ([]ledger.Transfer, error) {
		out = bank.PointsPayment{Purchase: req.Purchase}
		if c.Account == "" || c.Account != t.DebitAccountID || t.Status != ledger.StatusPosted {
			return nil, notFound
		}
		if n, paid := c.Applied["pay:"+holdID]; paid {
			out.Points, out.Credit, out.Again = n, n*h.program.FenPerPoint, true
			out.Balance, _, _ = c.Live(now)
			return nil, nil
		}
		b := c.book(h.program)
		bal, _, _ := c.Live(now)
		pts := min(bal, worth/h.program.FenPerPoint)
		if req.Points > 0 {
			pts = min(pts, req.Points)
		}
		if pts <= 0 {
			if bal <= 0 {
				return nil, fault.E(fault.Limit, CodePointsShort, "the card has no points at %s", h.bank.ID)
			}
			return nil, fault.E(fault.Invalid, CodeBadRewards, "the purchase has %s left to pay with points", money.FormatMinor(worth, 2))
		}
		ts, credit, _, err := b.Pay(holdID, pts, worth, c.Account, now)
		if err != nil {
			return nil, err
		}
		c.keep(b, nil)
		out.Points, out.Credit = pts, credit
		out.Balance, _, _ = c.Live(now)
		return ts, nil
	})
	if err != nil {
		return bank.PointsPayment{}, err
	}
	if !out.Again {
		h.cfg.Log.Info("issuer: paid with points", "points", out.Points, "credit", out.Credit)
	}
	return out, nil
}

// clip shortens what a request said for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// ExpirePoints releases, oldest first, the points of every lot of the
// bank's cards whose life ended at or before now (points.Book.Expire: card →
// breakage in the bank's ledger), and returns how many points expired. It
// fails with the store's or the ledger's error; the cards done before
// stand, and the next sweep finishes.
func (h *Host) ExpirePoints(ctx context.Context, now time.Time) (int64, error) {
	pars, err := h.cfg.Points.PointsDue(ctx, h.bank.ID, now)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, par := range pars {
		err := h.cfg.Points.UpdatePoints(ctx, h.bank.ID, par, func(c *PointsCard) ([]ledger.Transfer, error) {
			b := c.book(h.program)
			ts := b.Expire(now)
			for _, t := range ts {
				total += t.Amount
			}
			c.keep(b, nil)
			return ts, nil
		})
		if h.stop(err, "points not expired", 0) {
			return total, err
		}
	}
	return total, nil
}

// stop reports whether a rewards step's error stops clearing (or the
// sweep): a storage failure does (posting the file again, or the next
// sweep, finishes the work, once); a refusal of the bank's own ledger —
// its promotion account spent, say — is logged and the rest goes on, so
// that it never holds up the bank's clearing.
func (h *Host) stop(err error, what string, record int) bool {
	if err == nil {
		return false
	}
	if k := fault.KindOf(err); k == fault.Unavailable || k == fault.Internal && fault.CodeOf(err) != "issuer_accounts" {
		return true
	}
	h.cfg.Log.Error("issuer: "+what, "record", record, "err", fault.MessageOf(err))
	return false
}

// pointsWork is what clearing does for the points of one card.
type pointsWork struct {
	account string
	accrue  []accrual
	refunds []Refund
}

type accrual struct {
	id     string // the purchase's hold id
	amount int64  // fen posted
	points int64  // earned and bonus
}

// productOf is a card's product by its BIN in the bank's directory entry,
// else as its holder's file says.
func (h *Host) productOf(c cardAccount) string {
	for _, p := range h.bank.Products {
		if p.BIN != "" && strings.HasPrefix(c.holder.PAN.Digits(), p.BIN) {
			return string(p.Kind)
		}
	}
	return string(c.holder.Product)
}

// clearingRewards does, after the presentments of a clearing file are
// posted, what the bank owes its card holders for them: the points each
// posted purchase earns (points.Program.Earn by product and MCC, plus the
// bonus of a points campaign) accrued to the card (by PAR), a campaign's
// statement credit paid once, and for each refund credited the points of
// its purchase taken back (points.TakenBack). Everything is idempotent
// by the purchase's or the refund's identity, so a file posted twice does
// it once.
func (h *Host) clearingRewards(ctx context.Context, f []clearfile.Detail, out []clearfile.Posting, accts []string) error {
	work := map[string]*pointsWork{}
	var order []string
	workOf := func(par string) *pointsWork {
		w, ok := work[par]
		if !ok {
			w = &pointsWork{}
			work[par] = w
			order = append(order, par)
		}
		return w
	}
	// The purchases first, then the refunds: a refund in the same file as
	// its purchase finds the purchase's card there (its lot is made by
	// this very update), not only among the lots of earlier files.
	earnedBy := map[string]string{} // a purchase's id → the PAR it earns for, in this file
	for i, d := range f {
		if d.Credit {
			continue
		}
		if out[i].Outcome != clearfile.Posted && out[i].Outcome != clearfile.AlreadyPosted {
			continue
		}
		acct, ok := h.byAcct[accts[i]]
		if !ok {
			continue
		}
		id := HoldID(h.bank.ID, d.Transmission, d.STAN, d.Terminal)
		if d.Promo != nil && d.Promo.Fulfilment == promo.FulfilStatementCredit {
			if err := h.statementCredit(ctx, id, acct.id, d.Promo); h.stop(err, "statement credit not paid", d.Seq) {
				return err
			}
		}
		if d.PAR == "" || checkPAR(d.PAR) != nil {
			continue // a file before version 4: no points
		}
		pts := h.program.Earn(h.productOf(acct), d.MCC, d.Amount)
		if d.Promo != nil && d.Promo.Fulfilment == promo.FulfilPoints && d.Promo.Check() == nil {
			pts += d.Promo.Discount / h.program.FenPerPoint
		}
		w := workOf(d.PAR)
		if w.account != "" && w.account != acct.id {
			h.cfg.Log.Warn("issuer: one PAR on two card accounts in a clearing file: points of the second left out", "record", d.Seq)
			continue
		}
		w.account = acct.id
		w.accrue = append(w.accrue, accrual{id: id, amount: d.Amount, points: pts})
		earnedBy[id] = d.PAR
		// Refunds the bank took of it already — credited in a file before
		// this presentment, when the purchase had no lot to take back
		// from — take their points back now (once: by the refund's id).
		rs, err := h.refundsOf(ctx, id)
		if err != nil {
			return err
		}
		w.refunds = append(w.refunds, rs...)
	}
	for i, d := range f {
		if !d.Credit || out[i].Outcome != clearfile.Credited {
			continue
		}
		r, ok, err := h.refundOf(ctx, HoldID(h.bank.ID, d.Transmission, d.STAN, d.Terminal))
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		// The card whose lot the purchase earned (the record's PAR need
		// not be there): in this file, or in an earlier one.
		par, ok := earnedBy[r.OriginalID]
		if !ok {
			if par, ok, err = h.cfg.Points.LotOwner(ctx, h.bank.ID, r.OriginalID); err != nil {
				return err
			}
		}
		if ok && !slices.ContainsFunc(workOf(par).refunds, func(q Refund) bool { return q.ID == r.ID }) {
			workOf(par).refunds = append(workOf(par).refunds, r)
		}
	}
	for _, par := range order {
		if err := h.applyPoints(ctx, par, work[par]); h.stop(err, "points not accrued or taken back", 0) {
			return err
		}
	}
	return nil
}

// refundOf finds a refund the bank took by its identity (false: none).
func (h *Host) refundOf(ctx context.Context, id string) (Refund, bool, error) {
	rf, ok := h.cfg.Refunds.(RefundFinder)
	if !ok {
		return Refund{}, false, nil
	}
	return rf.FindRefund(ctx, h.bank.ID, id)
}

// refundsOf returns the refunds the bank took of the purchase id: none
// without a store that finds them, and no read when the purchase has had
// nothing refunded.
func (h *Host) refundsOf(ctx context.Context, id string) ([]Refund, error) {
	rf, ok := h.cfg.Refunds.(RefundFinder)
	if !ok {
		return nil, nil
	}
	if n, err := h.cfg.Refunds.Refunded(ctx, h.bank.ID, id); err != nil || n == 0 {
		return nil, err
	}
	return rf.RefundsOf(ctx, h.bank.ID, id)
}

// pointsChunk bounds the accruals of one update of a card (its transfers
// one ledger batch, well under ledger.MaxBatch).
const pointsChunk = 1000

// applyPoints accrues and takes back one card's points of a clearing file:
// one update of the card per pointsChunk accruals, the refunds with the
// last.
func (h *Host) applyPoints(ctx context.Context, par string, w *pointsWork) error {
	for start := 0; ; start += pointsChunk {
		part := &pointsWork{account: w.account, accrue: w.accrue[start:min(start+pointsChunk, len(w.accrue))]}
		last := start+pointsChunk >= len(w.accrue)
		if last {
			part.refunds = w.refunds
		}
		if err := h.updateCard(ctx, par, part); err != nil || last {
			return err
		}
	}
}

// updateCard applies w to the card in one update.
func (h *Host) updateCard(ctx context.Context, par string, w *pointsWork) error {
	now := h.cfg.Now()
	return h.cfg.Points.UpdatePoints(ctx, h.bank.ID, par, func(c *PointsCard) ([]ledger.Transfer, error) {
		if c.Account == "" && w.account != "" {
			// The card's first purchase: its points account too.
			c.Account, c.Open = w.account, h.program.Accounts(par)[3:]
		}
		b := c.book(h.program)
		var ts []ledger.Transfer
		amounts := map[string]int64{}
		for _, a := range w.accrue {
			if a.points <= 0 || c.Account != w.account {
				continue
			}
			more, ok, err := b.Accrue(a.id, a.points, now)
			if err != nil {
				return nil, err
			}
			if ok {
				amounts[a.id] = a.amount
				ts = append(ts, more...)
			}
		}
		c.keep(b, amounts)
		for _, r := range w.refunds {
			l := c.lot(r.OriginalID)
			if _, done := c.Applied["takeback:"+r.ID]; done || l == nil {
				continue // taken back before, or the purchase earned nothing here
			}
			amount := min(r.Amount, l.Amount-l.Refunded)
			if amount <= 0 {
				continue
			}
			pts := points.TakenBack(l.Points, l.Amount, l.Refunded, amount)
			l.Refunded += amount
			b = c.book(h.program)
			more, _, short, _ := b.TakeBack(r.ID, r.OriginalID, pts, now)
			if short > 0 {
				h.cfg.Log.Info("issuer: refund takes back points the card no longer has", "short", short)
			}
			c.keep(b, nil)
			ts = append(ts, more...)
		}
		return points.Link(ts), nil
	})
}

// ApplyAccounts creates accounts in a ledger (those that exist stay) and
// fails when one cannot be created, or with the ledger's error.
func ApplyAccounts(ctx context.Context, l ledger.Store, as []ledger.Account) error {
	rs, err := l.CreateAccounts(ctx, as)
	if err != nil {
		return err
	}
	for i, r := range rs {
		if !r.Applied() {
			return fault.E(fault.Internal, "issuer_accounts", "account %s cannot be created: %s", as[i].ID, r)
		}
	}
	return nil
}

// StatementCreditID is the id of the transfer that pays a campaign's
// statement credit on a purchase (its hold id) from the bank's promotion
// account; StatementCreditFundersID the part other funders pay, from the
// bank's settlement account (the network pays it to the bank in the net
// positions of clearing).
func StatementCreditID(holdID string) string        { return "promo-credit|" + holdID }
func StatementCreditFundersID(holdID string) string { return "promo-credit-funders|" + holdID }

// statementCredit credits the card the discount of a statement-credit
// campaign on a posted purchase, once: the bank's own share (issuer funder
// without a party, or this bank) from its promotion account, the rest
// from its settlement account, linked.
func (h *Host) statementCredit(ctx context.Context, holdID, account string, r *promo.Redemption) error {
	if err := r.Check(); err != nil || r.Discount <= 0 {
		h.cfg.Log.Warn("issuer: statement credit not paid: its redemption does not balance", "campaign", r.Campaign)
		return nil
	}
	var own int64
	for _, s := range r.Shares {
		if s.Kind == promo.FunderIssuer && (s.Party == "" || s.Party == h.bank.ID) {
			own += s.Amount
		}
	}
	note := "statement credit " + r.Campaign
	var ts []ledger.Transfer
	if own > 0 {
		ts = append(ts, ledger.Transfer{ID: StatementCreditID(holdID), DebitAccountID: h.program.MoneyAccount, CreditAccountID: account,
			Amount: own, Currency: money.CNY, UserData: note})
	}
	if rest := r.Discount - own; rest > 0 {
		ts = append(ts, ledger.Transfer{ID: StatementCreditFundersID(holdID), DebitAccountID: h.bank.SettlementAccount, CreditAccountID: account,
			Amount: rest, Currency: money.CNY, UserData: note})
	}
	return ApplyTransfers(ctx, h.cfg.Ledger, points.Link(ts))
}

// RewardsHosts is bank.Rewards of the issuer hosts in this process, by
// bank id.
type RewardsHosts map[string]*Host

var _ bank.Rewards = RewardsHosts(nil)

// Points asks the host of bankID (Host.Points). It fails with
// fault.NotFound rewards_not_hosted for a bank not in this process.
func (m RewardsHosts) Points(ctx context.Context, bankID, par string) (bank.Points, error) {
	h, ok := m[bankID]
	if !ok {
		return bank.Points{}, fault.E(fault.NotFound, CodeNoRewardsHost, "no issuer host of %s in this process", bankID)
	}
	return h.Points(ctx, par)
}

// PayWithPoints asks the host of req.Bank (Host.PayWithPoints). It fails
// with fault.NotFound rewards_not_hosted for a bank not in this process.
func (m RewardsHosts) PayWithPoints(ctx context.Context, req bank.PayWithPoints) (bank.PointsPayment, error) {
	h, ok := m[req.Bank]
	if !ok {
		return bank.PointsPayment{}, fault.E(fault.NotFound, CodeNoRewardsHost, "no issuer host of %s in this process", req.Bank)
	}
	return h.PayWithPoints(ctx, req)
}
