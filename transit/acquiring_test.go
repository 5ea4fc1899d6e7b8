package transit_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	acqsql "github.com/tapwallet/tapwallet/acquirer/sqlstore"
	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/transit"
)

// TestNetworkPaymentsAsAcquirer: the operators' charge goes to the card
// network over ISO 8583 as the city's merchant (MCC 4111, terminal
// TR000021, "SHANGHAI TRANSIT"); a decline is fault.Declined; a charge
// the network does not answer is reversed and fault.Unavailable; an
// authorization for another token or amount is refused before sending.
func TestNetworkPaymentsAsAcquirer(t *testing.T) {
	got := make(chan *iso8583.Message, 10)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &isolink.Server{ShutdownGrace: time.Millisecond, Handler: func(_ context.Context, req *iso8583.Message) *iso8583.Message {
		got <- req
		amt, _ := req.Amount()
		rc := iso8583.Approved
		switch {
		case req.MTI == iso8583.AuthorizationRequest && amt.Minor == 999:
			return nil // lost
		case req.MTI == iso8583.AuthorizationRequest && amt.Minor == 51:
			rc = iso8583.InsufficientFunds
		}
		resp, _ := iso8583.NewResponse(req, rc)
		_ = resp.SetString(iso8583.DEAuthID, "T4111A")
		return resp
	}}
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	defer func() { cancel(); <-done }()

	st, err := acqsql.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	link := acquirer.DialerTo(ln.Addr().String(), 300*time.Millisecond)
	defer link.Close()
	acq, err := acquirer.New(context.Background(), link, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	acq.Timeout, acq.ReversalTimeout = 300*time.Millisecond, time.Second
	pay := &transit.NetworkPayments{Acquirer: acq, Counters: st.Counters, Fares: fare.Default(), CardOnFile: &transit.CardOnFile{}}
	const token = "6288010000000004"
	payment := func(ref string, fen int64, authFen int64, authToken string) transit.Payment {
		m := iso8583.New(iso8583.AuthorizationRequest)
		if err := errors.Join(m.SetString(iso8583.DEPAN, authToken), m.SetString(iso8583.DEProcessingCode, "000000"), m.SetAmount(money.Fen(authFen))); err != nil {
			t.Fatal(err)
		}
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return transit.Payment{Ref: ref, City: "shanghai", Token: token, Amount: fen, Auth: b}
	}

	code, err := pay.Charge(context.Background(), payment("load:1", 5000, 5000, token))
	if err != nil || code != "T4111A" {
		t.Fatalf("charge: got %q, %v", code, err)
	}
	m := <-got
	mcc, _ := m.String(iso8583.DEMCC)
	term, _ := m.String(iso8583.DETerminal)
	name, _ := m.String(iso8583.DEMerchantName)
	if mcc != "4111" || term != "TR000021" || name[:25] != "SHANGHAI TRANSIT         " {
		t.Errorf("the network got MCC %s terminal %s DE43 %q, want 4111, TR000021, SHANGHAI TRANSIT", mcc, term, name)
	}
	if c, err := st.Charge(context.Background(), "load:1"); err != nil || c.Amount != 5000 {
		t.Errorf("the acquirer kept %+v, %v; want the charge of 5000", c, err)
	}
	if _, err := pay.Charge(context.Background(), payment("load:2", 51, 51, token)); !errors.Is(err, fault.E(fault.Declined, "payment_declined", "")) {
		t.Errorf("declined: got %v, want payment_declined", err)
	}
	<-got
	if _, err := pay.Charge(context.Background(), payment("load:3", 999, 999, token)); !errors.Is(err, acquirer.ErrNoAnswer) {
		t.Errorf("no answer: got %v, want acquirer.ErrNoAnswer", err)
	}
	<-got
	if rev := <-got; rev.MTI != iso8583.ReversalRequest {
		t.Errorf("after no answer the network got %s, want the 0400", rev.MTI)
	}
	for _, p := range []transit.Payment{payment("load:4", 100, 100, "6288010000000012"), payment("load:5", 100, 200, token)} {
		if _, err := pay.Charge(context.Background(), p); !errors.Is(err, fault.E(fault.Invalid, "bad_auth", "")) {
			t.Errorf("%s: got %v, want bad_auth", p.Ref, err)
		}
	}
	select {
	case m := <-got:
		t.Errorf("a refused authorization reached the network: %s", m.MTI)
	default:
	}
}
