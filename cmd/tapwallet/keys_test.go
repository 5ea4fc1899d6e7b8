package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/keystore"
	"github.com/tapwallet/tapwallet/keystore/keystoretest"
	"github.com/tapwallet/tapwallet/keystore/pkcs11"
	"github.com/tapwallet/tapwallet/keystore/pkcs11/pkcs11test"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	netstore "github.com/tapwallet/tapwallet/netswitch/sqlstore"
	"github.com/tapwallet/tapwallet/platform"
	"github.com/tapwallet/tapwallet/sqldb"
	tspstore "github.com/tapwallet/tapwallet/tsp/sqlstore"
)

// TestKeysExportForGate: a gate's export holds its city's two SAM keys
// (the platform's own, by check value) and nothing else; the gate refuses
// the platform's key file and another city's export.
func TestKeysExportForGate(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "platform")
	pk, err := keystore.OpenFile(filepath.Join(data, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "gate", "keys.json")
	stdout, errs, err := runCLI(t, nil, "keys", "export", "--role", "gate", "--city", "shanghai", "--out", out, "--data", data)
	if err != nil {
		t.Fatalf("keys export: %v %s", err, errs)
	}
	for _, name := range []string{"transit-shanghai-purchase", "transit-shanghai-maintenance"} {
		k, _ := pk.IssuerMasterKey(name)
		if !strings.Contains(stdout, name+" kcv "+keystore.KCV(k)) {
			t.Errorf("export listing %q lacks %s with the platform's check value", stdout, name)
		}
	}
	listed, _, err := runCLI(t, nil, "keys", "list", "--file", out)
	if err != nil || strings.Count(listed, "transit-shanghai-") != 2 || strings.Contains(listed, "load") || strings.Contains(listed, "master") {
		t.Errorf("keys list --file: got %v\n%s", err, listed)
	}
	if st, _ := os.Stat(out); st == nil || st.Mode().Perm() != 0o600 {
		t.Errorf("export file mode: %v", st)
	}
	gate := func(city, line, station, keys string) error {
		_, _, err := runCLI(t, nil, "gate", "--city", city, "--line", line, "--station", station, "--listen", "127.0.0.1:0",
			"--keys", keys, "--data", filepath.Join(dir, "gate-"+city), "--count", "0")
		return err
	}
	if err := gate("shanghai", "L2", "peoples-square", filepath.Join(data, "keys.json")); !fault.Has(err, fault.Invalid, "keyfile_platform") {
		t.Errorf("gate on the platform's key file: got %v, want keyfile_platform", err)
	}
	if err := gate("beijing", "L1", "xidan", out); err == nil || !strings.Contains(err.Error(), "not of a gate of beijing") {
		t.Errorf("gate of beijing on shanghai's keys: got %v", err)
	}
}

