package issuer

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netmsg"
	"github.com/tapwallet/tapwallet/promo/points"
)

// ReversalStore keeps, per bank, the identities of authorizations that were
// reversed before they arrived (a reversal for an unknown original), so that
// a late original is declined rather than approved.
type ReversalStore interface {
	// RememberReversal records an identity; recording it again changes nothing.
	RememberReversal(ctx context.Context, bankID, originalID string, at time.Time) error
	// Reversed returns every identity recorded for the bank.
	Reversed(ctx context.Context, bankID string) ([]string, error)
}

// HostConfig is how to run one bank's issuer host.
type HostConfig struct {
	// Bank is the bank this host is, its entry in the network's directory,
	// and Holders its card-holder file, which only this host reads.
	Bank    *bank.Bank
	Holders *bank.Holders
	// Banks and BankID are a shortcut for tests and tools holding a whole
	// configuration: when Bank is nil, the bank BankID of Banks and its
	// holders.
	Banks  *bank.Config
	BankID string
	Ledger ledger.Store // the bank's ledger (its own wing; account ids carry the bank)
	// Reversals remembers reversals of unknown originals (default: in memory).
	Reversals ReversalStore
	// Refunds keeps the refunds taken and each original's refunded total
	// (default: Reversals when it is a RefundStore too, else in memory).
	Refunds RefundStore
	// Secret keys the card accounts' ids and the auth codes, so that
	// neither reveals anything of a card number. Required.
	Secret []byte
	// HoldTimeout is how long a hold lasts before the expiry sweep releases
	// it (default ledger.HoldTimeout, 7 days).
	HoldTimeout time.Duration
	// PerTransactionLimit declines (61) an amount above it, in minor units
	// (default 5,000,000: ¥50,000.00; negative: no limit).
	PerTransactionLimit int64
	Now                 func() time.Time
	Log                 *slog.Logger
	// Meter, if set, is told the time of the ledger's hold and each
	// authorization's response code (meter.go).
	Meter Meter
	// Programs are the banks' points programmes; the host runs its
	// bank's (default points.DefaultPrograms, docs/promotions.md Points).
	Programs *points.Programs
	// Points keeps the points of the bank's cards (default: in memory,
	// applying the transfers in Ledger).
	Points PointsStore
	// PromotionFunding is what the bank's promotion account (pay with
	// points, statement credits) is opened with, in fen, once (default
	// 100,000,000: ¥1,000,000.00).
	PromotionFunding int64
}

// Host is one bank's issuer host: it answers the network's authorizations
// (0100) and reversals (0400) from its ledger. Each card is an account: a
// debit card's account holds its balance, a credit card's account its
// available credit (funded by the limit). An approval places a two-phase
// hold from the card's account to the bank's settlement account, identified
// by the message identity, so a repeated message finds the hold it already
// placed; a reversal voids it; clearing posts it; the expiry sweep releases
// what nobody cleared.
type Host struct {
	cfg      HostConfig
	bank     *bank.Bank
	cards    map[string]cardAccount // PAN digits → its account
	mu       sync.Mutex
	reversed map[string]bool
	answered map[string]iso8583.ResponseCode // recent decisions, so a repeat gets the same answer
	order    []string                        // answered in order, for eviction
	locks    [256]sync.Mutex                 // one message identity at a time
	mux      *netmsg.Mux                     // decodes requests once and calls authorize, reverse, refund
	program  *points.Program                 // the bank's points programme
	byAcct   map[string]cardAccount          // card account id → its card
	codeMACs sync.Pool                       // *codeMAC: the auth codes' keyed HMACs, kept between approvals
}

// maxAnswered bounds the decisions a host keeps in memory; an approval is
// found again in the ledger (its hold) after that, a decline is decided anew.
const maxAnswered = 100_000

type cardAccount struct {
	holder *bank.Cardholder
	id     string
}

