package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/kernel"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/qpboc"
)

// reversalTries is how often the terminal sends a reversal (0400, then
// 0401 repeats) before it gives up and leaves it to the issuer's expiry.
const reversalTries = 3

// authorizeOnline sends the terminal's 0100 to the card network and shows
// the answer: approved with its auth code, or declined with the reason.
// When no answer comes within timeout (or the link drops), or the answer
// cannot be read, it reverses the authorization (0400 with DE90 naming it
// and a STAN of counters, repeated as 0401 until answered) so that no hold
// stays at the issuer, and fails.
func authorizeOnline(ctx context.Context, e *env, addr string, timeout time.Duration, req *iso8583.Message, counters *terminalCounters) error {
	return authorizeOnlineAnswer(ctx, e, addr, timeout, req, counters, &qpboc.Outcome{})
}

// authorizeOnlineAnswer is authorizeOnline that also sets answer to what
// the terminal tells the phone of the network's answer (kernel.Answer).
func authorizeOnlineAnswer(ctx context.Context, e *env, addr string, timeout time.Duration, req *iso8583.Message, counters *terminalCounters, answer *qpboc.Outcome) error {
	c, err := isolink.Dial(ctx, addr, isolink.Options{Timeout: timeout})
	if err != nil {
		return fmt.Errorf("the card network at %s does not answer: %w", addr, err)
	}
	defer c.Close()
	amt, _ := req.Amount()
	fmt.Fprintf(e.stdout, "sending the authorization for %s to the card network at %s\n", amt, addr)
	start := time.Now()
	resp, err := c.Send(ctx, req)
	unreadable := errors.Is(err, iso8583.ErrFormat)
	if errors.Is(err, isolink.ErrTimeout) || errors.Is(err, isolink.ErrConnLost) || unreadable {
		if unreadable {
			fmt.Fprintf(e.stdout, "the card network's answer cannot be read (%v): reversing the authorization\n", err)
		} else {
			fmt.Fprintf(e.stdout, "no answer within %s: reversing the authorization\n", timeout)
		}
		if rerr := reverseAuthorization(ctx, e, addr, timeout, req, counters); rerr != nil {
			fmt.Fprintf(e.stdout, "the reversal was not answered either (%v): the issuer's hold will expire\n", rerr)
		}
		return &exitError{code: 1, err: fmt.Errorf("no usable answer from the card network: the payment did not go through")}
	}
	if err != nil {
		return err
	}
	rc, _ := resp.ResponseCode()
	*answer = kernel.Answer(resp)
	took := time.Since(start).Round(time.Millisecond)
	if !rc.Approved() {
		fmt.Fprintf(e.stdout, "DECLINED  %s  (%s)\n", rc, took)
		return &exitError{code: 1, err: fmt.Errorf("declined: %s", rc)}
	}
	code, _ := resp.String(iso8583.DEAuthID)
	fmt.Fprintf(e.stdout, "APPROVED  %s  auth code %s  (%s)\n", amt, code, took)
	if icc, ok := resp.Bytes(iso8583.DEICC); ok {
		if tags, err := netswitch.ChipData(icc); err == nil {
			if v := tags[0x91]; len(v) > 0 {
				fmt.Fprintf(e.stdout, "issuer authentication data (tag 91, %d bytes) for the card\n", len(v))
			}
		}
	}
	return nil
}

// reverseAuthorization sends the reversal of orig, on a new connection
// when the old one dropped, until it is answered or reversalTries run out.
func reverseAuthorization(ctx context.Context, e *env, addr string, timeout time.Duration, orig *iso8583.Message, counters *terminalCounters) error {
	now := time.Now()
	stan, _, err := counters.next(now, false)
	if err != nil {
		return err
	}
	rev, err := reversalOf(orig, now, stan)
	if err != nil {
		return err
	}
	var last error
	timeout = max(timeout, 5*time.Second) // the network answers a reversal even when it was slow before
	for try := 0; try < reversalTries; try++ {
		c, err := isolink.Dial(ctx, addr, isolink.Options{Timeout: timeout})
		if err != nil {
			last = err
			time.Sleep(time.Second)
			continue
		}
		resp, err := c.Send(ctx, rev)
		c.Close()
		if err == nil {
			rc, _ := resp.ResponseCode()
			fmt.Fprintf(e.stdout, "reversal answered: %s\n", rc)
			return nil
		}
		last = err
		rev.MTI = iso8583.ReversalRequestRepeat
	}
	return last
}

// reversalOf builds the terminal's 0400 for an authorization: the
// original's elements, its own STAN (stan) and DE7, and DE90 naming the
// original.
func reversalOf(orig *iso8583.Message, now time.Time, stan iso8583.STAN) (*iso8583.Message, error) {
	m := iso8583.New(iso8583.ReversalRequest)
	m.Copy(orig, iso8583.DEPAN, iso8583.DEProcessingCode, iso8583.DEAmount, iso8583.DELocalTime, iso8583.DELocalDate,
		iso8583.DEMCC, iso8583.DEPOSEntryMode, iso8583.DEPOSCondition, iso8583.DEAcquirer, iso8583.DERRN, iso8583.DETerminal,
		iso8583.DEMerchant, iso8583.DECurrency)
	m.SetTransmissionTime(now)
	if err := m.SetSTAN(stan); err != nil {
		return nil, err
	}
	origSTAN, _ := orig.String(iso8583.DESTAN)
	de7, _ := orig.String(iso8583.DETransmission)
	acq, _ := orig.String(iso8583.DEAcquirer)
	if err := m.SetString(iso8583.DEOriginal, netswitch.OriginalData(origSTAN, de7, acq)); err != nil {
		return nil, err
	}
	return m, nil
}
