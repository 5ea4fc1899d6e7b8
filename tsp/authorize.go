package tsp

import (
	"bytes"
	"context"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/keystore"
	"github.com/tapwallet/tapwallet/qpboc"
)

// TokenKeyReader is a Store that reads a token and one of its limited-use
// keys in one go, for Authorize. TokenKey returns the token (failing like
// Store.Token) and the key with that index, nil when the token has none.
type TokenKeyReader interface {
	TokenKey(ctx context.Context, number string, index int) (Token, *LUK, error)
}

// MaxATCJump is how far ahead of the last counter seen a transaction counter
// may be before the token service calls it out of order.
const MaxATCJump = 100

// AuthRequest is what the card network asks the token service to check for
// one authorization: the token from DE2, how the card was read (DE22), and
// the chip data of DE55 as tags.
type AuthRequest struct {
	Token       string
	Contactless bool // POS entry mode 07x: the token's NFC domain
	Chip        map[emv.Tag][]byte
}

// AuthResult is a checked token swapped for its PAN.
type AuthResult struct {
	Token    Token
	PAN      card.PAN
	KeyIndex int
	ATC      int
	// session is the key store's session of the verified cryptogram: it
	// makes the ARPC (the key stays in the key store).
	session keystore.Session
	arqc    []byte
	// arpc makes the ARPC where the key is, for a result that came over
	// the wire (RemoteResult).
	arpc func(arqc, arc []byte) ([]byte, error)
}

// RemoteResult returns r, a result a remote token check received, with its
// ARPC made by arpc: the limited-use key never leaves the token service,
// which makes the ARPC when asked (Service.ARPC).
func RemoteResult(r AuthResult, arpc func(arqc, arc []byte) ([]byte, error)) AuthResult {
	r.session, r.arpc = nil, arpc
	return r
}

// Decline codes (fault codes) of the token check; the network maps each to
// an ISO 8583 response code (docs/iso8583.md).
const (
	DeclineTokenUnknown = "token_unknown"    // 14
	DeclineTokenDeleted = "token_deleted"    // 14
	DeclineSuspended    = "token_suspended"  // 78
	DeclineDomain       = "token_domain"     // 62: not a contactless tap
	DeclineExpired      = "token_expired"    // 54
	DeclineATCReplay    = "atc_replayed"     // 59
	DeclineATCJump      = "atc_out_of_order" // 59
	DeclineKeyUnknown   = "luk_unknown"      // 88
	DeclineKeyUsed      = "luk_used"         // 59
	DeclineKeyExpired   = "luk_expired"      // 88
	DeclineCryptogram   = "arqc_invalid"     // 88
	DeclineCDCVM        = "cdcvm_missing"    // 55
	// DeclineCDCVMConflict: the CTQ (9F6C, not covered by the ARQC) says
	// the opposite of the CVR in the IAD (covered by it) about the
	// fingerprint; the chip data was altered on its way or the card is
	// faulty, so the network cannot say the card holder was verified.
	DeclineCDCVMConflict = "cdcvm_conflict" // 55
	DeclineChipData      = "chip_data"      // 30: DE55 lacks what the check needs
	// DeclineCloned: a genuine cryptogram (it verifies) with a limited-use
	// key or a transaction counter the network already saw used with
	// another cryptogram — two copies of the phone's keys are paying. The
	// token is suspended at once.
	DeclineCloned = "token_cloned" // 59
)

func decline(code, format string, args ...any) error {
	return fault.E(fault.Declined, code, format, args...)
}

// KeyUse is a limited-use key being consumed by an authorization.
type KeyUse struct {
	Token    string
	KeyIndex int
	ATC      int
	At       time.Time
	// Cryptogram is the ARQC the key made, kept so that a second, different
	// cryptogram with the same key or counter shows a cloned phone.
	Cryptogram []byte
}