// Ledger account ids of a bank other than its cards'.
func cashAccount(bankID string) string        { return bankID + ":cash" }
func creditLimitAccount(bankID string) string { return bankID + ":credit-limit" }

// NetworkAccount is the id of the network's account at a bank, which
// settlement pays (ledger.CodeNetworkSettlement).
func NetworkAccount(bankID string) string { return bankID + ":network" }

// HoldID is the message identity of an authorization at the issuer and the
// id of its hold in the ledger: the bank, the transmission time (DE7), the
// STAN (DE11) and the terminal (DE41) of the original 0100 — what a
// reversal's DE90 and DE41 name too.
func HoldID(bankID, transmission, stan, terminal string) string {
	return bankID + "|" + transmission + "|" + stan + "|" + terminal
}

// VoidID is the id of the ledger transfer that voids a hold on reversal.
func VoidID(holdID string) string { return "void|" + holdID }

// NewHost opens a bank's issuer host: it creates the bank's accounts in the
// ledger and posts the opening balances and credit limits of its cards,
// once (idempotently, by id), and loads the reversals it remembers. It
// returns a fault.Invalid error for a missing config, secret or unknown
// bank, and the ledger's error when it cannot be reached.
func NewHost(ctx context.Context, cfg HostConfig) (*Host, error) {
	if cfg.Bank == nil && cfg.Banks != nil {
		b, ok := cfg.Banks.BankByID(cfg.BankID)
		if !ok {
			return nil, fault.E(fault.Invalid, "unknown_bank", "no bank %q in the configuration", cfg.BankID)
		}
		cfg.Bank, cfg.Holders = b, cfg.Banks.Holders(b.ID)
	}
	if cfg.Bank == nil || cfg.Holders == nil || cfg.Ledger == nil || len(cfg.Secret) == 0 {
		return nil, fault.E(fault.Invalid, "issuer_config", "an issuer host needs its bank, its card holders, a ledger and a secret")
	}
	if cfg.Holders.Bank() != cfg.Bank.ID {
		return nil, fault.E(fault.Invalid, "issuer_config", "the card holders of %s given to the host of %s", cfg.Holders.Bank(), cfg.Bank.ID)
	}
	b := cfg.Bank
	cfg.BankID = b.ID
	if cfg.Reversals == nil {
		cfg.Reversals = &MemReversals{}
	}
	cfg.Refunds = refundStoreOf(cfg)
	if cfg.HoldTimeout <= 0 {
		cfg.HoldTimeout = ledger.HoldTimeout
	}
	if cfg.PerTransactionLimit == 0 {
		cfg.PerTransactionLimit = 5_000_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Programs == nil {
		ps, err := points.DefaultPrograms()
		if err != nil {
			return nil, err
		}
		cfg.Programs = ps
	}
	if cfg.Points == nil {
		cfg.Points = &MemPoints{Ledger: cfg.Ledger}
	}
	if cfg.PromotionFunding == 0 {
		cfg.PromotionFunding = 100_000_000
	}
	cfg.Log = cfg.Log.With("bank", b.ID)
	h := &Host{cfg: cfg, bank: b, cards: map[string]cardAccount{}, reversed: map[string]bool{}, answered: map[string]iso8583.ResponseCode{},
		program: cfg.Programs.For(b.ID), byAcct: map[string]cardAccount{}}
	h.mux = &netmsg.Mux{Side: netmsg.Issuer, Authorization: h.authorize, Reversal: h.reverse, Refund: h.refund, Log: cfg.Log}
	for _, c := range cfg.Holders.Cards() {
		h.cards[c.PAN.Digits()] = cardAccount{holder: c, id: h.accountID(c)}
		h.byAcct[h.cards[c.PAN.Digits()].id] = h.cards[c.PAN.Digits()]
	}
	if err := h.open(ctx); err != nil {
		return nil, err
	}
	ids, err := cfg.Reversals.Reversed(ctx, b.ID)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		h.reversed[id] = true
	}
	return h, nil
}

