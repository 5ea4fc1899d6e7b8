package issuer

import (
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
)

// Meter is told how long the host's hops took and which response code
// each authorization was answered with (HostConfig.Meter; the platform
// hands it the metrics of `serve`). It must be safe for concurrent use.
type Meter interface {
	Hop(hop string, took time.Duration)
	Answered(rc string)
}

// HopLedgerCommit is the hop of the authorization's hold in the bank's
// ledger (its group-commit batch's wait and transaction included).
const HopLedgerCommit = "ledger_commit"

// hop tells the meter, if any, that hop took since start.
func (h *Host) hop(hop string, start time.Time) {
	if h.cfg.Meter != nil {
		h.cfg.Meter.Hop(hop, time.Since(start))
	}
}

// meterAnswer tells the meter, if any, an authorization's answer's code
// (also a 30 or 40 the dispatcher gave).
func (h *Host) meterAnswer(resp *iso8583.Message) {
	if h.cfg.Meter != nil {
		var rc iso8583.ResponseCode
		if resp != nil {
			rc, _ = resp.ResponseCode()
		}
		h.cfg.Meter.Answered(string(rc))
	}
}
