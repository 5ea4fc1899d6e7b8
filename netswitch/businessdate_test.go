package netswitch

import (
	"fmt"
	"testing"
	"time"
)

// TestBusinessDate checks the kept day's text against Format: around
// midnight UTC, in another zone, before 1970, and going back and forth
// between days (the kept day replaced each time).
func TestBusinessDate(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	midnight := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	var times []time.Time
	for _, base := range []time.Time{midnight, time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), time.Unix(0, 0).UTC(),
		time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)} {
		for _, d := range []time.Duration{-time.Nanosecond, 0, time.Nanosecond, time.Second, 23*time.Hour + 59*time.Minute, 24 * time.Hour,
			-24 * time.Hour, -time.Second} {
			times = append(times, base.Add(d), base.Add(d).In(shanghai))
		}
	}
	for round := range 2 {
		for _, tm := range times {
			if got, want := businessDate(tm), tm.UTC().Format("20060102"); got != want {
				t.Errorf("round %d: businessDate(%s) = %s, want %s", round, tm.Format(time.RFC3339Nano), got, want)
			}
		}
	}
}

// TestScoreText checks the scores' texts against %02d, and the bounds.
func TestScoreText(t *testing.T) {
	for score := -5; score <= 130; score++ {
		rk := &riskCall{decided: true}
		rk.d.Score = score
		if got, want := rk.score(), fmt.Sprintf("%02d", min(max(score, 0), 99)); got != want {
			t.Errorf("score %d: %q, want %q", score, got, want)
		}
	}
	if got := (&riskCall{}).score(); got != "" {
		t.Errorf("undecided: %q", got)
	}
}