// Bank returns the bank this host is.
func (h *Host) Bank() *bank.Bank { return h.bank }

// Holders returns the bank's card holders.
func (h *Host) Holders() *bank.Holders { return h.cfg.Holders }

// Ledger returns the host's ledger.
func (h *Host) Ledger() ledger.Store { return h.cfg.Ledger }

// accountID names a card's account without revealing the card number: the
// bank, the product, the last four digits and a keyed hash of the PAN.
func (h *Host) accountID(c *bank.Cardholder) string {
	m := hmac.New(sha256.New, h.cfg.Secret)
	m.Write([]byte("account|" + c.PAN.Digits()))
	return h.bank.ID + ":" + string(c.Product) + ":" + c.PAN.Last4() + ":" + hex.EncodeToString(m.Sum(nil)[:6])
}

// AccountFor returns the ledger account id of one of the bank's cards; false
// when the bank did not issue it.
func (h *Host) AccountFor(pan card.PAN) (string, bool) {
	a, ok := h.cards[pan.Digits()]
	return a.id, ok
}

// SettlementAccount returns the id of the bank's settlement account, the
// other side of every hold.
func (h *Host) SettlementAccount() string { return h.bank.SettlementAccount }

// open creates the bank's accounts and funds its cards, idempotently.
func (h *Host) open(ctx context.Context) error {
	cur := money.CNY
	id := h.bank.ID
	accounts := []ledger.Account{
		{ID: cashAccount(id), Currency: cur, Code: ledger.CodeBankCash, UserData: id + " cash and reserves"},
		{ID: creditLimitAccount(id), Currency: cur, Code: ledger.CodeCreditLimit, UserData: id + " credit limits granted"},
		{ID: h.bank.SettlementAccount, Currency: cur, Code: ledger.CodeBankSettlement, UserData: id + " position towards the network"},
		{ID: NetworkAccount(id), Currency: cur, Code: ledger.CodeNetworkSettlement, UserData: "the network's account at " + id},
		{ID: h.program.MoneyAccount, Currency: cur, Code: ledger.CodePromotion, Flags: ledger.DebitsMustNotExceedCredits, UserData: id + " promotions: pay with points, statement credits"},
	}
	accounts = append(accounts, h.program.Accounts("")[:3]...) // the points' pool, breakage and redeemed
	funding := []ledger.Transfer{{ID: "open|" + h.program.MoneyAccount, DebitAccountID: cashAccount(id), CreditAccountID: h.program.MoneyAccount,
		Amount: h.cfg.PromotionFunding, Currency: cur, UserData: "promotion budget"}}
	for _, c := range h.cfg.Holders.Cards() {
		a := h.cards[c.PAN.Digits()]
		code, from := ledger.CodeCustomerDebit, cashAccount(id)
		if c.Product == bank.Credit {
			code, from = ledger.CodeCreditLine, creditLimitAccount(id)
		}
		funds := c.Funds()
		if funds.Currency != 0 && funds.Currency != cur {
			return fault.E(fault.Invalid, "issuer_currency", "%s: card ending %s is not in CNY", id, c.PAN.Last4())
		}
		accounts = append(accounts, ledger.Account{ID: a.id, Currency: cur, Code: code, Flags: ledger.DebitsMustNotExceedCredits,
			UserData: string(c.Product) + " card ending " + c.PAN.Last4()})
		if funds.Minor > 0 {
			funding = append(funding, ledger.Transfer{ID: "open|" + a.id, DebitAccountID: from, CreditAccountID: a.id,
				Amount: funds.Minor, Currency: cur, UserData: "opening balance or credit limit"})
		}
	}
	rs, err := h.cfg.Ledger.CreateAccounts(ctx, accounts)
	if err != nil {
		return err
	}
	for i, r := range rs {
		if !r.Applied() {
			return fault.E(fault.Internal, "issuer_accounts", "%s: account %s cannot be created: %s", id, accounts[i].ID, r)
		}
	}
	if len(funding) == 0 {
		return nil
	}
	trs, err := h.cfg.Ledger.CreateTransfers(ctx, funding)
	if err != nil {
		return err
	}
	for i, r := range trs {
		if !r.Applied() {
			// Usually: the configuration changed a balance since the first start.
			h.cfg.Log.Warn("issuer: opening balance not posted", "account", funding[i].CreditAccountID, "result", string(r))
		}
	}
	return nil
}

