package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/phone"
)

// The lost-phone side of the phone app: list the account's phones, switch
// a wallet off (this phone's or another's of the account) and back on, ask
// a phone to ring or show a message, and check in (report the place, take
// what waits: a key wipe, fresh keys, rings and messages).
func init() {
	registerPhone("phones", "list the account's phones: wallet on/off, cards, last place: [--json]", phonePhones)
	registerPhone("wallet-off", "switch the wallet off on a phone of the account: [--phone ID] [--reason TEXT]", phoneWalletOff)
	registerPhone("wallet-on", "switch the wallet back on: [--phone ID] (password from TAPWALLET_PASSWORD or stdin)", phoneWalletOn)
	registerPhone("ask", "ask a phone to ring or show a message at its next check-in: --phone ID (--ring | --message TEXT)", phoneAsk)
	registerPhone("checkin", "check in: [--lat DEG --lon DEG] report the place; wipe keys if switched off, show rings and messages, sync for fresh keys if switched back on", phoneCheckIn)
}

func phonePhones(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "phones")
	asJSON := fs.Bool("json", false, `print {"phones": [{"id", "name", "model", "wallet_on": bool, "cards": int, "last_seen" (RFC 3339), "lat", "lon" (degrees, null when unknown), "located_at" (RFC 3339 or null), "this_phone": bool}]}`)
	if err := parse(fs, args); err != nil {
		return err
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	phones, err := p.Phones(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		// The script's contract: every field always present (null when
		// unknown), whatever the wire form of the wallet API leaves out.
		type phoneJSON struct {
			ID        string     `json:"id"`
			Name      string     `json:"name"`
			Model     string     `json:"model"`
			WalletOn  bool       `json:"wallet_on"`
			Cards     int        `json:"cards"`
			LastSeen  time.Time  `json:"last_seen"`
			Lat       *float64   `json:"lat"`
			Lon       *float64   `json:"lon"`
			LocatedAt *time.Time `json:"located_at"`
			ThisPhone bool       `json:"this_phone"`
		}
		out := struct {
			Phones []phoneJSON `json:"phones"`
		}{Phones: []phoneJSON{}}
		for _, ph := range phones {
			out.Phones = append(out.Phones, phoneJSON{ID: ph.ID, Name: ph.Name, Model: ph.Model, WalletOn: ph.WalletOn,
				Cards: ph.Cards, LastSeen: ph.LastSeen, Lat: ph.Lat, Lon: ph.Lon, LocatedAt: ph.LocatedAt, ThisPhone: ph.ID == p.Profile.PhoneID})
		}
		return writeJSON(e.stdout, out)
	}
	fmt.Fprintf(e.stdout, "%-32s %-20s %-7s %-5s %-20s %s\n", "ID", "NAME", "WALLET", "CARDS", "LAST SEEN", "PLACE")
	for _, ph := range phones {
		state := "on"
		if !ph.WalletOn {
			state = "OFF"
		}
		place := "-"
		if ph.Lat != nil && ph.Lon != nil && ph.LocatedAt != nil {
			place = fmt.Sprintf("%.5f,%.5f (%s)", *ph.Lat, *ph.Lon, ph.LocatedAt.UTC().Format(time.RFC3339))
		}
		me := ""
		if ph.ID == p.Profile.PhoneID {
			me = " (this phone)"
		}
		fmt.Fprintf(e.stdout, "%-32s %-20s %-7s %-5d %-20s %s%s\n", ph.ID, ph.Name, state, ph.Cards, ph.LastSeen.UTC().Format(time.RFC3339), place, me)
	}
	return nil
}

func printSwitch(w io.Writer, what string, r phone.SwitchResult) {
	fmt.Fprintf(w, "%s %q (%s): %s\n", what, r.Phone.Name, r.Phone.ID, r.Message)
	if !r.Changed {
		fmt.Fprintln(w, "  (it was already in that state)")
	}
	if len(r.Tokens) > 0 {
		fmt.Fprintf(w, "  cards (token ending): %s\n", strings.Join(r.Tokens, ", "))
	}
	switch {
	case r.NoTransit:
		fmt.Fprintln(w, "  transit: no transit operator connected")
	case len(r.Transit) > 0:
		fmt.Fprintf(w, "  transit cards: %s\n", strings.Join(r.Transit, ", "))
	}
}