// TestKeysRotateUnderLoad rotates the vault master key and the index key
// twice each (and the EMV root once) with tapwallet keys rotate while
// authorizations run over ISO 8583 and cards are added: every
// authorization is approved, every card added, a card added again after
// the index rotations is found (no second vault record), and every stored
// card number opens — the re-wrapped ones under the newest master key.
func TestKeysRotateUnderLoad(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	// 320 taps of a few cards in seconds are card testing to the risk
	// engine; this test is about keys, so the engine is off.
	p, err := platform.Start(ctx, platform.Config{DataDir: data, HTTPAddr: "127.0.0.1:0", ISOAddr: "127.0.0.1:0", ArgonTime: 1, Log: slog.New(slog.DiscardHandler), RiskOff: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Wallet.ArgonMemoryKiB = 64
	p.Tokens.LUKBatch = 40
	p.Tokens.LUKTTL = time.Hour
	const tokens, per = 8, 40
	streams, err := provision(ctx, p, tokens, per, tokens*per, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
	var green []*bank.Cardholder
	for i := range p.Banks.Cards {
		if c := &p.Banks.Cards[i]; c.IDV == bank.Green && c.Expiry.Year >= 2027 && c.Usable() {
			green = append(green, c)
		}
	}

	var wg sync.WaitGroup
	var approved, declined, added atomic.Int64
	var loadErr atomic.Value
	stop := make(chan struct{})
	// Authorizations, each token's in counter order.
	for i, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := isolink.Dial(ctx, p.ISOAddr, isolink.Options{Timeout: 30 * time.Second})
			if err != nil {
				loadErr.Store(err)
				return
			}
			defer c.Close()
			for _, m := range s.msgs {
				resp, err := c.Send(ctx, m)
				if err != nil {
					loadErr.Store(fmt.Errorf("stream %d: %w", i, err))
					return
				}
				if rcApproved(resp) {
					approved.Add(1)
				} else {
					rc, _ := resp.ResponseCode()
					loadErr.Store(fmt.Errorf("stream %d: declined %v", i, rc))
					declined.Add(1)
				}
			}
		}()
	}
	// Card adds on new phones until the rotations are done.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			ph, err := nettest.NewPhone(ctx, p.RegisterSimulatedPhone, fmt.Sprintf("rot-%d@example.com", n))
			if err != nil {
				loadErr.Store(err)
				return
			}
			if _, err := ph.AddCard(ctx, p.Tokens, green[n%len(green)]); err != nil {
				loadErr.Store(fmt.Errorf("add card %d: %w", n, err))
				return
			}
			added.Add(1)
		}
	}()
	for _, kind := range []string{"master", "index", "emv-root", "master", "index"} {
		time.Sleep(150 * time.Millisecond)
		if out, errs, err := runCLI(t, nil, "keys", "rotate", "--kind", kind, "--data", data); err != nil {
			t.Fatalf("keys rotate --kind %s: %v\n%s%s", kind, err, out, errs)
		}
	}
	time.Sleep(150 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err, _ := loadErr.Load().(error); err != nil {
		t.Fatalf("under rotation: %v", err)
	}
	if approved.Load() != tokens*per || declined.Load() != 0 || added.Load() < 2 {
		t.Fatalf("got %d approved, %d declined, %d cards added; want %d, 0, at least 2", approved.Load(), declined.Load(), added.Load(), tokens*per)
	}
	t.Logf("%d authorizations approved and %d cards added during 5 rotations", approved.Load(), added.Load())

	// A card on a phone is found again after two index rotations.
	ph, err := nettest.NewPhone(ctx, p.RegisterSimulatedPhone, "again@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ph.AddCard(ctx, p.Tokens, green[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := ph.AddCard(ctx, p.Tokens, green[0]); !fault.Has(err, fault.Conflict, "card_on_phone") {
		t.Errorf("the same card again after index rotations: got %v, want card_on_phone", err)
	}
	// One vault record per card number, each readable.
	keys, err := keystore.OpenFile(filepath.Join(data, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	vault, err := tspstore.Open(ctx, "", data) // the token service's own wing
	if err != nil {
		t.Fatal(err)
	}
	defer vault.Close()
	rows, err := vault.DB.SQL().Query("SELECT id, pan_sealed FROM vault_pans")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	byKey := map[string]int{}
	for rows.Next() {
		var id string
		var sealed []byte
		rows.Scan(&id, &sealed)
		pan, err := keys.Open(sealed, []byte("vault:"+id))
		if err != nil {
			t.Fatalf("vault record %s does not open: %v", id, err)
		}
		if seen[string(pan)] {
			t.Errorf("two vault records for one card number (ending %s)", pan[len(pan)-4:])
		}
		seen[string(pan)] = true
		byKey[keystore.SealedKeyID(sealed)]++
	}
	if byKey["k1"] != 0 || byKey["k3"] == 0 {
		t.Errorf("vault records by master key: %v; want none left under k1 (re-wrapped) and some under k3", byKey)
	}
	t.Logf("vault records by master key: %v", byKey)
}

// TestKeysPKCS11 is a key ceremony and a day of payments with the keys in
// a SoftHSM2 token: keys init makes k1, i1, r1 in the token, list and kcv
// show ids and check values, import combines two components (each
// component's KCV and the key's shown), serve refuses a wrong PIN, a
// missing token and an empty token at start with a clear error; then a
// platform on the token approves authorizations over ISO 8583 on TCP (the
// cryptograms checked and the ARPCs made in the token), its vault opens
// only through the token, and no error text, log line or file in the data
// folder holds the PIN.
func TestKeysPKCS11(t *testing.T) {
	uri := pkcs11test.Token(t, "ceremony")
	env := map[string]string{pkcs11test.PINEnv: pkcs11test.PIN}
	data := filepath.Join(t.TempDir(), "data")
	out, errs, err := runCLI(t, env, "keys", "init", "--keys", uri, "--data", data)
	if err != nil || !strings.Contains(out, "made 3 key(s) in the token") {
		t.Fatalf("keys init: %v\n%s%s", err, out, errs)
	}
	listed, _, err := runCLI(t, env, "keys", "list", "--keys", uri, "--data", data)
	for _, want := range []string{"master    k1", "index     i1", "emv-root  r1"} {
		if err != nil || !strings.Contains(listed, want) {
			t.Errorf("keys list: %v, want %q in\n%s", err, want, listed)
		}
	}
	var stdout, stderr bytes.Buffer
	comps := "0123456789ABCDEF0123456789ABCDEF\nFEDCBA9876543210FEDCBA9876543210\n" // XOR: FFFF…
	err = run(context.Background(), []string{"keys", "import", "--kind", "imk", "--name", "token-range-999999", "--components", "2", "--keys", uri, "--data", data},
		func(k string) string { return env[k] }, strings.NewReader(comps), &stdout, &stderr)
	want := keystore.KCV(bytes.Repeat([]byte{0xFF}, 16))
	if err != nil || !strings.Contains(stdout.String(), "component 1 kcv "+keystore.KCV(mustHex(t, "0123456789ABCDEF0123456789ABCDEF"))) ||
		!strings.Contains(stdout.String(), "imported imk token-range-999999 kcv "+want) {
		t.Errorf("keys import: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if kcv, _, err := runCLI(t, env, "keys", "kcv", "token-range-999999", "--keys", uri, "--data", data); err != nil || kcv != "token-range-999999 kcv "+want+"\n" {
		t.Errorf("keys kcv: %q, %v, want %s", kcv, err, want)
	}
	// A wrong PIN, a missing token, a token without keys: serve stops at
	// start, saying why; never the PIN in the text.
	empty := pkcs11test.Token(t, "empty")
	for _, c := range []struct {
		name, uri, pin, says string
	}{
		{"wrong PIN", uri, "0000", "wrong PIN"},
		{"missing token", strings.Replace(uri, "token=ceremony", "token=absent", 1), pkcs11test.PIN, `no PKCS#11 token labelled "absent"`},
		{"no keys", empty, pkcs11test.PIN, "tapwallet keys init"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, errs, err := runCLI(t, map[string]string{pkcs11test.PINEnv: c.pin}, "serve", "--keys", c.uri, "--data", data, "--http", "127.0.0.1:0", "--iso", "127.0.0.1:0")
		cancel()
		_ = ctx
		if err == nil || !strings.Contains(err.Error(), c.says) || strings.Contains(err.Error()+errs, pkcs11test.PIN) {
			t.Errorf("serve, %s: got %v (%s), want an error saying %q without the PIN", c.name, err, errs, c.says)
		}
	}

	// Payments with the keys in the token.
	ctx := context.Background()
	t.Setenv(pkcs11test.PINEnv, pkcs11test.PIN)
	store, err := pkcs11.OpenURI(ctx, uri, pkcs11.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var logs bytes.Buffer
	p, err := platform.Start(ctx, platform.Config{KeyStore: store, DataDir: data, HTTPAddr: "127.0.0.1:0", ISOAddr: "127.0.0.1:0", ArgonTime: 1,
		Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Wallet.ArgonMemoryKiB = 64
	streams, err := provision(ctx, p, 4, 3, 12, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
	c, err := isolink.Dial(ctx, p.ISOAddr, isolink.Options{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	approved := 0
	for _, s := range streams {
		for _, m := range s.msgs {
			resp, err := c.Send(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			if !rcApproved(resp) {
				rc, _ := resp.ResponseCode()
				t.Fatalf("declined %v", rc)
			}
			if iad, _ := resp.Bytes(iso8583.DEICC); len(iad) == 0 {
				t.Error("an approval without chip data (no ARPC)")
			}
			approved++
		}
	}
	if approved != 12 {
		t.Fatalf("approved %d, want 12", approved)
	}
	// The vault was sealed in the token: the key file's master key does
	// not open it, the token does.
	file, _ := keystore.OpenFile(filepath.Join(data, "keys.json"))
	vault, err := tspstore.Open(ctx, "", data)
	if err != nil {
		t.Fatal(err)
	}
	defer vault.Close()
	sealedInToken(t, store, file, vault.DB, "SELECT id, pan_sealed FROM vault_pans LIMIT 1", "vault:")
	// The network sealed its records' card numbers in the token too.
	records, err := netstore.Open(ctx, "", data)
	if err != nil {
		t.Fatal(err)
	}
	defer records.Close()
	sealedInToken(t, store, file, records.DB, "SELECT id, pan_sealed FROM switch_auths WHERE pan_sealed IS NOT NULL LIMIT 1", "switch:")
	// The portal's keyed hashes are the token's: the log-in form's CSRF
	// token for a given cookie is the token's HMAC, not the key file's.
	req, _ := http.NewRequest("GET", p.URL+"/login", nil)
	req.AddCookie(&http.Cookie{Name: "tw_pre", Value: "pkcs11-test-binding"})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	inToken, err := store.Index(ctx, "portal csrf", []byte("pkcs11-test-binding"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `name="csrf" value="` + base64.RawURLEncoding.EncodeToString(inToken) + `"`; !strings.Contains(string(page), want) {
		t.Errorf("the portal's CSRF token is not the token's keyed hash (want %s in the log-in page, status %d)", want, resp.StatusCode)
	}
	if fileHash := base64.RawURLEncoding.EncodeToString(file.Index("portal csrf", []byte("pkcs11-test-binding"))); strings.Contains(string(page), fileHash) {
		t.Error("the portal hashed with the key file's index key")
	}
	// The network–issuer secrets come from the token as well.
	if _, clr, err := platform.LinkSecrets(ctx, store); err != nil || string(clr.Reveal()) != string(p.ClearingSecret()) ||
		string(p.ClearingSecret()) == string(file.Index("clearing-link", []byte("v1"))) {
		t.Errorf("the clearing secret is not the token's (err %v)", err)
	}
	if strings.Contains(logs.String(), pkcs11test.PIN) {
		t.Error("a log line holds the PIN")
	}
}

// sealedInToken reads one sealed card number (id, sealed) with query from
// db and checks that the token opens it with the aad prefix+id and the key
// file does not.
func sealedInToken(t *testing.T, store keystore.Store, file *keystore.File, db *sqldb.DB, query, prefix string) {
	t.Helper()
	var id string
	var sealed []byte
	// A running platform writes its records to SQL behind its journal
	// (the switch's every 100 ms): wait for the first to be there.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err := db.SQL().QueryRow(query).Scan(&id, &sealed)
		if err == nil {
			break
		}
		if !errors.Is(err, sql.ErrNoRows) || time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	if _, err := file.Open(sealed, []byte(prefix+id)); err == nil {
		t.Errorf("the key file opens a card number sealed (%s) with --keys pkcs11", prefix)
	}
	if pan, err := store.Open(context.Background(), sealed, []byte(prefix+id)); err != nil || len(pan) < 16 {
		t.Errorf("the token does not open the card number it sealed (%s): %v", prefix, err)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNoKeyAtRestOrInText runs payments on the key file and then looks for
// every key of keys.json (the vault's master keys, index keys, EMV roots,
// and the issuer master keys of the token ranges used) in every other file
// of the data folder, in the log, in the texts of the errors the key store
// gives, and in every printed form of the structs that hold keys (the
// platform, the token service, the key file, the store): none is there.
func TestNoKeyAtRestOrInText(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	var logs bytes.Buffer
	p, err := platform.Start(ctx, platform.Config{DataDir: data, HTTPAddr: "127.0.0.1:0", ISOAddr: "127.0.0.1:0", ArgonTime: 1,
		Log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Wallet.ArgonMemoryKiB = 64
	streams, err := provision(ctx, p, 4, 2, 8, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
	c, err := isolink.Dial(ctx, p.ISOAddr, isolink.Options{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, s := range streams {
		for _, m := range s.msgs {
			if resp, err := c.Send(ctx, m); err != nil || !rcApproved(resp) {
				t.Fatalf("authorization: %v", err)
			}
		}
		// The same cryptogram again: declined (replay), an error path.
		c.Send(ctx, s.msgs[0])
	}
	// The keys: everything in keys.json, and the ranges' issuer master keys.
	raw, err := os.ReadFile(filepath.Join(data, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	var kf map[string]any
	json.Unmarshal(raw, &kf)
	var keys []string
	for _, field := range []string{"masters", "index_keys", "emv_roots"} {
		m, _ := kf[field].(map[string]any)
		for _, v := range m {
			keys = append(keys, v.(string))
		}
	}
	vault, err := tspstore.Open(ctx, "", data)
	if err != nil {
		t.Fatal(err)
	}
	defer vault.Close()
	rows, err := vault.DB.SQL().Query("SELECT DISTINCT substr(token, 1, 6) FROM tokens")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var prefix string
		rows.Scan(&prefix)
		k, err := p.Keys.IssuerMasterKey("token-range-" + prefix)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, hex.EncodeToString(k))
	}
	rows.Close()
	if len(keys) < 4 {
		t.Fatalf("found only %d keys to look for", len(keys))
	}
	// Error texts of the key store.
	var texts []string
	st := p.KeyStore
	sealed, _ := st.Seal(ctx, []byte("6222020000000004"), []byte("a"))
	for _, err := range []error{
		func() error { _, err := st.Open(ctx, sealed, []byte("b")); return err }(),
		func() error { _, err := st.Open(ctx, sealed[:30], []byte("a")); return err }(),
		func() error {
			_, err := st.VerifyARQC(ctx, keystore.ARQC{Range: "token-range-628801", Alg: emv.TDES, PAN: "6288010000000001", ARQC: make([]byte, 8)})
			return err
		}(),
		func() error { _, err := st.KCV(ctx, "k99"); return err }(),
		func() error { _, err := st.Rotate(ctx, "nonsense"); return err }(),
	} {
		if err == nil {
			t.Fatal("an error path gave no error")
		}
		texts = append(texts, err.Error(), fmt.Sprintf("%+v", err))
	}
	p.Close()
	if where := keystoretest.FindKey(logs.String()+strings.Join(texts, "\n"), keys); where != "" {
		t.Errorf("a key is in the log or an error text (%s)", where)
	}
	files := 0
	filepath.WalkDir(data, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(path) == "keys.json" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		files++
		if where := keystoretest.FindKey(string(b), keys); where != "" {
			t.Errorf("%s holds a key (%s)", path, where)
		}
		return nil
	})
	if files < 3 {
		t.Errorf("looked in only %d files", files)
	}
	keystoretest.AssertNoKey(t, keys, p, p.Keys, p.KeyStore, p.Tokens)
	t.Logf("%d keys looked for in %d files, %d bytes of log, %d error texts and the printed structs", len(keys), files, logs.Len(), len(texts))
}