// Serve answers the network on ln until ctx ends; see isolink.Server.
func (h *Host) Serve(ctx context.Context, ln net.Listener) error {
	s := &isolink.Server{Handler: h.Handle, Log: h.cfg.Log}
	return s.Serve(ctx, ln)
}

// Handle answers one message from the network: 0100/0101 authorizations,
// 0400/0401 reversals, 0200/0201 refunds (refund.go), 0800 network
// management; anything else is answered 40 (function not supported). Each
// request is decoded once, as an issuer reads it (netmsg.Mux: the PAN in
// DE2, the token in DE123); one that lacks an element its type needs, or
// whose DE90 names no authorization, is answered 30. It never fails: every
// problem is an answer with its response code.
func (h *Host) Handle(ctx context.Context, req *iso8583.Message) *iso8583.Message {
	resp := h.mux.Handle(ctx, req)
	if req.MTI == iso8583.AuthorizationRequest || req.MTI == iso8583.AuthorizationRequestRepeat {
		h.meterAnswer(resp)
	}
	return resp
}

// answer returns the response to req with rc; nil if req is not a request.
func answer(req *iso8583.Message, rc iso8583.ResponseCode) *iso8583.Message {
	return netmsg.Answer(req, rc)
}

// lock takes the lock of a message identity (one of h.locks, by the
// identity's FNV-1a hash) and returns it, to be unlocked.
func (h *Host) lock(id string) *sync.Mutex {
	f := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		f = (f ^ uint32(id[i])) * 16777619
	}
	m := &h.locks[f%uint32(len(h.locks))]
	m.Lock()
	return m
}

// authorize decides an 0100: the card is the bank's, not expired, the
// purchase is valid and within the per-transaction limit, and a hold for
// the amount fits the card's balance or available credit.
func (h *Host) authorize(ctx context.Context, a *netmsg.Authorization) *iso8583.Message {
	req, stan := a.Raw, a.STANText()
	id := HoldID(h.bank.ID, a.Transmission, stan, a.Terminal)
	l := h.lock(id)
	defer l.Unlock()

	h.mu.Lock()
	rc, again := h.answered[id]
	h.mu.Unlock()
	reason := DeclineRepeat
	if !again {
		rc, reason = h.decide(ctx, a, id)
		if rc != iso8583.SystemMalfunction {
			h.mu.Lock()
			h.answered[id] = rc
			h.order = append(h.order, id)
			if len(h.order) > maxAnswered {
				delete(h.answered, h.order[0])
				h.order = h.order[1:]
			}
			h.mu.Unlock()
		}
	}
	resp := answer(req, rc)
	if resp != nil && rc.Approved() {
		h.setAuthCode(resp, id)
	}
	if !rc.Approved() {
		h.cfg.Log.Info("issuer: declined", "stan", stan, "rc", string(rc), "reason", reason)
	}
	return resp
}