func phoneWalletOff(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "wallet-off")
	id := fs.String("phone", "", "the phone to switch off (default: this phone)")
	reason := fs.String("reason", "phone lost", "why, kept in the record")
	if err := parse(fs, args); err != nil {
		return err
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	if *id == "" {
		*id = p.Profile.PhoneID
	}
	r, err := p.WalletOff(ctx, *id, *reason)
	if err != nil {
		return err
	}
	printSwitch(e.stdout, "switched off", r)
	return nil
}

func phoneWalletOn(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "wallet-on")
	id := fs.String("phone", "", "the phone to switch back on (default: this phone)")
	if err := parse(fs, args); err != nil {
		return err
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	if *id == "" {
		*id = p.Profile.PhoneID
	}
	pw, err := password(e)
	if err != nil {
		return err
	}
	r, err := p.WalletOn(ctx, *id, pw)
	if err != nil {
		return err
	}
	printSwitch(e.stdout, "switched on", r)
	return nil
}

func phoneAsk(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "ask")
	id := fs.String("phone", "", "the phone to ask")
	ring := fs.Bool("ring", false, "ring it")
	msg := fs.String("message", "", "a message for its screen (with --ring: what it shows while ringing)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" || (!*ring && *msg == "") {
		return usage("ask needs --phone and --ring or --message")
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	kind := "message"
	if *ring {
		kind = "ring"
	}
	if err := p.Ask(ctx, *id, kind, *msg); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "the %s waits for the phone's next check-in\n", kind)
	return nil
}

func phoneCheckIn(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "checkin")
	lat := fs.String("lat", "", "latitude in degrees (with --lon): report where the phone is")
	lon := fs.String("lon", "", "longitude in degrees")
	if err := parse(fs, args); err != nil {
		return err
	}
	loc, err := parseLocation(*lat, *lon)
	if err != nil {
		return err
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	r, err := p.CheckIn(ctx, loc)
	if err != nil {
		return err
	}
	printCheckIn(e.stdout, r, loc)
	if r.FreshKeys {
		res, err := p.Sync(ctx)
		if err != nil {
			return err
		}
		n := 0
		for _, c := range res {
			n += c.NewKeys
		}
		fmt.Fprintf(e.stdout, "%d fresh payment keys installed\n", n)
	}
	return nil
}

// parseLocation reads --lat and --lon: both or neither.
func parseLocation(lat, lon string) (*phone.Location, error) {
	if lat == "" && lon == "" {
		return nil, nil
	}
	la, err1 := strconv.ParseFloat(lat, 64)
	lo, err2 := strconv.ParseFloat(lon, 64)
	if err1 != nil || err2 != nil || la < -90 || la > 90 || lo < -180 || lo > 180 {
		return nil, usage("--lat and --lon must both be given, in degrees (-90..90, -180..180)")
	}
	return &phone.Location{Lat: la, Lon: lo}, nil
}

// printCheckIn shows what a check-in did (also used by `phone sync`).
func printCheckIn(w io.Writer, r phone.CheckInResult, loc *phone.Location) {
	if loc != nil {
		fmt.Fprintf(w, "reported the place %.5f, %.5f\n", loc.Lat, loc.Lon)
	}
	for _, c := range r.Commands {
		switch c.Kind {
		case "ring":
			fmt.Fprintf(w, "RINGING: %s\n", c.Message)
		case "message":
			fmt.Fprintf(w, "MESSAGE from the owner: %s\n", c.Message)
		default:
			fmt.Fprintf(w, "%s\n", c.Message)
		}
	}
	if !r.WalletOn {
		fmt.Fprintf(w, "the wallet on this phone is switched off: %d payment keys destroyed\n", r.Wiped)
	} else if r.Wiped > 0 {
		fmt.Fprintf(w, "%d old payment keys destroyed\n", r.Wiped)
	}
	if len(r.Commands) == 0 && r.WalletOn {
		fmt.Fprintln(w, "nothing waits for this phone")
	}
}
