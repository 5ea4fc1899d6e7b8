package sqlstore

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/journal"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/promo"
)

func testAuth(t *testing.T, id string) netswitch.Auth {
	t.Helper()
	tok, err := card.ParseToken("6288010000000009")
	if err != nil {
		t.Fatal(err)
	}
	return netswitch.Auth{ID: id, Digest: "d-" + id, Terminal: "T1", STAN: "000001", Transmission: "0314090000", Token: tok,
		TokenLast4: tok.Last4(), BankID: "b1", PhoneID: "ph1", Amount: money.New(1234, money.CNY), ClearAmount: 1234, SealedPAN: []byte("sealed"),
		BusinessDate: "20260314", ReceivedAt: time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)}
}

// TestJournalReplayAtOpen: records a crash left in the journal (a record
// and its answer, a record still being decided, a record already in SQL
// whose replayed answer must not overwrite what SQL says now) are applied
// at Open before the store serves, idempotently, and the journal is
// dropped; the replayed record being decided is settled by AbandonAuth and
// its late answer refused as settled.
func TestJournalReplayAtOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	jpath := filepath.Join(dir, "network.journal")
	open := func() *Store {
		s, err := Open(ctx, "", dir, WithJournal(jpath, journal.Options{}))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// In SQL already: "old", abandoned (96).
	s := open()
	if err := s.SaveAuth(ctx, testAuth(t, "old")); err != nil {
		t.Fatal(err)
	}
	if err := s.AbandonAuth(ctx, "old", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The crash's journal: appended, never applied.
	l, err := journal.Open(jpath, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	put := func(kind byte, args []any) {
		b, err := encodeRecord(kind, args)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	finish := finishArgs
	a1, a2, old := testAuth(t, "a1"), testAuth(t, "a2"), testAuth(t, "old")
	put(recSave, authArgs(a1))
	a1.ResponseCode, a1.AuthCode, a1.Answer, a1.AnsweredAt = iso8583.Approved, "A1", []byte("0110"), time.Now()
	a1.Promo = &promo.Redemption{Campaign: "c1", Gross: 1234, Net: 1000, Discount: 234}
	put(recFinish, finish(a1))
	put(recSave, authArgs(a2))
	put(recSave, authArgs(old))
	old.ResponseCode = iso8583.Approved
	put(recFinish, finish(old))
	l.Close()

	s = open()
	defer s.Close()
	got, err := s.Auth(ctx, "a1")
	if err != nil || got.ResponseCode != iso8583.Approved || string(got.Answer) != "0110" || got.Promo == nil || got.Promo.Discount != 234 {
		t.Fatalf("a1 after replay: %+v %v", got, err)
	}
	if got, err := s.Auth(ctx, "old"); err != nil || got.ResponseCode != "96" {
		t.Fatalf("old after replay: rc %q %v, want the abandonment kept (96)", got.ResponseCode, err)
	}
	if err := s.SaveAuth(ctx, testAuth(t, "a1")); err == nil {
		t.Fatal("SaveAuth of a replayed identity: nil, want auth_exists")
	}
	left, err := s.Deciding(ctx, time.Now().Add(time.Hour), 10)
	if err != nil || len(left) != 1 || left[0].ID != "a2" {
		t.Fatalf("Deciding after replay: %+v %v, want a2", left, err)
	}
	if err := s.AbandonAuth(ctx, "a2", time.Now()); err != nil {
		t.Fatal(err)
	}
	a2.ResponseCode = iso8583.Approved
	if err := s.FinishAuth(ctx, a2); err == nil {
		t.Fatal("FinishAuth after AbandonAuth: nil, want auth_settled")
	}
	if st := s.jr.log.Stats(); st.Records != 5 {
		t.Fatalf("the journal held %d records at open, want 5", st.Records)
	}
	segs, _ := filepath.Glob(jpath + ".0*")
	if len(segs) != 1 {
		t.Fatalf("segments after the replay: %v, want one (empty)", segs)
	}
}

// TestJournalWritesBehind: records journaled by concurrent authorizations
// reach SQL (read by a plain store on the same file after Close), each
// read through the journaled store sees the writes before it, and a clean
// Close leaves nothing to replay.
func TestJournalWritesBehind(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	jpath := filepath.Join(dir, "network.journal")
	s, err := Open(ctx, "", dir, WithJournal(jpath, journal.Options{TruncateAt: 4096}))
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	errs := make(chan error, n)
	for i := range n {
		go func() {
			a := testAuth(t, "w"+string(rune('A'+i%26))+string(rune('a'+i/26)))
			if err := s.SaveAuth(ctx, a); err != nil {
				errs <- err
				return
			}
			a.ResponseCode, a.Answer = iso8583.Approved, []byte{byte(i)}
			if err := s.FinishAuth(ctx, a); err != nil {
				errs <- err
				return
			}
			got, err := s.Auth(ctx, a.ID)
			if err == nil && got.ResponseCode != iso8583.Approved {
				err = errRecord
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	plain, err := Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	as, err := plain.DayAuths(ctx, "20260314")
	if err != nil || len(as) != n {
		t.Fatalf("SQL holds %d records, %v; want %d", len(as), err, n)
	}
	l, err := journal.Open(jpath, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if st := l.Stats(); st.Records != 0 {
		t.Fatalf("%d records left in the journal after a clean Close", st.Records)
	}
}

// TestDecodeRecordNeverPanics: a record that does not decode is an error,
// never a panic; every encoded record decodes back.
func TestDecodeRecordNeverPanics(t *testing.T) {
	b, err := encodeRecord(recSave, authArgs(testAuth(t, "x")))
	if err != nil {
		t.Fatal(err)
	}
	r, err := decodeRecord(b)
	if err != nil || r.id != "x" || len(r.args) != len(authArgs(netswitch.Auth{})) {
		t.Fatalf("round trip: %+v %v", r, err)
	}
	// A NULL only where a record may have one: the sealed PAN, the answer.
	a := testAuth(t, "n")
	a.SealedPAN, a.Answer = nil, nil
	for kind, args := range map[byte][]any{recSave: authArgs(a), recFinish: finishArgs(a)} {
		if b, err := encodeRecord(kind, args); err != nil {
			t.Fatal(err)
		} else if _, err := decodeRecord(b); err != nil {
			t.Fatalf("kind %d without a sealed PAN or an answer: %v", kind, err)
		}
		args[1] = nil // the digest, or the reason
		if b, err := encodeRecord(kind, args); err != nil {
			t.Fatal(err)
		} else if _, err := decodeRecord(b); err == nil {
			t.Fatalf("kind %d with a NULL where none may be decoded", kind)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		c := append([]byte(nil), b[:rng.IntN(len(b)+1)]...)
		for range rng.IntN(3) {
			if len(c) > 0 {
				c[rng.IntN(len(c))] = byte(rng.IntN(256))
			}
		}
		decodeRecord(c)
	}
}

// TestMergeAnswers: a record and its answer in one batch become the
// insert of the answered record (the same columns finishAuth sets); an
// answer without its record in the batch, and a record saved decided,
// stay as they are.
func TestMergeAnswers(t *testing.T) {
	a, b, c := testAuth(t, "m1"), testAuth(t, "m2"), testAuth(t, "m3")
	c.ResponseCode = iso8583.DoNotHonour
	rs := []jrec{{seq: 1, kind: recSave, id: "m1", args: authArgs(a)}, {seq: 2, kind: recSave, id: "m3", args: authArgs(c)}}
	a.ResponseCode, a.Reason, a.AuthCode, a.Answer, a.AnsweredAt = iso8583.Approved, "ok", "A1", []byte("0110"), time.UnixMilli(1700000000123)
	a.Promo = &promo.Redemption{Campaign: "c"}
	rs = append(rs, jrec{seq: 3, kind: recFinish, id: "m2", args: finishArgs(b)}, jrec{seq: 4, kind: recFinish, id: "m1", args: finishArgs(a)})
	got := mergeAnswers(rs)
	if len(got) != 3 || got[0].id != "m1" || got[1].id != "m3" || got[2].id != "m2" || got[2].kind != recFinish {
		t.Fatalf("merged: %+v", got)
	}
	want := rowArgs(a)
	if args := appendRow(nil, got[0].args, got[0].answer, rowAt); !reflect.DeepEqual(args, want) {
		t.Fatalf("merged insert\n%v\nwant the answered record's\n%v", args, want)
	}
	fresh := appendRow(nil, got[0].args, got[0].answer, freshAt)
	if wantFresh := freshOf(want); !reflect.DeepEqual(fresh, wantFresh) {
		t.Fatalf("merged fresh insert\n%v\nwant\n%v", fresh, wantFresh)
	}
	if !reflect.DeepEqual(rs[0].args, authArgs(testAuth(t, "m1"))) {
		t.Fatal("the queued record's arguments were changed in place")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestJournalArgsReused: the argument slices of applied records are kept,
// cleared, and a later write's record holds its own values only — rounds
// of saves and answers, each round's records with other values (a card's
// last digits, a PAR, an answer) than the round before, or none.
func TestJournalArgsReused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, "", dir, WithJournal(filepath.Join(dir, "network.journal"), journal.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var want []netswitch.Auth
	for round := range 3 {
		for i := range 20 {
			a := testAuth(t, "r"+string(rune('0'+round))+string(rune('a'+i)))
			if round%2 == 0 {
				a.PANLast4, a.PAR, a.MerchantName = "4321", "par-"+a.ID, "shop "+a.ID
			}
			if err := s.SaveAuth(ctx, a); err != nil {
				t.Fatal(err)
			}
			a.ResponseCode, a.Answer = iso8583.Approved, []byte{byte(round), byte(i)}
			if round == 1 {
				a.ResponseCode, a.Answer = iso8583.InsufficientFunds, nil
			}
			if err := s.FinishAuth(ctx, a); err != nil {
				t.Fatal(err)
			}
			want = append(want, a)
		}
		if err := s.caughtUp(ctx); err != nil {
			t.Fatal(err)
		}
		s.jr.mu.Lock()
		for _, spare := range [][][]any{s.jr.spareSaves, s.jr.spareFinishes} {
			if len(spare) == 0 {
				t.Errorf("round %d: no argument slice kept", round)
			}
			for _, args := range spare {
				for _, v := range args[:cap(args)] {
					if v != nil {
						t.Fatalf("round %d: a kept argument slice holds %v", round, v)
					}
				}
			}
		}
		s.jr.mu.Unlock()
	}
	for _, a := range want {
		got, err := s.Auth(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.PANLast4 != a.PANLast4 || got.PAR != a.PAR || got.MerchantName != a.MerchantName ||
			got.ResponseCode != a.ResponseCode || string(got.Answer) != string(a.Answer) || string(got.SealedPAN) != "sealed" {
			t.Errorf("%s: stored %q %q %q %s %x, want %q %q %q %s %x", a.ID, got.PANLast4, got.PAR, got.MerchantName, got.ResponseCode, got.Answer,
				a.PANLast4, a.PAR, a.MerchantName, a.ResponseCode, a.Answer)
		}
	}
}