func (h *Host) decide(ctx context.Context, a *netmsg.Authorization, id string) (iso8583.ResponseCode, Decline) {
	h.mu.Lock()
	gone := h.reversed[id]
	h.mu.Unlock()
	if gone {
		return iso8583.DoNotHonour, DeclineReversedBeforeArrival
	}
	acct, rc, reason := h.cardOf(a.PAN)
	if rc != "" {
		return rc, reason
	}
	if rc, reason, refused := statusDecline(acct.holder); refused {
		return rc, reason
	}
	if acct.holder.Expiry.Expired(h.cfg.Now()) {
		return iso8583.ExpiredCard, DeclineCardExpired
	}
	if !authorizable(a.ProcessingCode) {
		return iso8583.InvalidTransaction, DeclineProcessingCode
	}
	amt := a.Amount
	if rc, reason := amountDecline(amt); rc != "" {
		return rc, reason
	}
	if h.cfg.PerTransactionLimit > 0 && amt.Minor > h.cfg.PerTransactionLimit {
		return iso8583.ExceedsAmountLimit, DeclinePerTransactionLimit
	}
	if !promotionAdds(a.Raw, amt.Minor) {
		return iso8583.FormatError, DeclinePromotionData
	}
	hold := ledger.Hold(id, acct.id, h.bank.SettlementAccount, amt, h.cfg.HoldTimeout, "rrn "+strings.TrimSpace(a.RRN))
	held := time.Now()
	r, err := h.cfg.Ledger.CreateTransfer(ctx, hold)
	h.hop(HopLedgerCommit, held)
	if err != nil {
		h.cfg.Log.Error("issuer: ledger failed", "err", fault.MessageOf(err))
		return iso8583.SystemMalfunction, DeclineLedger
	}
	switch r {
	case ledger.OK, ledger.Exists:
		return iso8583.Approved, ""
	case ledger.ExceedsCredits:
		return iso8583.InsufficientFunds, DeclineInsufficientFunds
	case ledger.ExistsWithDifferentFields:
		return iso8583.DuplicateTransmission, DeclineIdentityReused
	}
	h.cfg.Log.Error("issuer: hold refused", "result", string(r))
	return iso8583.SystemMalfunction, DeclineLedger
}

// AuthCode returns the authorization code (DE38) of an approval: six
// letters and digits derived from the message identity, so a repeated
// message gets the same code.
func (h *Host) AuthCode(id string) string {
	var out [6]byte
	return string(h.appendAuthCode(out[:0], id))
}

// setAuthCode sets DE38 of an approval to the auth code of id, made on
// the stack (SetBytes keeps a copy): no string of its own.
func (h *Host) setAuthCode(resp *iso8583.Message, id string) {
	var out [6]byte
	_ = resp.SetBytes(iso8583.DEAuthID, h.appendAuthCode(out[:0], id))
}

// appendAuthCode appends AuthCode(id)'s six characters to dst.
func (h *Host) appendAuthCode(dst []byte, id string) []byte {
	const alphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
	c, _ := h.codeMACs.Get().(*codeMAC)
	if c == nil {
		c = &codeMAC{mac: hmac.New(sha256.New, h.cfg.Secret)}
	}
	c.mac.Reset()
	c.buf = append(append(c.buf[:0], "authcode|"...), id...)
	c.mac.Write(c.buf)
	c.sum = c.mac.Sum(c.sum[:0])
	for i := range 6 {
		dst = append(dst, alphabet[int(c.sum[i])%len(alphabet)])
	}
	h.codeMACs.Put(c)
	return dst
}

// codeMAC is an HMAC keyed with the host's secret, kept between auth codes
// (Reset takes it back to its keyed start), with its input's and its sum's
// room.
type codeMAC struct {
	mac      hash.Hash
	buf, sum []byte
}

// cardOf finds the bank's card: 14 for a DE2 that is not a card number
// (netmsg leaves it zero) or not a card of this bank.
func (h *Host) cardOf(pan card.PAN) (cardAccount, iso8583.ResponseCode, Decline) {
	if pan.IsZero() {
		return cardAccount{}, iso8583.InvalidCardNumber, DeclineBadPAN
	}
	acct, ok := h.cards[pan.Digits()]
	if !ok {
		return cardAccount{}, iso8583.InvalidCardNumber, DeclineCardNotFound
	}
	return acct, "", ""
}

