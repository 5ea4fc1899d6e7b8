package ledgertest

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/money"
)

// The accounts of a property check: two that cannot be overdrawn, one that
// cannot take more credits than debits, two without limits.
var propFlags = [...]ledger.AccountFlags{
	ledger.DebitsMustNotExceedCredits,
	ledger.DebitsMustNotExceedCredits,
	0,
	ledger.CreditsMustNotExceedDebits,
	0,
}

// model is the simple ledger the store must agree with.
type model struct {
	bal      [len(propFlags)]Bal
	stored   map[string]ledger.Transfer // recorded transfers, as the ledger stores them
	status   map[string]ledger.PendingStatus
	accounts map[string]int // account id → index
	now      time.Time
}

func (m *model) clone() *model {
	c := *m
	c.stored = maps.Clone(m.stored)
	c.status = maps.Clone(m.status)
	return &c
}

// apply predicts the result of one transfer and applies it to the model.
func (m *model) apply(t ledger.Transfer) ledger.Result {
	isPost, isVoid := t.Flags&ledger.PostPending != 0, t.Flags&ledger.VoidPending != 0
	if e, ok := m.stored[t.ID]; ok {
		if p, ok := m.stored[t.PendingID]; ok && (isPost || isVoid) {
			if t.Amount == 0 {
				t.Amount = p.Amount
			}
			t.DebitAccountID, t.CreditAccountID, t.Currency = p.DebitAccountID, p.CreditAccountID, p.Currency
		}
		if t.Amount != e.Amount || t.Flags != e.Flags || t.PendingID != e.PendingID || t.DebitAccountID != e.DebitAccountID ||
			t.CreditAccountID != e.CreditAccountID || t.UserData != e.UserData || t.Timeout != e.Timeout {
			return ledger.ExistsWithDifferentFields
		}
		return ledger.Exists
	}
	if isPost || isVoid {
		p, ok := m.stored[t.PendingID]
		if !ok {
			return ledger.PendingTransferNotFound
		}
		if p.Flags&ledger.Pending == 0 {
			return ledger.PendingTransferNotPending
		}
		amount := t.Amount
		if amount == 0 {
			amount = p.Amount
		}
		switch {
		case amount > p.Amount:
			return ledger.ExceedsPendingTransferAmount
		case m.status[p.ID] == ledger.StatusPosted:
			return ledger.PendingTransferAlreadyPosted
		case m.status[p.ID] == ledger.StatusVoided:
			return ledger.PendingTransferAlreadyVoided
		case m.status[p.ID] == ledger.StatusExpired, !p.ExpiresAt.IsZero() && !m.now.Before(p.ExpiresAt):
			return ledger.PendingTransferExpired
		}
		dr, cr := m.accounts[p.DebitAccountID], m.accounts[p.CreditAccountID]
		m.bal[dr][0] -= p.Amount
		m.bal[cr][2] -= p.Amount
		m.status[p.ID] = ledger.StatusVoided
		if isPost {
			m.bal[dr][1] += amount
			m.bal[cr][3] += amount
			m.status[p.ID] = ledger.StatusPosted
		} else {
			amount = p.Amount
		}
		t.DebitAccountID, t.CreditAccountID, t.Currency, t.Amount = p.DebitAccountID, p.CreditAccountID, p.Currency, amount
		m.stored[t.ID] = t
		return ledger.OK
	}
	dr, cr := m.accounts[t.DebitAccountID], m.accounts[t.CreditAccountID]
	switch {
	case dr == cr:
		return ledger.AccountsMustBeDifferent
	case t.Amount == 0:
		return ledger.AmountMustNotBeZero
	case propFlags[dr] == ledger.DebitsMustNotExceedCredits && m.bal[dr][0]+m.bal[dr][1]+t.Amount > m.bal[dr][3]:
		return ledger.ExceedsCredits
	case propFlags[cr] == ledger.CreditsMustNotExceedDebits && m.bal[cr][2]+m.bal[cr][3]+t.Amount > m.bal[cr][1]:
		return ledger.ExceedsDebits
	}
	if t.Flags&ledger.Pending != 0 {
		m.bal[dr][0] += t.Amount
		m.bal[cr][2] += t.Amount
		m.status[t.ID] = ledger.StatusPending
		if t.Timeout > 0 {
			t.ExpiresAt = m.now.Add(t.Timeout)
		}
	} else {
		m.bal[dr][1] += t.Amount
		m.bal[cr][3] += t.Amount
	}
	m.stored[t.ID] = t
	return ledger.OK
}

