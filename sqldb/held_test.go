package sqldb_test

import (
	"context"
	"os"
	"testing"

	"github.com/tapwallet/tapwallet/sqldb"
)

// TestHeld: a store closes the database it opened, once, and never one
// handed to it.
func TestHeld(t *testing.T) {
	ctx := context.Background()
	w := sqldb.Wing{Name: "alpha", Migrations: os.DirFS("testdata"), Dir: "wing_a"}
	dir := t.TempDir()
	own, err := sqldb.OpenHeld(ctx, "", dir, w)
	if err != nil {
		t.Fatal(err)
	}
	if err := own.Close(); err != nil {
		t.Fatal(err)
	}
	if err := own.DB.SQL().Ping(); err == nil {
		t.Fatal("the database OpenHeld opened is still open after Close")
	}
	if err := own.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	db, err := sqldb.OpenWing(ctx, "", dir, w)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lent := sqldb.Hold(db)
	if err := lent.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.SQL().Ping(); err != nil {
		t.Fatalf("Close closed a database handed to Hold: %v", err)
	}
	beside, err := sqldb.HoldBeside(ctx, db, sqldb.Wing{Name: "beta", Migrations: os.DirFS("testdata"), Dir: "wing_b"})
	if err != nil {
		t.Fatal(err)
	}
	if err := beside.Close(); err != nil || beside.DB.SQL().Ping() == nil {
		t.Fatalf("HoldBeside's wing: Close %v, still open after it", err)
	}
}
