package portal

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/wallet"
)

// Logging in to the portal takes every factor the account has: the
// password and the passkey, or — with no passkey yet — the password and a
// one-time code sent to the account's messages. Only then is a portal
// session opened (never accepted by the wallet API, as the API's sessions
// are never accepted here).
//
// Guessing must not lock the owner out. Password attempts are throttled
// per source address (the guesser's) and per account; and the account
// locks after wallet.MaxFailedLogins wrong passwords in a row. When the
// account is throttled or locked, the portal checks no password first:
// it asks for the second factor first (the passkey, or a one-time code),
// then the password (wallet.Service.VerifyPasswordAfterFactor, which the
// lock does not refuse). A guesser without the second factor never gets a
// password checked; the owner always gets in.

func (p *Portal) loginFailed(w http.ResponseWriter, r *http.Request, code int, email, msg string) {
	v := &view{Title: "page.login", CSRF: p.preToken(w, r), Error: msg, Data: loginView{Email: email, Next: safeNext(r.PostForm.Get("next"))}}
	p.render(w, r, code, "login", v)
}

func (p *Portal) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	src := source(r)
	email := strings.ToLower(strings.TrimSpace(r.PostForm.Get("email")))
	password := r.PostForm.Get("password")
	if len(email) > 254 {
		email = email[:254]
	}
	if ok, wait := p.byIP.Allow(src); !ok {
		p.throttled(w, r, email, "from this address", wait)
		return
	}
	if ok, _ := p.byAccount.Allow(email); !ok {
		p.recordThrottled(r, email, "for this account: asked for the second factor first")
		p.factorFirst(w, r, email)
		return
	}
	a, err := p.cfg.Wallet.VerifyPassword(ctx, email, password, src)
	if err != nil {
		if fault.Has(err, fault.Limit, "login_locked") {
			p.factorFirst(w, r, email)
			return
		}
		if k := fault.KindOf(err); k != fault.Unauthorized && k != fault.Limit {
			p.fail(w, r, nil, err)
			return
		}
		p.loginFailed(w, r, status(fault.KindOf(err)), email, p.tr(r).errText(err))
		return
	}
	p.secondFactor(w, r, a.ID, ceremonyData{PasswordDone: true})
}

// secondFactor starts the log-in's second factor: the passkey when the
// account has one, else a one-time code sent to its messages.
func (p *Portal) secondFactor(w http.ResponseWriter, r *http.Request, accountID string, cd ceremonyData) {
	ctx := r.Context()
	keys, err := p.cfg.Store.Passkeys(ctx, accountID)
	if err != nil {
		p.fail(w, r, nil, err)
		return
	}
	id, now := randomID(), p.now()
	kind, page := CeremonyLogin, "/login/passkey"
	if len(keys) == 0 {
		kind, page = CeremonyLoginCode, "/login/code"
		if !cd.PasswordDone {
			page += "?ask=password"
		}
		code, err := p.sendCode(ctx, p.tr(r), accountID, id, p.tr(r).T("code.login"))
		if err != nil {
			p.fail(w, r, nil, err)
			return
		}
		cd.Code = code
	}
	if err := p.cfg.Store.PutCeremony(ctx, Ceremony{IDHash: p.hashID(id), AccountID: accountID, Kind: kind, Data: cd.encode(), ExpiresAt: now.Add(LoginTTL), CreatedAt: now}); err != nil {
		p.fail(w, r, nil, err)
		return
	}
	p.setCookie(w, r, cookieLogin, id, "/login", LoginTTL)
	http.Redirect(w, r, page, http.StatusSeeOther)
}

// factorFirst answers a log-in for an account that is locked or
// throttled: no password is checked; the second factor comes first. An
// email with no account gets the code page all the same (nothing to
// prove, nothing told).
func (p *Portal) factorFirst(w http.ResponseWriter, r *http.Request, email string) {
	a, err := p.cfg.Wallet.AccountByEmail(r.Context(), email)
	if err != nil {
		if fault.KindOf(err) != fault.NotFound {
			p.fail(w, r, nil, err)
			return
		}
		p.setCookie(w, r, cookieLogin, randomID(), "/login", LoginTTL)
		http.Redirect(w, r, "/login/code?ask=password&locked=1", http.StatusSeeOther)
		return
	}
	p.secondFactor(w, r, a.ID, ceremonyData{})
}