// applyBatch predicts a batch, linked chains included.
func (m *model) applyBatch(ts []ledger.Transfer) []ledger.Result {
	out := make([]ledger.Result, len(ts))
	for i := 0; i < len(ts); {
		end := i
		for end < len(ts)-1 && ts[end].Flags&ledger.Linked != 0 {
			end++
		}
		if ts[end].Flags&ledger.Linked != 0 {
			for k := i; k < end; k++ {
				out[k] = ledger.LinkedEventFailed
			}
			out[end] = ledger.LinkedEventChainOpen
			break
		}
		trial := m.clone()
		failed := -1
		for k := i; k <= end; k++ {
			out[k] = trial.apply(ts[k])
			if !out[k].Applied() {
				failed = k
				break
			}
		}
		if failed < 0 || end == i {
			*m = *trial
		} else {
			for k := i; k <= end; k++ {
				if k != failed {
					out[k] = ledger.LinkedEventFailed
				}
			}
		}
		i = end + 1
	}
	return out
}

// expire predicts the sweep.
func (m *model) expire() int {
	n := 0
	for id, st := range m.status {
		p := m.stored[id]
		if st == ledger.StatusPending && !p.ExpiresAt.IsZero() && !p.ExpiresAt.After(m.now) {
			m.bal[m.accounts[p.DebitAccountID]][0] -= p.Amount
			m.bal[m.accounts[p.CreditAccountID]][2] -= p.Amount
			m.status[id] = ledger.StatusExpired
			n++
		}
	}
	return n
}

