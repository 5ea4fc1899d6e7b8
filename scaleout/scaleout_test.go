// Package scaleout_test runs the platform as an operator would spread it:
// each party a real OS process of the built binary (tapwallet serve
// --roles …) on one PostgreSQL database: the token service, the wallet
// (with the portal) reaching it over HTTP/JSON, two card network processes
// whose token checks go to it over HTTP too, and the banks split over two
// issuer processes. It kills one network and one
// issuer process with SIGKILL in the middle of traffic, and checks that
// no money was lost or doubled.
package scaleout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	"github.com/tapwallet/tapwallet/clearing"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/issuer"
	issuerstore "github.com/tapwallet/tapwallet/issuer/sqlstore"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/platform"
)

// sent is one authorization as the acquirer saw it.
type sent struct {
	bank     string
	auth     *iso8583.Message
	amount   int64
	rc       string // "" when no answer came (the link died)
	reversed bool   // a reversal of it was answered
	refunded int64  // refunds of it answered 00
	refunds  []*iso8583.Message
}

func TestScaleOut(t *testing.T) {
	if os.Getenv("TAPWALLET_TEST_POSTGRES") == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: the scale-out test needs TAPWALLET_TEST_POSTGRES (a PostgreSQL DSN)")
		}
		t.Skip("TAPWALLET_TEST_POSTGRES not set")
	}
	if testing.Short() {
		t.Skip("builds the binary and runs six processes")
	}
	ctx := context.Background()
	l := startLayout(t)
	root, bin, dsn, half, iss := l.root, l.bin, l.dsn, l.half, l.iss
	net1, net2, wallet, isoAddrs := l.net1, l.net2, l.wallet, l.isoAddrs

	// Phones with cards of many banks, added through the wallet process.
	cards := l.greenCards(t)
	const phones = 6
	type worker struct {
		ph    *phone.Phone
		cards []wcard
	}
	workers := make([]*worker, phones)
	for i := range workers {
		var mine []testCard
		for j := i; j < len(cards); j += phones {
			mine = append(mine, cards[j])
		}
		ph, wc := l.openPhone(t, fmt.Sprintf("phone%d", i), fmt.Sprintf("scale%d@example.com", i), mine)
		workers[i] = &worker{ph: ph, cards: wc}
	}

	// The load: each phone pays at its own terminal, over both network
	// processes in turn; a fifth of the approvals are reversed, a fifth
	// partly refunded. Half-way, one network and one issuer process die.
	const perPhone = 60
	var mu sync.Mutex
	var all []*sent
	var wg sync.WaitGroup
	halfway := make(chan struct{})
	var done sync.WaitGroup
	done.Add(phones)
	for wi, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			passed := false
			defer func() {
				if !passed {
					done.Done()
				}
			}()
			term := nettest.NewTerminal(fmt.Sprintf("S%07d", wi), fmt.Sprintf("89831005411%04d", wi), "SCALE OUT MART")
			links := make([]*isolink.Client, 2)
			send := func(i int, m *iso8583.Message) (string, error) {
				for try := 0; try < 2; try++ {
					n := (i + try) % 2
					if links[n] == nil {
						c, err := isolink.Dial(ctx, isoAddrs[n], isolink.Options{Timeout: 10 * time.Second, DialTimeout: 2 * time.Second})
						if err != nil {
							continue
						}
						links[n] = c
					}
					resp, err := links[n].Send(ctx, m)
					if err != nil {
						links[n].Close()
						links[n] = nil
						if m.MTI == iso8583.AuthorizationRequest {
							return "", err // the outcome is unknown: the caller reverses
						}
						continue // reversals and refunds are sent again, to the other one
					}
					rc, _ := resp.ResponseCode()
					return string(rc), nil
				}
				return "", fmt.Errorf("no network answers")
			}
			r := rand.New(rand.NewPCG(uint64(wi), 7))
			for i := 0; i < perPhone; i++ {
				if i == perPhone/2 {
					passed = true
					done.Done()
					<-halfway
				}
				c := w.cards[i%len(w.cards)]
				if i%len(w.cards) == 0 && i/len(w.cards)%8 == 7 {
					// Each card holds 10 limited-use keys: replenish.
					if _, err := w.ph.Sync(ctx); err != nil {
						t.Errorf("sync: %v", err)
						return
					}
				}
				amount := int64(100 + r.IntN(900))
				now := time.Now()
				tags, err := nettest.AnswerSE(w.ph.SE, c.Token, c.AID, nettest.TerminalData(amount, now), true)
				if err != nil {
					t.Error(err)
					return
				}
				m, err := term.Authorization(c.Token, "", amount, tags, now)
				if err != nil {
					t.Error(err)
					return
				}
				s := &sent{bank: c.bank, auth: m, amount: amount}
				s.rc, _ = send(i, m)
				mu.Lock()
				all = append(all, s)
				mu.Unlock()
				roll := r.IntN(5)
				switch {
				case s.rc == "" || roll == 0:
					// No answer (reverse on timeout), or the customer walked away.
					rev, err := term.Reversal(m, time.Now())
					if err != nil {
						t.Error(err)
						return
					}
					for try := 0; try < 20 && !s.reversed; try++ {
						rc, err := send(i+1+try, rev)
						s.reversed = err == nil && (rc == "00" || rc == "25")
						if !s.reversed {
							time.Sleep(250 * time.Millisecond)
						}
					}
				case s.rc == "00" && roll == 1:
					ch, err := acquirer.ChargeOf(fmt.Sprintf("c%d-%d", wi, i), m, now)
					if err != nil {
						t.Error(err)
						return
					}
					part := amount / 2
					ref, err := acquirer.RefundRequest(ch, acquirer.NewRefundMessage(part, term.STAN.Next(), time.Now()))
					if err != nil {
						t.Error(err)
						return
					}
					s.refunds = append(s.refunds, ref)
					for try := 0; try < 20; try++ {
						rc, err := send(i+1+try, ref)
						if err == nil && rc == "00" {
							s.refunded += part
							break
						}
						if err == nil && rc != "91" && rc != "96" {
							break
						}
						time.Sleep(250 * time.Millisecond)
					}
				}
			}
			for _, l := range links {
				if l != nil {
					l.Close()
				}
			}
		}()
	}
	restarted := make(chan error, 1)
	go func() {
		done.Wait()
		close(halfway)
		// Kill with traffic in flight: the second half has started.
		time.Sleep(150 * time.Millisecond)
		net1.kill()
		iss[0].kill()
		time.Sleep(time.Second)
		err := net1.run()
		if err == nil {
			err = iss[0].run()
		}
		restarted <- err
	}()
	wg.Wait()
	if err := <-restarted; err != nil {
		t.Fatalf("restart: %v", err)
	}
	if t.Failed() {
		return
	}

	// Let the surviving and restarted switches settle what the killed one
	// left (recovery sweep, queued reversals): the sweep takes records
	// older than 3 × the issuer timeout (2 s).
	time.Sleep(12 * time.Second)
	// The network and the wallet stop; the issuer processes stay up: the
	// clearing files are handed to them, and each bank posts its own.
	for _, p := range []*proc{net1, net2, wallet} {
		p.stop()
	}

	// The books: the switch's records read by a platform on the same
	// database that serves nothing, each bank's ledger in its own wing.
	pl, err := platform.New(ctx, platform.Config{DataDir: filepath.Join(root, "wallet"), DSN: dsn, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	books := ledgers{}
	for _, b := range l.banks {
		st, err := issuerstore.Open(ctx, dsn, filepath.Join(root, "books"), b)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		books[b] = st.Ledger
	}
	var approved, declined, unanswered, reversed, refunded int
	holds := map[string]bool{}
	for _, s := range all {
		de7, _ := s.auth.String(iso8583.DETransmission)
		stan, _ := s.auth.String(iso8583.DESTAN)
		tid, _ := s.auth.String(iso8583.DETerminal)
		id := issuer.HoldID(s.bank, de7, stan, tid)
		holds[id] = true
		hold, err := books[s.bank].LookupTransfer(ctx, id)
		found := err == nil
		switch {
		case s.rc == "":
			unanswered++
		case s.rc == "00":
			approved++
		default:
			declined++
		}
		if s.reversed {
			reversed++
		}
		switch {
		case s.rc == "00" && !s.reversed:
			// Approved and kept: exactly one live hold of the amount.
			if !found || hold.Status != ledger.StatusPending || hold.Amount != s.amount {
				t.Errorf("approved %s %s: hold %+v (found %v), want one pending hold of %d", s.bank, stan, hold, found, s.amount)
			}
			if _, err := pl.Records.Auth(ctx, netswitch.AuthID(tid, stan, de7)); err != nil {
				t.Errorf("approved %s %s: no switch record: %v", s.bank, stan, err)
			}
		case s.reversed || s.rc == "":
			// Reversed (or never answered and then reversed): no live hold.
			if found && hold.Status == ledger.StatusPending {
				t.Errorf("reversed %s %s: the hold is still pending", s.bank, stan)
			}
			if s.rc == "" && !s.reversed {
				t.Errorf("%s %s: no answer and no reversal answered", s.bank, stan)
			}
		default:
			if found && hold.Status == ledger.StatusPending {
				t.Errorf("declined %s %s (%s): a pending hold", s.bank, stan, s.rc)
			}
		}
		for _, ref := range s.refunds {
			rde7, _ := ref.String(iso8583.DETransmission)
			rstan, _ := ref.String(iso8583.DESTAN)
			tr, err := books[s.bank].LookupTransfer(ctx, issuer.RefundID(issuer.HoldID(s.bank, rde7, rstan, tid)))
			if s.refunded > 0 {
				refunded++
				if err != nil || tr.Amount != s.refunded {
					t.Errorf("refund of %s %s: credit %+v (%v), want one of %d", s.bank, stan, tr, err, s.refunded)
				}
			}
		}
	}
	// No hold without a switch record: every hold in the ledger is one of
	// the load's, and the switch recorded it.
	var pending []ledger.Transfer
	for _, led := range books {
		trs, err := led.Transfers(ctx, ledger.Filter{Flags: ledger.Pending})
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, trs...)
	}
	for _, h := range pending {
		if !holds[h.ID] {
			t.Errorf("hold %s (%d) is none of the acquirer's authorizations", h.ID, h.Amount)
		}
	}

	// Clearing, twice, as the operator runs it: tapwallet clear hands each
	// bank its file over HTTP at the issuer process hosting it; the second
	// run posts nothing more.
	date := time.Now().UTC().Format("20060102") // the business date: UTC day of receipt
	clear := func(out string) clearing.Report {
		args := []string{"clear", "--db", dsn, "--data", filepath.Join(root, "wallet"), "--date", date[:4] + "-" + date[4:6] + "-" + date[6:],
			"--out", filepath.Join(root, out), "--json"}
		for i, p := range iss {
			args = append(args, "--issuer-clearing", strings.Join(half[i], ",")+"=http://"+p.http)
		}
		var rep clearing.Report
		if err := json.Unmarshal(cli(t, bin, args...), &rep); err != nil {
			t.Fatalf("clear --json: %v", err)
		}
		return rep
	}
	before := balances(t, books)
	rep1 := clear("clearing1")
	mid := balances(t, books)
	rep2 := clear("clearing2")
	after := balances(t, books)
	posted := 0
	for _, b := range rep1.Banks {
		posted += b.Posted
		if b.Flagged > 0 {
			t.Errorf("bank %s: %d presentments flagged", b.Bank, b.Flagged)
		}
	}
	if kept := approved - countApprovedReversed(all); posted != kept {
		t.Errorf("clearing posted %d, want the %d approved and not reversed", posted, kept)
	}
	again := 0
	for _, it := range rep2.Items {
		if it.Outcome != clearing.AlreadyPosted {
			t.Errorf("second clearing: %s at %s %s, want already posted", it.AuthID, it.Bank, it.Outcome)
		}
		again++
	}
	if again != posted {
		t.Errorf("second clearing presented %d, want the %d of the first", again, posted)
	}
	if fmt.Sprint(mid) != fmt.Sprint(after) {
		t.Errorf("the second clearing changed the ledger:\n%v\n%v", mid, after)
	}
	for _, s := range []map[string]int64{before, mid, after} {
		if s["debits_posted"] != s["credits_posted"] || s["debits_pending"] != s["credits_pending"] {
			t.Errorf("the ledger does not balance: %v", s)
		}
	}
	if rep2.Network != rep1.Network {
		t.Errorf("network position %d then %d", rep1.Network, rep2.Network)
	}
	t.Logf("authorizations %d: approved %d, declined %d, unanswered %d; reversed %d; refunds %d; pending holds after the load %d; clearing posted %d (run twice); ledger %v",
		len(all), approved, declined, unanswered, reversed, refunded, len(pending), posted, after)
}

func countApprovedReversed(all []*sent) int {
	n := 0
	for _, s := range all {
		if s.rc == "00" && s.reversed {
			n++
		}
	}
	return n
}

// ledgers are the banks' ledgers, each read from its own wing.
type ledgers map[string]ledger.Store

// balances sums every account of every bank's ledger: debits and credits,
// posted and pending (equal sides when the books balance: money is neither
// made nor lost).
func balances(t *testing.T, books ledgers) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	out := map[string]int64{}
	for _, led := range books {
		trs, err := led.Transfers(ctx, ledger.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, tr := range trs {
			ids[tr.DebitAccountID], ids[tr.CreditAccountID] = true, true
		}
		var list []string
		for id := range ids {
			list = append(list, id)
		}
		accts, err := led.LookupAccounts(ctx, list)
		if err != nil {
			t.Fatal(err)
		}
		out["accounts"] += int64(len(accts))
		out["transfers"] += int64(len(trs))
		for _, a := range accts {
			out["debits_posted"] += a.DebitsPosted
			out["credits_posted"] += a.CreditsPosted
			out["debits_pending"] += a.DebitsPending
			out["credits_pending"] += a.CreditsPending
		}
	}
	return out
}
