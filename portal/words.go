package portal

import (
	"regexp"
	"strings"

	"github.com/tapwallet/tapwallet/fault"
)

// Words, not codes: the portal never shows a code (card_expired, bad_luhn,
// portal:acc_…) — each is a message of the catalogues, and what has none
// gets a general sentence of its kind.

// errText is an error in the visitor's language: the catalogue's text for
// its code ("err.<code>"), else the general text of its kind.
func (t *tr) errText(err error) string {
	if c := fault.CodeOf(err); c != "" && t.Has("err."+c) {
		return t.T("err." + c)
	}
	if k := fault.KindOf(err); t.Has("kind." + string(k)) {
		return t.T("kind." + string(k))
	}
	return t.T("kind.internal")
}

// event is the name of a security event's kind.
func (t *tr) event(kind string) string {
	if t.Has("event." + kind) {
		return t.T("event." + kind)
	}
	return t.T("event.other")
}

// decline says why a payment did not go through: the network's reason
// (a token-service or issuer decline code) if the catalogue knows it, else
// the response code's meaning, else a general sentence.
func (t *tr) decline(rc, reason string) string {
	if reason != "" && t.Has("decline."+reason) {
		return t.T("decline." + reason)
	}
	if t.Has("rc." + rc) {
		return t.T("rc." + rc)
	}
	return t.T("rc.other")
}

// actor says who acted: you in the portal, one of your phones, the bank…
func (t *tr) actor(actor, accountID string, names map[string]string) string {
	switch {
	case actor == "":
		return t.T("actor.unknown")
	case actor == "portal:"+accountID || actor == "account:"+accountID:
		return t.T("actor.you")
	case strings.HasPrefix(actor, "phone:"):
		if n, ok := names[strings.TrimPrefix(actor, "phone:")]; ok {
			return t.T("actor.phone", "Name", n)
		}
		return t.T("actor.other_phone")
	case strings.HasPrefix(actor, "portal:"), strings.HasPrefix(actor, "account:"):
		return t.T("actor.other_session")
	case strings.HasPrefix(actor, "recover"), strings.HasPrefix(actor, "system"):
		return t.T("actor.system")
	}
	return t.T("actor.unknown")
}

// detailRules turn the free-text details other parties write into the
// security events into the catalogue's words; a detail no rule matches is
// summed up by its event's kind instead of shown raw.
var detailRules = []struct {
	re *regexp.Regexp
	id string
}{
	{regexp.MustCompile(`^portal: password \+ passkey$`), "detail.login_passkey"},
	{regexp.MustCompile(`^portal: password \+ one-time code$`), "detail.login_code"},
	{regexp.MustCompile(`^wallet API: password$`), "detail.login_api"},
	{regexp.MustCompile(`^wrong password`), "detail.wrong_password"},
	{regexp.MustCompile(`^wrong one-time code`), "detail.wrong_code"},
	{regexp.MustCompile(`^refused unchecked: the account is locked`), "detail.locked"},
	{regexp.MustCompile(`^refused: too many password checks`), "detail.busy"},
	{regexp.MustCompile(`too many .*attempts`), "detail.throttled"},
	{regexp.MustCompile(`^someone tried to sign up`), "detail.signup_taken"},
	{regexp.MustCompile(`^payment with the token ending (\d{4}) declined`), "detail.payment_declined"},
	{regexp.MustCompile(`^token ending (\d{4}) suspended`), "detail.token_suspended"},
	{regexp.MustCompile(`^token ending (\d{4})`), "detail.token"},
	{regexp.MustCompile(`(?i)passkey`), "detail.passkey"},
	{regexp.MustCompile(`waits for the phone's next check-in`), "detail.waits"},
}

// detail is an event's detail in the visitor's language ("" when there is
// nothing more to say than the event's name).
func (t *tr) detail(kind, d string) string {
	if d == "" {
		return ""
	}
	for _, r := range detailRules {
		if m := r.re.FindStringSubmatch(d); m != nil {
			last4 := ""
			if len(m) > 1 {
				last4 = m[1]
			}
			return t.T(r.id, "Last4", last4)
		}
	}
	return ""
}

// rawCode finds what must never reach a page's text: a snake_case code
// (card_expired, bad_luhn), an actor id (portal:acc_…, phone:…), a
// binding or token-service id (bind_…), or a catalogue key left
// untranslated (⟦…⟧, or a dotted key such as err.card_expired).
var rawCode = regexp.MustCompile(`\b[a-z]+_[a-z0-9_]+\b|\b(portal|phone|account):[A-Za-z0-9_]+|\bbind_|⟦|\b(err|kind|event|decline|rc|state|detail|actor|age|nav|page)\.[a-z_]+\b`)

// RawCode returns the first code-like text of s ("" if none): the pages'
// catalogue test fails on it.
func RawCode(s string) string { return rawCode.FindString(s) }