// recordThrottled records a throttled log-in on the account the email
// names, if any (repeats fold into one event).
func (p *Portal) recordThrottled(r *http.Request, email, where string) {
	if a, err := p.cfg.Wallet.AccountByEmail(r.Context(), email); err == nil {
		p.cfg.Wallet.Record(r.Context(), wallet.Event{AccountID: a.ID, Kind: wallet.EventLoginThrottled, Detail: "too many log-in attempts " + where, Source: source(r)})
	}
}

// throttled refuses a log-in attempt over the source's limit, recording it
// on the account named (if there is one).
func (p *Portal) throttled(w http.ResponseWriter, r *http.Request, email, where string, wait time.Duration) {
	p.recordThrottled(r, email, where)
	p.cfg.Log.WarnContext(r.Context(), "portal: log-in throttled", "where", where, "source", source(r))
	secs := int(wait.Seconds()) + 1
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	p.loginFailed(w, r, http.StatusTooManyRequests, email, p.tr(r).N("err.throttled_source", secs))
}

// openSession opens a portal session for an account verified with every
// factor it has, sets its cookie, records the log-in and returns where to
// go next.
func (p *Portal) openSession(w http.ResponseWriter, r *http.Request, accountID, how, next string) (string, error) {
	s, err := p.cfg.Wallet.OpenSession(r.Context(), accountID, wallet.SessionPortal)
	if err != nil {
		return "", err
	}
	p.setCookie(w, r, cookieSession, s.Token, "/", time.Until(s.ExpiresAt))
	p.setCookie(w, r, cookiePre, "", "/", 0)
	p.setCookie(w, r, cookieLogin, "", "/login", 0)
	p.cfg.Wallet.Record(r.Context(), wallet.Event{AccountID: accountID, Kind: wallet.EventLogin, Detail: how, Source: source(r)})
	return next, nil
}

// sendCode makes a six-digit one-time code for a ceremony, puts it in the
// account's messages (standing for an SMS) and returns its keyed hash.
// The message is in the visitor's language (t).
func (p *Portal) sendCode(ctx context.Context, t *tr, accountID, ceremony, purpose string) ([]byte, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "code", "cannot make a one-time code")
	}
	code := fmt.Sprintf("%06d", n.Int64())
	msg := t.T("code.message", "Purpose", purpose, "Code", code, "Minutes", int(CodeTTL.Minutes()))
	id, now := wallet.NewID("otp"), p.now()
	if p.cfg.Messages != nil {
		err = p.cfg.Messages.AddMessage(ctx, tsp.OTPMessage{ID: id, AccountID: accountID, Message: msg, CreatedAt: now})
	} else {
		err = p.cfg.Tokens.Notify(ctx, accountID, msg)
	}
	if err != nil {
		return nil, err
	}
	return p.codeHash(ceremony, code), nil
}

// codeOK reports whether code is the one whose hash a ceremony keeps.
func (p *Portal) codeOK(ceremony, code string, want []byte) bool {
	code = strings.TrimSpace(code)
	return len(code) == 6 && len(want) > 0 && subtle.ConstantTimeCompare(p.codeHash(ceremony, code), want) == 1
}

type loginCodeView struct {
	Code, Password, Locked bool
}

