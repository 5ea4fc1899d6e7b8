package isolink

import (
	"context"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
)

// NetworkRequest returns an 0800 network management request: DE7 (now, UTC),
// DE11 stan and DE70 code (iso8583.SignOn, SignOff or EchoTest). It never
// fails; an unusable stan or code shows up as an error of Pack or Send.
func NetworkRequest(code iso8583.NetworkCode, stan iso8583.STAN, now time.Time) *iso8583.Message {
	m := iso8583.New(iso8583.NetworkRequest)
	m.SetTransmissionTime(now)
	_ = m.SetSTAN(stan)
	_ = m.SetString(iso8583.DENetworkCode, string(code))
	return m
}

// AnswerNetwork returns the 0810 answer to an 0800: DE7, DE11, DE32, DE41
// and DE70 echoed, DE39 00 for sign-on, sign-off and echo, 40 (function not
// supported) for any other DE70 and 30 (format error) when DE70 is missing.
// It returns nil when req is not an 0800.
func AnswerNetwork(req *iso8583.Message) *iso8583.Message {
	if req == nil || req.MTI != iso8583.NetworkRequest {
		return nil
	}
	resp := iso8583.New(iso8583.NetworkResponse)
	resp.Copy(req, iso8583.DETransmission, iso8583.DESTAN, iso8583.DEAcquirer, iso8583.DETerminal, iso8583.DENetworkCode)
	rc := iso8583.Approved
	switch code, ok := req.String(iso8583.DENetworkCode); {
	case !ok:
		rc = iso8583.FormatError
	case iso8583.NetworkCode(code) != iso8583.SignOn && iso8583.NetworkCode(code) != iso8583.SignOff && iso8583.NetworkCode(code) != iso8583.EchoTest:
		rc = iso8583.FunctionNotSupported
	}
	_ = resp.SetResponseCode(rc)
	return resp
}

// EchoHandler is the bare round-trip baseline: it answers every 0100, 0200
// and 0400 (and their repeats) with the response MTI, DE11, DE41 and DE37
// echoed and DE39 00, with no business logic; 0800 as AnswerNetwork does;
// any other request with DE39 40. It returns nil (no answer) for a message
// that is not a request.
func EchoHandler(_ context.Context, req *iso8583.Message) *iso8583.Message {
	mti, err := req.MTI.Response()
	if err != nil {
		return nil
	}
	if req.MTI.Class() == '8' {
		return AnswerNetwork(req)
	}
	resp := iso8583.New(mti)
	resp.Copy(req, iso8583.DESTAN, iso8583.DETerminal, iso8583.DERRN)
	switch req.MTI {
	case iso8583.AuthorizationRequest, iso8583.AuthorizationRequestRepeat, iso8583.FinancialRequest, "0201",
		iso8583.ReversalRequest, iso8583.ReversalRequestRepeat:
		_ = resp.SetResponseCode(iso8583.Approved)
	default:
		_ = resp.SetResponseCode(iso8583.FunctionNotSupported)
	}
	return resp
}
