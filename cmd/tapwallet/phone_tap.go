package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/nfc"
	"github.com/tapwallet/tapwallet/phone"
)

func init() {
	registerPhone("tap", "tap a store terminal or reader: --reader HOST:PORT [--finger NAME] [--card LAST4] [--timeout 30s]", phoneTap)
	registerPhone("enroll-finger", "enroll a fingerprint: [--finger NAME]", phoneEnrollFinger)
	registerPhone("verify-finger", "verify a fingerprint now (one payment within 30 s): [--finger NAME]", phoneVerifyFinger)
	registerPhone("unlock", "unlock payments after 5 wrong fingers (account password from TAPWALLET_PASSWORD or stdin)", phoneUnlock)
}

func phoneTap(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "tap")
	reader := fs.String("reader", envDefault(e, "reader", ""), "the terminal's NFC link address, HOST:PORT [TAPWALLET_READER]")
	finger := fs.String("finger", "", "verify this finger just before the tap (a payment needs one within 30 s)")
	cardRef := fs.String("card", "", "pay with this card (token or card last 4 digits) instead of the default")
	timeout := fs.Duration("timeout", 30*time.Second, "give up when the reader is silent this long")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *reader == "" {
		return usage("tap needs --reader HOST:PORT (the terminal's listen address; vpcd listens on localhost:35963)")
	}
	if *timeout <= 0 {
		return usage("--timeout must be positive")
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	if s := tapPreview(p, *cardRef); s != "" { // the card details pop up as the phone meets the terminal
		fmt.Fprintln(e.stdout, s)
	}
	if *finger != "" {
		if err := p.VerifyFingerToTap(*finger); err != nil {
			// The tap goes on: the terminal will get "see phone".
			fmt.Fprintf(e.stderr, "fingerprint: %s\n", fault.MessageOf(err))
		} else {
			fmt.Fprintf(e.stdout, "fingerprint verified %s\n", consentFor(p))
		}
	}
	rep, err := p.Tap(ctx, phone.TapOptions{Reader: *reader, Card: *cardRef, Link: nfc.Config{IdleTimeout: *timeout}})
	fmt.Fprintln(e.stdout, rep.Summary())
	if err != nil {
		return err
	}
	if err := rep.Err(); err != nil {
		return &exitError{code: 1, err: err}
	}
	return nil
}

func fingerFlag(e *env, pf *phoneFlags, name string, args []string) (*phone.Phone, string, error) {
	fs := subFlags(e, pf, name)
	finger := fs.String("finger", phone.DefaultFinger, "the finger")
	if err := parse(fs, args); err != nil {
		return nil, "", err
	}
	if *finger == "" {
		return nil, "", usage("%s needs --finger NAME", name)
	}
	p, err := pf.open()
	return p, *finger, err
}

func phoneEnrollFinger(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	p, finger, err := fingerFlag(e, pf, "enroll-finger", args)
	if err != nil {
		return err
	}
	if err := p.EnrollFinger(finger); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "fingerprint %q enrolled; a payment tap needs it verified within %v\n", finger, phone.FingerWindow)
	return nil
}

func phoneVerifyFinger(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	p, finger, err := fingerFlag(e, pf, "verify-finger", args)
	if err != nil {
		return err
	}
	if err := p.VerifyFinger(finger); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "fingerprint verified %s: tap within %v\n", consentFor(p), phone.FingerWindow)
	return nil
}

func phoneUnlock(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "unlock")
	if err := parse(fs, args); err != nil {
		return err
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	pw, err := password(e)
	if err != nil {
		return err
	}
	if err := p.Unlock(ctx, pw); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "payments unlocked: verify your fingerprint and tap")
	return nil
}

// consentFor says what a fresh fingerprint pays: "for 12.34 CNY at SHOP"
// (the request the phone showed), or "for the next payment" asked.
func consentFor(p *phone.Phone) string {
	st, err := p.Fingers()
	if err != nil || st.For == nil {
		return "for the next payment a terminal asks (not a 0.00 read)"
	}
	s := "for " + phone.Describe(*st.For)
	return s + " only"
}