// authorize checks a token for one authorization — it exists and is active,
// the tap is in its NFC domain, its counter moves forward (not replayed, not
// far ahead), the limited-use key named in the IAD was issued to it and is
// unused and unexpired, the ARQC verifies with that key derived again from
// the issuer master key, and the fingerprint (consumer-device CVM) was
// verified (checkCDCVM) — then consumes the key and returns the PAN.
// Declines are fault.Declined with one of the Decline* codes; nothing is
// consumed then. A genuine cryptogram with a key or counter already used
// with another cryptogram suspends the token (DeclineCloned).
func (s *Service) authorize(ctx context.Context, r AuthRequest) (AuthResult, error) {
	// A store that can read the token and the key the IAD names at once
	// saves a read; the checks below run in the same order either way.
	var key *LUK
	var t Token
	var err error
	iad, iadErr := qpboc.ParseIAD(r.Chip[qpboc.TagIAD]) // read once, checked below in its turn
	kr, prefetch := s.Store.(TokenKeyReader)
	if prefetch = prefetch && iadErr == nil; prefetch {
		t, key, err = kr.TokenKey(ctx, r.Token, int(iad.KeyIndex))
	}
	if !prefetch {
		t, err = s.Store.Token(ctx, r.Token)
	}
	if err != nil {
		if fault.KindOf(err) == fault.NotFound {
			return AuthResult{}, decline(DeclineTokenUnknown, "no such token")
		}
		return AuthResult{}, err
	}
	switch t.State {
	case Suspended:
		return AuthResult{}, decline(DeclineSuspended, "the token is suspended")
	case Deleted:
		return AuthResult{}, decline(DeclineTokenDeleted, "the token was deleted")
	}
	if !r.Contactless || t.Domain != DomainNFC {
		return AuthResult{}, decline(DeclineDomain, "the token may only be used in a contactless tap")
	}
	now := s.Now().UTC()
	if t.Expiry.Expired(now) {
		return AuthResult{}, decline(DeclineExpired, "the token has expired")
	}
	atcB, ok := r.Chip[qpboc.TagATC]
	if !ok || len(atcB) != 2 {
		return AuthResult{}, decline(DeclineChipData, "chip data lacks the transaction counter (9F36)")
	}
	atc := int(atcB[0])<<8 | int(atcB[1])
	if iadErr != nil {
		return AuthResult{}, decline(DeclineChipData, "chip data lacks valid issuer application data (9F10)")
	}
	arqc := r.Chip[qpboc.TagCryptogram]
	if len(arqc) != 8 {
		return AuthResult{}, decline(DeclineChipData, "chip data lacks the cryptogram (9F26)")
	}
	data, err := qpboc.ARQCData(r.Chip)
	if err != nil {
		return AuthResult{}, decline(DeclineChipData, "chip data incomplete for the cryptogram check")
	}
	// A counter already seen or a key already used is declined; when the
	// cryptogram is genuine and differs from the one the network saw, it
	// is the first sign of a cloned phone (see clone.go).
	var seen error
	if atc <= t.LastATC {
		seen = decline(DeclineATCReplay, "transaction counter %d already seen (last %d): replayed cryptogram", atc, t.LastATC)
	}
	if atc > t.LastATC+MaxATCJump {
		return AuthResult{}, decline(DeclineATCJump, "transaction counter %d is far ahead of the last one (%d)", atc, t.LastATC)
	}
	var luk LUK
	switch {
	case prefetch && key == nil:
		err = fault.E(fault.NotFound, "luk_unknown", "no such limited-use key")
	case prefetch:
		luk = *key
	default:
		luk, err = s.Store.LUK(ctx, t.Number.Digits(), int(iad.KeyIndex))
	}
	if err != nil {
		if seen != nil {
			return AuthResult{}, seen
		}
		if fault.KindOf(err) == fault.NotFound {
			return AuthResult{}, decline(DeclineKeyUnknown, "limited-use key %d was never issued to this token", iad.KeyIndex)
		}
		return AuthResult{}, err
	}
	if seen == nil && !luk.UsedAt.IsZero() {
		seen = decline(DeclineKeyUsed, "limited-use key %d was already used", iad.KeyIndex)
	}
	if seen == nil && !now.Before(luk.ExpiresAt) {
		return AuthResult{}, decline(DeclineKeyExpired, "limited-use key %d has expired", iad.KeyIndex)
	}
	alg := emv.TDES
	if iad.CVN == qpboc.CVNSM4 {
		alg = emv.SM4
	}
	sess, err := s.Keys.VerifyARQC(ctx, s.arqcRequest(t, alg, int(iad.KeyIndex), arqc, data))
	good := err == nil
	if err != nil && !fault.Has(err, fault.Declined, keystore.CodeARQC) {
		return AuthResult{}, err
	}
	if seen != nil {
		if good {
			sess.Close()
			return AuthResult{}, s.checkClone(ctx, t, int(iad.KeyIndex), atc, arqc, seen)
		}
		return AuthResult{}, seen
	}
	if !good {
		return AuthResult{}, decline(DeclineCryptogram, "the cryptogram does not verify")
	}
	if err := checkCDCVM(iad, r.Chip); err != nil {
		sess.Close()
		return AuthResult{}, err
	}
	use := KeyUse{Token: t.Number.Digits(), KeyIndex: int(iad.KeyIndex), ATC: atc, At: now, Cryptogram: arqc}
	// Consume the key and move the counter, atomically and only once; a
	// concurrent use of the same key or counter that won is checked as above.
	if err := s.Store.UseKey(ctx, use); err != nil {
		sess.Close()
		if c := fault.CodeOf(err); fault.KindOf(err) == fault.Declined && (c == DeclineKeyUsed || c == DeclineATCReplay) {
			return AuthResult{}, s.checkClone(ctx, t, use.KeyIndex, atc, arqc, err)
		}
		return AuthResult{}, err
	}
	v, err := s.Store.VaultPAN(ctx, t.PANID)
	if err != nil {
		sess.Close()
		return AuthResult{}, err
	}
	panB, err := s.Keys.Open(ctx, v.Sealed, []byte("vault:"+v.ID))
	if err != nil {
		sess.Close()
		return AuthResult{}, err
	}
	pan, err := card.ParsePAN(string(panB))
	clear(panB)
	if err != nil {
		sess.Close()
		return AuthResult{}, fault.E(fault.Internal, "vault_pan", "the vault holds an invalid card number")
	}
	return AuthResult{Token: t, PAN: pan, KeyIndex: int(iad.KeyIndex), ATC: atc, session: sess, arqc: arqc}, nil
}

