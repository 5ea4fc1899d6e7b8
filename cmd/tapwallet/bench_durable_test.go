package main

import (
	"strings"
	"testing"
)

// TestBenchAuthFailsWithoutFdatasync: a durable SQLite run that approved
// authorizations with no fdatasync fails with a message saying so; one that
// synced, one that approved nothing, and an opted-out or PostgreSQL run
// (sqlite false) pass.
func TestBenchAuthFailsWithoutFdatasync(t *testing.T) {
	err := durableRun(true, 5000, 0)
	if err == nil || !strings.Contains(err.Error(), "NOT DURABLE") || !strings.Contains(err.Error(), "5000 authorizations") {
		t.Fatalf("no fdatasync for 5000 approvals: err %v, want NOT DURABLE", err)
	}
	for _, c := range []struct {
		sqlite   bool
		approved int
		syncs    uint64
	}{{true, 5000, 1500}, {true, 0, 0}, {false, 5000, 0}} {
		if err := durableRun(c.sqlite, c.approved, c.syncs); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}