// Property checks s against the model over random sequences of direct
// transfers, holds, full and partial posts, voids, repeated and clashing
// messages, batches with linked chains, clock moves and expiry sweeps. After
// every step the accounts must equal the model's, the sums of debits and
// credits (pending and posted) must be equal, and every account must keep
// its flag; at the end every stored transfer must be the model's and no
// pending transfer may have been resolved twice. s's transactions must take
// their time from clock; each check uses its own accounts. Failures are
// reported through t, with rapid's shrunk counterexample.
func Property(t *testing.T, s ledger.Store, clock *Clock) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		p := newPrefix("q")
		m := &model{stored: map[string]ledger.Transfer{}, status: map[string]ledger.PendingStatus{}, accounts: map[string]int{}, now: clock.Now()}
		var ids []string
		var accounts []ledger.Account
		for i, f := range propFlags {
			id := p + "acct" + strconv.Itoa(i)
			ids = append(ids, id)
			m.accounts[id] = i
			accounts = append(accounts, ledger.Account{ID: id, Currency: money.CNY, Code: ledger.CodeBankSettlement, Flags: f})
		}
		if rs, err := s.CreateAccounts(ctx, accounts); err != nil || fmt.Sprint(rs) != "[ok ok ok ok ok]" {
			rt.Fatalf("create accounts: got %v (%v), want all ok", rs, err)
		}
		rt.Cleanup(func() {
			clock.Advance(1000 * 24 * time.Hour)
			s.ExpirePending(ctx, clock.Now())
		})

		var sent []ledger.Transfer // everything sent, for repeats
		var pendings []string      // ids of holds sent
		next := 0
		newID := func(kind string) string { next++; return p + kind + strconv.Itoa(next) }
		account := rapid.IntRange(0, len(propFlags)-1)
		amount := rapid.OneOf(rapid.Int64Range(0, 5), rapid.Int64Range(1, 400))
		timeout := rapid.SampledFrom([]time.Duration{0, 10 * time.Second, 30 * time.Second, time.Minute})

		genDirect := func(rt *rapid.T) ledger.Transfer {
			return ledger.Transfer{ID: newID("t"), DebitAccountID: ids[account.Draw(rt, "dr")], CreditAccountID: ids[account.Draw(rt, "cr")],
				Amount: amount.Draw(rt, "amount"), Currency: money.CNY}
		}
		genHold := func(rt *rapid.T) ledger.Transfer {
			h := genDirect(rt)
			h.ID = newID("h")
			h.Flags = ledger.Pending
			h.Timeout = timeout.Draw(rt, "timeout")
			h.UserData = "rrn" + h.ID
			pendings = append(pendings, h.ID)
			return h
		}
		pickPending := func(rt *rapid.T) string {
			if len(pendings) == 0 || rapid.IntRange(0, 9).Draw(rt, "unknown") == 0 {
				if len(sent) > 0 && rapid.Bool().Draw(rt, "not pending") {
					return sent[rapid.IntRange(0, len(sent)-1).Draw(rt, "sent")].ID
				}
				return p + "nosuch"
			}
			return pendings[rapid.IntRange(0, len(pendings)-1).Draw(rt, "pending")]
		}
		genPost := func(rt *rapid.T) ledger.Transfer {
			pid := pickPending(rt)
			var amt int64
			if pt, ok := m.stored[pid]; ok && rapid.Bool().Draw(rt, "partial") {
				amt = rapid.Int64Range(1, pt.Amount+5).Draw(rt, "post amount")
			}
			return ledger.Post(newID("p"), pid, amt, "")
		}
		genVoid := func(rt *rapid.T) ledger.Transfer { return ledger.Void(newID("v"), pickPending(rt), "") }
		genAny := func(rt *rapid.T) ledger.Transfer {
			switch rapid.IntRange(0, 3).Draw(rt, "kind") {
			case 0:
				return genDirect(rt)
			case 1:
				return genHold(rt)
			case 2:
				return genPost(rt)
			}
			return genVoid(rt)
		}
		one := func(rt *rapid.T, tr ledger.Transfer) {
			want := m.applyBatch([]ledger.Transfer{tr})[0]
			got, err := s.CreateTransfer(ctx, tr)
			if err != nil {
				rt.Fatalf("create transfer %s: %v", tr.ID, err)
			}
			if got != want {
				rt.Fatalf("transfer %+v: got %s, want %s", tr, got, want)
			}
			sent = append(sent, tr)
		}

		rt.Repeat(map[string]func(*rapid.T){
			"direct": func(rt *rapid.T) { one(rt, genDirect(rt)) },
			"hold":   func(rt *rapid.T) { one(rt, genHold(rt)) },
			"post":   func(rt *rapid.T) { one(rt, genPost(rt)) },
			"void":   func(rt *rapid.T) { one(rt, genVoid(rt)) },
			"repeat": func(rt *rapid.T) {
				if len(sent) == 0 {
					rt.Skip("nothing sent yet")
				}
				one(rt, sent[rapid.IntRange(0, len(sent)-1).Draw(rt, "repeat")])
			},
			"clash": func(rt *rapid.T) {
				if len(sent) == 0 {
					rt.Skip("nothing sent yet")
				}
				tr := sent[rapid.IntRange(0, len(sent)-1).Draw(rt, "clash")]
				tr.UserData += "!"
				one(rt, tr)
			},
			"batch": func(rt *rapid.T) {
				n := rapid.IntRange(1, 6).Draw(rt, "batch size")
				ts := make([]ledger.Transfer, n)
				for i := range ts {
					ts[i] = genAny(rt)
					if rapid.IntRange(0, 3).Draw(rt, "linked") == 0 {
						ts[i].Flags |= ledger.Linked
					}
				}
				want := m.applyBatch(ts)
				got, err := s.CreateTransfers(ctx, ts)
				if err != nil {
					rt.Fatalf("create transfers: %v", err)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					rt.Fatalf("batch %+v: got %v, want %v", ts, got, want)
				}
				sent = append(sent, ts...)
			},
			"advance": func(rt *rapid.T) {
				d := time.Duration(rapid.SampledFrom([]int64{0, 1, 5, 10, 10, 20, 30, 60}).Draw(rt, "seconds")) * time.Second
				clock.Advance(d)
				m.now = m.now.Add(d)
			},
			"expire": func(rt *rapid.T) {
				want := m.expire()
				got, err := s.ExpirePending(ctx, clock.Now())
				if err != nil {
					rt.Fatalf("expire pending: %v", err)
				}
				if got != want {
					rt.Fatalf("expired: got %d, want %d", got, want)
				}
			},
			"": func(rt *rapid.T) { checkAccounts(rt, ctx, s, ids, m) },
		})
		checkTransfers(rt, ctx, s, ids, m)
	})
}