// ARPC makes the issuer authentication data (tag 91: ARPC method 1 ‖ ARC)
// for the answer to the phone, in the cryptogram's algorithm (TDES or
// SM4), with the key store's session of the authorization, and then
// closes the session. It fails if the ARC is not 2 bytes.
func (r *AuthResult) ARPC(arqc, arc []byte) ([]byte, error) {
	if r.session == nil && r.arpc != nil {
		f := r.arpc
		r.arpc = nil
		return f(arqc, arc)
	}
	if r.session == nil {
		return nil, fault.E(fault.Internal, "arpc_key", "no key to make the ARPC")
	}
	sess := r.session
	r.session = nil
	defer sess.Close()
	if r.arqc != nil && !bytes.Equal(arqc, r.arqc) {
		return nil, fault.E(fault.Forbidden, "arpc_refused", "an ARPC is made only for the cryptogram that was verified")
	}
	out, err := sess.ARPC1(context.Background(), arc)
	if err != nil {
		return nil, fault.Wrap(err, fault.Invalid, "arpc", "cannot make the ARPC")
	}
	return append(out, arc...), nil
}

// Forget drops the authorization's key session without making an ARPC.
func (r *AuthResult) Forget() {
	if r.session != nil {
		r.session.Close()
	}
	r.session, r.arpc = nil, nil
}