// amountDecline refuses an amount that is not above zero (netmsg leaves an
// unreadable DE4 or DE49 zero) or not in the bank's currency: 13.
func amountDecline(amt money.Amount) (iso8583.ResponseCode, Decline) {
	if amt.Minor <= 0 {
		return iso8583.InvalidAmount, DeclineAmount
	}
	if amt.Currency != money.CNY {
		return iso8583.InvalidAmount, DeclineCurrency
	}
	return "", ""
}

// reverse answers an 0400: it voids the hold of the original (00), answers
// 00 again for a hold already voided or expired, 12 for one already cleared,
// and 25 for an original it never saw — remembered, so that the original,
// should it still come, is declined.
func (h *Host) reverse(ctx context.Context, r *netmsg.Reversal) *iso8583.Message {
	id := HoldID(h.bank.ID, r.Original.Transmission, r.Original.STAN, r.Terminal)
	l := h.lock(id)
	defer l.Unlock()
	rc := h.reverseHold(ctx, r, id)
	return answer(r.Raw, rc)
}

func (h *Host) reverseHold(ctx context.Context, rev *netmsg.Reversal, id string) iso8583.ResponseCode {
	t, err := CurrentHold(ctx, h.cfg.Ledger, id)
	if fault.KindOf(err) == fault.NotFound {
		if err := h.cfg.Reversals.RememberReversal(ctx, h.bank.ID, id, h.cfg.Now()); err != nil {
			h.cfg.Log.Error("issuer: cannot remember a reversal", "err", fault.MessageOf(err))
			return iso8583.SystemMalfunction
		}
		h.mu.Lock()
		h.reversed[id] = true
		h.mu.Unlock()
		return iso8583.UnableToLocateRecord
	}
	if err != nil {
		h.cfg.Log.Error("issuer: ledger failed", "err", fault.MessageOf(err))
		return iso8583.SystemMalfunction
	}
	if acct, ok := h.cards[rev.PAN.Digits()]; rev.PAN.IsZero() || !ok || acct.id != t.DebitAccountID {
		return iso8583.UnableToLocateRecord
	}
	switch t.Status {
	case ledger.StatusVoided, ledger.StatusExpired:
		return iso8583.Approved
	case ledger.StatusPosted:
		return iso8583.InvalidTransaction
	}
	if rev.Partial && rev.Remaining > 0 {
		// DE95's amount that stays authorised; one that does not read
		// (Remaining -1) reverses all, as a full reversal.
		return h.reduceHold(ctx, id, t, rev.Remaining)
	}
	r, err := h.cfg.Ledger.CreateTransfer(ctx, ledger.Void(VoidID(t.ID), t.ID, "reversal"))
	if err != nil {
		h.cfg.Log.Error("issuer: ledger failed", "err", fault.MessageOf(err))
		return iso8583.SystemMalfunction
	}
	switch r {
	case ledger.OK, ledger.Exists, ledger.PendingTransferAlreadyVoided, ledger.PendingTransferExpired:
		return iso8583.Approved
	case ledger.PendingTransferAlreadyPosted:
		return iso8583.InvalidTransaction
	}
	h.cfg.Log.Error("issuer: void refused", "result", string(r))
	return iso8583.SystemMalfunction
}

// ReducedID is the id of the hold that replaces holdID when a partial
// reversal reduces it: the void of holdID and this new, smaller hold are
// one linked chain, so the card holder gets the reversed part back at once
// and the rest stays held for clearing.
func ReducedID(holdID string) string { return "reduced|" + holdID }

