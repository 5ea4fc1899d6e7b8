package kernel

import (
	"fmt"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/qpboc"
)

// DE55Tags is the order of the chip data in DE55 (docs/iso8583.md).
var DE55Tags = []emv.Tag{
	qpboc.TagCryptogram, qpboc.TagCID, qpboc.TagIAD, qpboc.TagUN, qpboc.TagATC, qpboc.TagTVR,
	qpboc.TagDate, qpboc.TagType, qpboc.TagAmount, qpboc.TagAmountOther, qpboc.TagCurrency, qpboc.TagAIP,
	qpboc.TagCountry, qpboc.TagTerminalCaps, qpboc.TagCVMResults, qpboc.TagCTQ, qpboc.TagTTQ, qpboc.TagDFName,
}

// ChipData encodes the chip data of a tap as DE55 carries it: BER-TLV in
// the order of DE55Tags, leaving out absent tags. It fails if the result
// would not fit DE55 (255 bytes).
func ChipData(chip map[emv.Tag][]byte) ([]byte, error) {
	var objs []emv.TLV
	for _, t := range DE55Tags {
		if v, ok := chip[t]; ok {
			objs = append(objs, emv.New(t, v))
		}
	}
	b, err := emv.Encode(objs...)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "chip_data", "encode the chip data")
	}
	if len(b) > 255 {
		return nil, fault.E(fault.Invalid, "chip_data", "the chip data is %d bytes, DE55 holds 255", len(b))
	}
	return b, nil
}

// AuthorizationRequest makes the ISO 8583 0100 for an Online tap, as the
// card network receives it: DE2 token, DE3 000000, DE4 amount, DE7 (now,
// UTC), DE11 the next STAN, DE12/13 the tap's local time, DE14 expiry,
// DE18 MCC, DE22 072 (contactless chip), DE23 PSN, DE25 00, DE32 acquirer,
// DE35 track 2, DE37 RRN (YDDDhh + STAN), DE41 terminal, DE42 merchant,
// DE43 name/city/country, DE49 currency, DE55 chip data. It fails with
// fault.Invalid if the tap was not Online or an element does not fit.
func (k *Kernel) AuthorizationRequest(res *Result, now time.Time) (*iso8583.Message, error) {
	if res == nil || res.Outcome != Online {
		return nil, fault.E(fault.Invalid, "not_online", "only an online tap makes an authorization request")
	}
	chip, err := ChipData(res.Chip)
	if err != nil {
		return nil, err
	}
	cfg := k.cfg
	stan := k.stan.Next()
	local := res.Time
	m := iso8583.New(iso8583.AuthorizationRequest)
	set := []struct {
		de int
		v  string
	}{
		{iso8583.DEPAN, res.Token.Digits()},
		{iso8583.DEProcessingCode, "000000"},
		{iso8583.DEExpiry, res.Expiry.YYMM()},
		{iso8583.DEMCC, cfg.MCC},
		{iso8583.DEPOSEntryMode, "072"},
		{iso8583.DECardSequence, "0" + res.PSN},
		{iso8583.DEPOSCondition, "00"},
		{iso8583.DEAcquirer, cfg.Acquirer},
		{iso8583.DETrack2, res.Track2()},
		{iso8583.DERRN, rrn(local, stan)},
		{iso8583.DETerminal, pad(cfg.TerminalID, 8)},
		{iso8583.DEMerchant, pad(cfg.MerchantID, 15)},
		{iso8583.DEMerchantName, pad(cfg.MerchantName, 25) + pad(cfg.City, 13) + pad(cfg.CountryCode, 2)},
	}
	for _, s := range set {
		if err := m.SetString(s.de, s.v); err != nil {
			return nil, fault.Wrap(err, fault.Invalid, "bad_request", "DE%d does not fit", s.de)
		}
	}
	if err := m.SetAmount(res.Amount); err != nil {
		return nil, fault.Wrap(err, fault.Invalid, "bad_request", "the amount does not fit")
	}
	if err := m.SetSTAN(stan); err != nil {
		return nil, err
	}
	m.SetTransmissionTime(now)
	m.SetLocalTime(local)
	if err := m.SetBytes(iso8583.DEICC, chip); err != nil {
		return nil, fault.Wrap(err, fault.Invalid, "bad_request", "the chip data does not fit")
	}
	return m, nil
}

// rrn is a retrieval reference number: last digit of the year, day of the
// year, hour, and the STAN (12 characters).
func rrn(t time.Time, stan iso8583.STAN) string {
	return fmt.Sprintf("%d%03d%02d%s", t.Year()%10, t.YearDay(), t.Hour(), stan)
}

func pad(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s + strings.Repeat(" ", n-len(s))
}

// Answer returns what the terminal tells the phone of the card network's
// answer to its 0100 (see Kernel.Tell): the ARC is DE39, the issuer
// authentication data is tag 91 of DE55 if the answer carries it, and the
// message is the response code's meaning ("approved", "insufficient
// funds"). An answer without a two-character DE39 is told as
// qpboc.ARCUnableOnline: the terminal could not get a usable answer.
func Answer(resp *iso8583.Message) qpboc.Outcome {
	rc, ok := resp.ResponseCode()
	if !ok || len(rc) != 2 {
		return qpboc.Outcome{ARC: qpboc.ARCUnableOnline, Message: "no usable answer from the bank"}
	}
	o := qpboc.Outcome{ARC: string(rc), Message: rc.Text()}
	if icc, ok := resp.Bytes(iso8583.DEICC); ok {
		if objs, err := emv.Decode(icc); err == nil {
			for _, obj := range objs {
				if obj.Tag == qpboc.TagIssuerAuth && len(obj.Value) >= 8 && len(obj.Value) <= 16 {
					o.IssuerAuth = obj.Value
				}
			}
		}
	}
	return o
}