// arqcRequest is the key store's request for a token's cryptogram, made
// with the limited-use key of index keyIndex (the PBOC session key with
// the key index in the counter's place), from the root the token was
// issued under.
func (s *Service) arqcRequest(t Token, alg emv.Alg, keyIndex int, arqc, data []byte) keystore.ARQC {
	return keystore.ARQC{Range: IMKName(t.Number.Digits()), Root: t.KeyRoot, Alg: alg, PAN: t.Number.Digits(), PSN: t.PSN,
		Method: keystore.ByCounter, Counter: keyIndex, Data: data, Pad: emv.PadMethod1, ARQC: arqc}
}

// ARPCRequest asks the token service for the ARPC of an authorization it
// checked: the token, the limited-use key it consumed, the cryptogram it
// verified and the issuer's authorization response code (2 bytes).
type ARPCRequest struct {
	Token    string `json:"token"`
	KeyIndex int    `json:"key_index"`
	ARQC     []byte `json:"arqc"`
	ARC      []byte `json:"arc"`
}

// ARPC makes the issuer authentication data (tag 91: ARPC method 1 ‖ ARC)
// of an authorization this token service checked, deriving its
// limited-use key again — for a network in another process (the key stays
// here). Only a key the token service saw consumed with exactly that
// cryptogram gets an ARPC: anything else fails with fault.Forbidden
// "arpc_refused", so the call is no oracle of the keys. It fails with
// fault.Invalid "arpc" for an ARC that is not 2 bytes, and with the store's
// or key store's errors.
func (s *Service) ARPC(ctx context.Context, r ARPCRequest) ([]byte, error) {
	k, err := s.Store.LUK(ctx, r.Token, r.KeyIndex)
	if fault.KindOf(err) == fault.NotFound || err == nil && (k.UsedAt.IsZero() || len(r.ARQC) != 8 || !bytes.Equal(k.UsedARQC, r.ARQC)) {
		return nil, fault.E(fault.Forbidden, "arpc_refused", "no authorization with that key and cryptogram was approved by the token check")
	}
	if err != nil {
		return nil, err
	}
	tok, err := s.Store.Token(ctx, r.Token)
	if err != nil {
		return nil, err
	}
	sess, err := s.Keys.ARPCSession(ctx, s.arqcRequest(tok, s.Alg, r.KeyIndex, r.ARQC, nil))
	if err != nil {
		return nil, err
	}
	res := AuthResult{session: sess, arqc: r.ARQC}
	return res.ARPC(r.ARQC, r.ARC)
}

// checkCDCVM decides whether the fingerprint was verified on the phone.
// The card verification results in the IAD (9F10) are the card's own
// answer and are covered by the ARQC, so they decide; the CTQ (9F6C) is a
// copy of that answer that the cryptogram does not cover, and many
// acquirers' DE55 tag lists leave it out. So: no CTQ — the CVR decides; a
// CTQ that says the opposite of the CVR — DeclineCDCVMConflict (55: the
// chip data contradicts itself about the card holder's verification, so
// it is not proven; altered on the way or a faulty card, and the terminal
// decided its CVM on the CTQ); a CTQ that is not 2 bytes — DeclineChipData
// (30); a CVR without the CDCVM — DeclineCDCVM (55).
func checkCDCVM(iad qpboc.IAD, chip map[emv.Tag][]byte) error {
	cvr := iad.CDCVM()
	if ctq, ok := chip[qpboc.TagCTQ]; ok {
		if len(ctq) != 2 {
			return decline(DeclineChipData, "chip data has card transaction qualifiers (9F6C) of %d bytes, want 2", len(ctq))
		}
		if ctqSays := ctq[1]&qpboc.CTQCDCVM != 0; ctqSays != cvr {
			return decline(DeclineCDCVMConflict, "the card transaction qualifiers (9F6C) say the fingerprint was%s verified, the card verification results in 9F10 that the cryptogram covers say it was%s",
				not(!ctqSays), not(!cvr))
		}
	}
	if !cvr {
		return decline(DeclineCDCVM, "the fingerprint was not verified on the phone")
	}
	return nil
}

func not(b bool) string {
	if b {
		return " not"
	}
	return ""
}
