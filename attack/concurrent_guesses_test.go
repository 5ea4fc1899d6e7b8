package attack

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestAttackConcurrentGuesses: the audit sent 10, then 30, wrong passwords
// at once and every one was checked; the right password 20 ms later was
// accepted, and 31 concurrent checks took the server from 289 to 659 MB.
// Now each attempt is counted before its password is checked, so at most
// 5 of a burst are checked and the right password after it is refused
// (the account is locked); and at most 4 argon2 checks run at once (one
// more waits up to a second for a slot, then is refused 429 "busy"), so a
// burst of 31 guesses at 31 accounts from 31 addresses grows the server's
// memory high-water mark by far less than 31 × 19 MiB. The figures are
// logged (go test -v).
func TestAttackConcurrentGuesses(t *testing.T) {
	s := startServe(t)
	setup := newClient(t, "")
	setup.signup(s, "target@example.com", pw)

	for _, burst := range []int{9} { // under the per-account limit of 10: the lock, not the throttle, must stop it
		var wg sync.WaitGroup
		results := make([]answer, burst)
		for i := range burst {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, results[i] = source(t, i).login(s, "target@example.com", fmt.Sprintf("wrong guess %d", i))
			}()
		}
		time.Sleep(20 * time.Millisecond)
		_, right := source(t, 100).login(s, "target@example.com", pw)
		wg.Wait()
		checked, locked, busy := 0, 0, 0
		for _, a := range results {
			switch {
			case a.Status == 401 && a.Code == "bad_credentials":
				checked++
			case a.Status == 429 && a.Code == "login_locked":
				locked++
			case a.Status == 429 && a.Code == "busy":
				busy++
			default:
				t.Errorf("a guess: got %d %s", a.Status, a.Code)
			}
		}
		t.Logf("%d concurrent wrong guesses: %d checked, %d refused locked, %d refused busy; the right password 20 ms later: %d %s",
			burst, checked, locked, busy, right.Status, right.Code)
		// On a loaded machine the right password may reach the server
		// before the guesses sent 20 ms earlier: it is then one of the
		// first five attempts, rightly checked, and its success resets the
		// count — up to four wrong guesses checked before it and five after
		// are then all within the rule, and the burst cannot tell. So a
		// round the right password got into is judged by the burst again
		// with the right password sent only once every guess was answered
		// (below, where it must be locked out); a round it did not get
		// into is judged here: at most five guesses checked.
		if right.Status != 200 && checked > 5 {
			t.Errorf("%d of %d concurrent guesses were checked, want at most 5", checked, burst)
		}
		if right.Status != 200 && right.Code != "login_locked" && right.Code != "busy" {
			t.Errorf("the right password after the burst: got %d %s, want 429 login_locked", right.Status, right.Code)
		}
		if right.Status == 200 {
			// It came first and reset the count: the burst again, this time
			// with the right password only once every guess was answered —
			// at an account of its own, so that the per-account throttle
			// (10 attempts, which this account has had) is not what refuses
			// it: the lock must.
			setup.signup(s, "target2@example.com", pw)
			var wg sync.WaitGroup
			for i := range burst {
				wg.Add(1)
				go func() {
					defer wg.Done()
					source(t, 200+i).login(s, "target2@example.com", fmt.Sprintf("wrong guess again %d", i))
				}()
			}
			wg.Wait()
			_, right = source(t, 300).login(s, "target2@example.com", pw)
			t.Logf("the right password after a burst of %d answered guesses: %d %s", burst, right.Status, right.Code)
			if right.Status == 200 || right.Code != "login_locked" {
				t.Fatalf("the right password after %d concurrent wrong guesses: got %d %s, want 429 login_locked", burst, right.Status, right.Code)
			}
		}
	}

}

// TestAttackConcurrentGuessesMemory: 31 concurrent argon2 checks took the
// audited server from 289 to 659 MB. With at most 4 at once the burst
// below must grow the high-water mark by less than 10 checks' worth.
func TestAttackConcurrentGuessesMemory(t *testing.T) {
	// Memory: on a fresh server, 31 accounts signed up one after another
	// (one argon2 at a time), then 31 guesses at once, each at its own
	// account from its own address (no throttle or lock in the way: only
	// the argon2 bound). The high-water mark before and after the burst.
	s := startServe(t)
	const n = 31
	for i := range n {
		if a := source(t, 200+i%15).signup(s, fmt.Sprintf("m%d@example.com", i), pw); a.Status != 202 && a.Status != 201 {
			t.Fatalf("signup %d: got %d %s", i, a.Status, a.Body)
		}
	}
	before := s.highWater()
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		c := source(t, 300+i)
		go func() {
			defer wg.Done()
			<-start
			_, a := c.login(s, fmt.Sprintf("m%d@example.com", i), "wrong password")
			mu.Lock()
			counts[fmt.Sprintf("%d %s", a.Status, a.Code)]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	after := s.highWater()
	t.Logf("%d concurrent guesses: answers %v; serve's memory high-water (VmHWM) %d → %d KiB (+%.1f MiB; 31 unbounded argon2 checks would add ~%d MiB)",
		n, counts, before, after, float64(after-before)/1024, n*19)
	if grew := (after - before) / 1024; grew > 10*19 {
		t.Errorf("memory high-water grew by %d MiB under %d concurrent guesses, want at most %d (10 checks' worth)", grew, n, 10*19)
	}
}