func (p *Portal) loginCodePage(w http.ResponseWriter, r *http.Request) {
	id := cookie(r, cookieLogin)
	if id == "" {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	q := r.URL.Query()
	ask := q.Get("ask")
	v := loginCodeView{Code: ask != "password-only", Password: ask == "password" || ask == "password-only", Locked: q.Get("locked") == "1"}
	p.render(w, r, http.StatusOK, "login_code", &view{Title: "page.confirm", CSRF: p.csrfToken(id), Data: v})
}

// loginCode finishes a log-in waiting for a one-time code, the password,
// or both (whatever the ceremony has not seen proven yet).
func (p *Portal) loginCode(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	src := source(r)
	id := cookie(r, cookieLogin)
	p.setCookie(w, r, cookieLogin, "", "/login", 0)
	again := func(err error) {
		p.loginFailed(w, r, status(fault.KindOf(err)), "", p.tr(r).errText(err))
	}
	c, err := p.takeCeremony(ctx, id, "", CeremonyLoginCode, "")
	if err != nil {
		again(fault.E(fault.Unauthorized, "login_expired", "the code is wrong or the log-in has expired: log in again"))
		return
	}
	cd, err := parseCeremonyData(c.Data)
	if err != nil {
		p.fail(w, r, nil, err)
		return
	}
	how := "portal: password + passkey"
	if !cd.FactorDone {
		how = "portal: password + one-time code"
		if !p.codeOK(id, r.PostForm.Get("code"), cd.Code) {
			p.cfg.Wallet.Record(ctx, wallet.Event{AccountID: c.AccountID, Kind: wallet.EventLoginFailed, Detail: "wrong one-time code", Source: src})
			again(fault.E(fault.Unauthorized, "wrong_code", "the code is wrong or the log-in has expired: log in again"))
			return
		}
	}
	if !cd.PasswordDone {
		if _, err := p.cfg.Wallet.VerifyPasswordAfterFactor(ctx, c.AccountID, r.PostForm.Get("password"), src); err != nil {
			again(err)
			return
		}
	}
	next, err := p.openSession(w, r, c.AccountID, how, "/phones")
	if err != nil {
		p.fail(w, r, nil, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// --- the passkey step ---

func (p *Portal) loginPasskeyPage(w http.ResponseWriter, r *http.Request) {
	id := cookie(r, cookieLogin)
	if id == "" {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	p.render(w, r, http.StatusOK, "login_passkey", &view{Title: "page.passkey", CSRF: p.csrfToken(id), Script: true})
}

func (p *Portal) loginPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := cookie(r, cookieLogin)
	c, err := p.takeCeremony(ctx, id, "", CeremonyLogin, "")
	if err != nil {
		p.setCookie(w, r, cookieLogin, "", "/login", 0)
		p.writeJSONError(w, r, fault.E(fault.Unauthorized, "login_expired", "the log-in has expired: log in again"))
		return
	}
	cd, err := parseCeremonyData(c.Data)
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	opts, err := p.beginAssertion(ctx, c.AccountID, CeremonyLogin, "", id, c.ExpiresAt, ceremonyData{PasswordDone: cd.PasswordDone})
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"options": opts})
}

func (p *Portal) loginPasskeyFinish(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, err := readPasskeyBody(r)
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	id := cookie(r, cookieLogin)
	c, err := p.takeCeremony(ctx, id, "", CeremonyLogin, "")
	p.setCookie(w, r, cookieLogin, "", "/login", 0)
	if err != nil {
		p.writeJSONError(w, r, fault.E(fault.Unauthorized, "login_expired", "the log-in has expired: log in again"))
		return
	}
	cd, err := p.finishAssertion(ctx, c, body.Credential, "log-in", source(r))
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	if !cd.PasswordDone {
		// The passkey came first (the account was locked or throttled):
		// the password now, which the lock does not refuse.
		nid, now := randomID(), p.now()
		if err := p.cfg.Store.PutCeremony(ctx, Ceremony{IDHash: p.hashID(nid), AccountID: c.AccountID, Kind: CeremonyLoginCode,
			Data: ceremonyData{FactorDone: true}.encode(), ExpiresAt: now.Add(LoginTTL), CreatedAt: now}); err != nil {
			p.writeJSONError(w, r, err)
			return
		}
		p.setCookie(w, r, cookieLogin, nid, "/login", LoginTTL)
		writeJSON(w, http.StatusOK, map[string]string{"redirect": "/login/code?ask=password-only"})
		return
	}
	next, err := p.openSession(w, r, c.AccountID, "portal: password + passkey", "/phones")
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect": next})
}