// checkAccounts compares the accounts with the model and checks
// conservation and the flags.
func checkAccounts(rt *rapid.T, ctx context.Context, s ledger.Store, ids []string, m *model) {
	got, err := s.LookupAccounts(ctx, ids)
	if err != nil || len(got) != len(ids) {
		rt.Fatalf("lookup accounts: got %d (%v), want %d", len(got), err, len(ids))
	}
	var sum Bal
	for i, a := range got {
		b := balOf(a)
		if b != m.bal[i] {
			rt.Fatalf("account %d: got %v, want %v", i, b, m.bal[i])
		}
		for k := range sum {
			sum[k] += b[k]
		}
		if a.Flags&ledger.DebitsMustNotExceedCredits != 0 && a.DebitsPending+a.DebitsPosted > a.CreditsPosted {
			rt.Fatalf("account %d debits %d+%d exceed credits %d", i, a.DebitsPending, a.DebitsPosted, a.CreditsPosted)
		}
		if a.Flags&ledger.CreditsMustNotExceedDebits != 0 && a.CreditsPending+a.CreditsPosted > a.DebitsPosted {
			rt.Fatalf("account %d credits %d+%d exceed debits %d", i, a.CreditsPending, a.CreditsPosted, a.DebitsPosted)
		}
		for k, v := range b {
			if v < 0 {
				rt.Fatalf("account %d total %d: got %d, want >= 0", i, k, v)
			}
		}
	}
	if sum[0] != sum[2] {
		rt.Fatalf("pending: got debits %d and credits %d, want equal", sum[0], sum[2])
	}
	if sum[1] != sum[3] {
		rt.Fatalf("posted: got debits %d and credits %d, want equal", sum[1], sum[3])
	}
}

// checkTransfers compares the stored transfers with the model's and checks
// that each pending transfer was resolved at most once.
func checkTransfers(rt *rapid.T, ctx context.Context, s ledger.Store, ids []string, m *model) {
	all := map[string]ledger.Transfer{}
	for _, id := range ids {
		ts, err := s.Transfers(ctx, ledger.Filter{AccountID: id})
		if err != nil {
			rt.Fatalf("transfers of %s: %v", id, err)
		}
		for _, t := range ts {
			all[t.ID] = t
		}
	}
	if len(all) != len(m.stored) {
		rt.Fatalf("stored transfers: got %d, want %d", len(all), len(m.stored))
	}
	resolutions := map[string]int{}
	for id, t := range all {
		w, ok := m.stored[id]
		if !ok {
			rt.Fatalf("transfer %s: stored, want absent", id)
		}
		if t.Amount != w.Amount || t.DebitAccountID != w.DebitAccountID || t.CreditAccountID != w.CreditAccountID ||
			t.Flags != w.Flags || t.PendingID != w.PendingID || t.Status != m.status[id] {
			rt.Fatalf("transfer %s: got %+v, want %+v with status %q", id, t, w, m.status[id])
		}
		if t.PendingID != "" {
			resolutions[t.PendingID]++
			if resolutions[t.PendingID] > 1 {
				rt.Fatalf("pending %s: resolved %d times, want at most once", t.PendingID, resolutions[t.PendingID])
			}
		}
	}
}
