package tsp

import (
	"errors"
	"slices"
	"testing"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/fault"
)

type recMeter struct{ calls []string }

func (m *recMeter) Checked(outcome, code string) {
	m.calls = append(m.calls, "check "+outcome+" "+code)
}
func (m *recMeter) Bound(verdict, code string) { m.calls = append(m.calls, "bind "+verdict+" "+code) }

// TestMeterLabelsBounded: the meter is told a decline's code only when it
// is one of the token check's, a bank's error code only when it is one of
// the banks' — anything else is "other" — and a green card the risk
// engine steps up apart from a green one; a nil Meter is told nothing.
func TestMeterLabelsBounded(t *testing.T) {
	m := &recMeter{}
	s := &Service{Meter: m}
	s.meterCheck(nil)
	s.meterCheck(decline(DeclineCryptogram, "bad"))
	s.meterCheck(fault.E(fault.Declined, "made_up_by_a_peer", "x"))
	s.meterCheck(fault.E(fault.Unavailable, "store_down", "x"))
	s.meterCheck(errors.New("plain"))
	s.meterIDV(bank.IDVVerdict{Decision: bank.Green}, nil, false)
	s.meterIDV(bank.IDVVerdict{Decision: bank.Green}, nil, true)
	s.meterIDV(bank.IDVVerdict{Decision: bank.StepUp}, nil, false)
	s.meterIDV(bank.IDVVerdict{Decision: bank.Red}, nil, false)
	s.meterIDV(bank.IDVVerdict{Decision: bank.Red}, fault.E(fault.Invalid, bank.CodeWrongCVN2, "x"), false)
	s.meterIDV(bank.IDVVerdict{}, fault.E(fault.Invalid, "card 6222020000000007", "x"), false)
	want := []string{
		"check approved ", "check declined arqc_invalid", "check declined other", "check error unavailable", "check error internal",
		"bind green ", "bind risk_step_up ", "bind step_up ", "bind red ", "bind error wrong_cvn2", "bind error other",
	}
	if !slices.Equal(m.calls, want) {
		t.Errorf("meter told\n%q\nwant\n%q", m.calls, want)
	}
	var none Service // no Meter: no panic
	none.meterCheck(nil)
	none.meterIDV(bank.IDVVerdict{}, nil, false)
}