// CurrentHold returns the hold that stands for an authorization now: its
// first hold (holdID), or, after partial reversals, the last of the holds
// that replaced it (ReducedID). It fails with the ledger's fault.NotFound
// when the authorization has no hold, and with the ledger's error.
func CurrentHold(ctx context.Context, l ledger.Store, holdID string) (ledger.Transfer, error) {
	t, err := l.LookupTransfer(ctx, holdID)
	for err == nil && t.Status == ledger.StatusVoided {
		next, nerr := l.LookupTransfer(ctx, ReducedID(t.ID))
		if nerr != nil {
			if fault.KindOf(nerr) == fault.NotFound {
				break
			}
			return ledger.Transfer{}, nerr
		}
		t = next
	}
	return t, err
}

// reduceHold answers a partial reversal of the pending hold t: the hold is
// voided and a hold for the amount that stays authorised (keep) placed in
// its stead, in one linked chain (00). Nothing changes for a keep at or
// above what is held (a repeat: 00); a keep below what the bank already
// refunded of the original is refused (13).
func (h *Host) reduceHold(ctx context.Context, origID string, t ledger.Transfer, keep int64) iso8583.ResponseCode {
	if keep >= t.Amount {
		return iso8583.Approved
	}
	refunded, err := h.cfg.Refunds.Refunded(ctx, h.bank.ID, origID)
	if err != nil {
		h.cfg.Log.Error("issuer: refund store failed", "err", fault.MessageOf(err))
		return iso8583.SystemMalfunction
	}
	if keep < refunded {
		return iso8583.InvalidAmount
	}
	timeout := time.Duration(0)
	if !t.ExpiresAt.IsZero() {
		timeout = max(t.ExpiresAt.Sub(h.cfg.Now()), time.Millisecond)
	}
	void := ledger.Void(VoidID(t.ID), t.ID, "partial reversal")
	void.Flags |= ledger.Linked
	hold := ledger.Hold(ReducedID(t.ID), t.DebitAccountID, t.CreditAccountID, money.New(keep, t.Currency), timeout, t.UserData)
	rs, err := h.cfg.Ledger.CreateTransfers(ctx, []ledger.Transfer{void, hold})
	if err != nil {
		h.cfg.Log.Error("issuer: ledger failed", "err", fault.MessageOf(err))
		return iso8583.SystemMalfunction
	}
	if rs[0].Applied() && rs[1].Applied() {
		return iso8583.Approved
	}
	h.cfg.Log.Error("issuer: partial reversal refused", "void", string(rs[0]), "hold", string(rs[1]))
	return iso8583.SystemMalfunction
}

// MemReversals is a ReversalStore in memory.
type MemReversals struct {
	mu sync.Mutex
	m  map[string]map[string]time.Time
}

// RememberReversal records an identity; it never fails.
func (m *MemReversals) RememberReversal(_ context.Context, bankID, originalID string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]map[string]time.Time{}
	}
	if m.m[bankID] == nil {
		m.m[bankID] = map[string]time.Time{}
	}
	if _, ok := m.m[bankID][originalID]; !ok {
		m.m[bankID][originalID] = at
	}
	return nil
}

// Reversed returns the identities recorded for a bank; it never fails.
func (m *MemReversals) Reversed(_ context.Context, bankID string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for id := range m.m[bankID] {
		out = append(out, id)
	}
	return out, nil
}

// promotionAdds checks the promotion data (DE124) of an 0100, when it
// carries one: it must read (iso8583.ParsePromotionData), and its gross
// (DF61) must be what the bank is asked to hold plus what the funders pay —
// DE4 + Σ DF67 for an instant discount (the bank holds the net), DE4 for a
// statement credit or points (the bank holds the gross, the benefit comes
// after clearing). False answers the 0100 30 (format error).
func promotionAdds(req *iso8583.Message, amount int64) bool {
	if req == nil || !req.Has(iso8583.DEPromotionData) {
		return true
	}
	p, err := req.PromotionData()
	if err != nil {
		return false
	}
	switch p.Fulfilment {
	case iso8583.PromoStatementCredit, iso8583.PromoPoints:
		return p.Gross == amount
	}
	return p.Gross == amount+p.Shares() && p.Shares() == p.Discount
}
