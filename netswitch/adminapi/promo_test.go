package adminapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/tapwallet/tapwallet/clearing"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/netswitch/adminapi"
	"github.com/tapwallet/tapwallet/promo"
)

const opToken = "op-secret"

// campaign is a campaign of a file: a fixed discount of amount, budget
// 10.00.
func campaign(id, amount string) string {
	return `{"id": "` + id + `", "name": {"zh": "优惠", "en": "Offer ` + id + `"}, "owner": "network",
	  "funders": [{"kind": "network", "share_bp": 10000}],
	  "window": {"start": "2026-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z"}, "channels": ["nfc"],
	  "mechanic": {"kind": "fixed", "amount": "` + amount + `"}, "budget": "10.00", "enrolment": "auto", "fulfilment": "instant"}`
}

func file(cs ...string) string { return `{"campaigns": [` + strings.Join(cs, ",") + `]}` }

// call sends one request to h with token (none when empty) and returns
// the status and the body.
func call(t *testing.T, h http.Handler, method, path, token, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set(adminapi.HeaderOperatorToken, token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

type errAnswer struct {
	Error struct{ Kind, Code, Message string } `json:"error"`
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	return v
}

// promoAPI is the admin routes over a fresh MemStore, counting the
// refreshes.
func promoAPI(t *testing.T) (http.Handler, *promo.MemStore, *int) {
	st := promo.NewMemStore()
	refreshed := new(int)
	h := adminapi.New(nil, opToken, nil, adminapi.WithPromotions(st, func(context.Context) { *refreshed++ }))
	return h, st, refreshed
}

// TestPromotionsNeedTheOperatorToken: every promotion route answers 401
// operator_only without the token or with another, and changes nothing.
func TestPromotionsNeedTheOperatorToken(t *testing.T) {
	h, st, refreshed := promoAPI(t)
	routes := [][2]string{{"POST", "/v1/admin/promotions"}, {"GET", "/v1/admin/promotions"}, {"POST", "/v1/admin/promotions/c1/pause"},
		{"POST", "/v1/admin/promotions/c1/resume"}, {"GET", "/v1/admin/promotions/report"}}
	for _, rt := range routes {
		for _, tok := range []string{"", "op-secreT", opToken + "x"} {
			code, body := call(t, h, rt[0], rt[1], tok, file(campaign("c1", "1.00")))
			if e := decode[errAnswer](t, body); code != http.StatusUnauthorized || e.Error.Code != "operator_only" {
				t.Errorf("%s %s with token %q: got %d %s, want 401 operator_only", rt[0], rt[1], tok, code, body)
			}
		}
	}
	if cs, _ := st.Campaigns(context.Background()); len(cs) != 0 || *refreshed != 0 {
		t.Errorf("refused requests saved %d campaigns, refreshed %d times", len(cs), *refreshed)
	}
	// An empty operator token refuses everyone, even an empty header.
	h = adminapi.New(nil, "", nil, adminapi.WithPromotions(st, nil))
	if code, _ := call(t, h, "GET", "/v1/admin/promotions", "", ""); code != http.StatusUnauthorized {
		t.Errorf("no operator token configured: got %d, want 401", code)
	}
}

// TestPromotionsBadFileSavesNothing: a file with one bad campaign, an
// unknown field, or no JSON is answered 400 promo_campaign naming the
// campaign and the field, as promo.ParseFile does, and saves none.
func TestPromotionsBadFileSavesNothing(t *testing.T) {
	h, st, refreshed := promoAPI(t)
	for _, tc := range []struct{ name, body, want string }{
		{"negative amount", file(campaign("ok", "1.00"), campaign("bad", "-1.00")), `campaign file: campaigns[1]: campaign "bad": mechanic.amount: -1.00 is negative`},
		{"unknown field", file(campaign("ok", "1.00"), strings.Replace(campaign("odd", "1.00"), `"budget"`, `"budjet": "1.00", "budget"`, 1)), `campaigns[1]: unknown field "budjet"`},
		{"not JSON", "campaigns", "campaign file: "},
		{"no campaign", `{"campaigns": []}`, "no campaign in the file"},
	} {
		code, body := call(t, h, "POST", "/v1/admin/promotions", opToken, tc.body)
		e := decode[errAnswer](t, body)
		if code != http.StatusBadRequest || e.Error.Code != "promo_campaign" || !strings.Contains(e.Error.Message, tc.want) {
			t.Errorf("%s: got %d %s, want 400 promo_campaign naming %q", tc.name, code, body, tc.want)
		}
	}
	if cs, _ := st.Campaigns(context.Background()); len(cs) != 0 || *refreshed != 0 {
		t.Errorf("refused files saved %d campaigns, refreshed %d times", len(cs), *refreshed)
	}
}

// TestPromotionsSavePauseListReport: a file saves whole and refreshes the
// switch; pause shows in the listing (paused, state) and refreshes again;
// resume undoes it; an unknown campaign is 404; the report and the
// listing carry the budgets.
func TestPromotionsSavePauseListReport(t *testing.T) {
	h, st, refreshed := promoAPI(t)
	code, body := call(t, h, "POST", "/v1/admin/promotions", opToken, file(campaign("c1", "1.00"), campaign("c2", "2.00")))
	if s := decode[adminapi.Saved](t, body); code != 200 || strings.Join(s.Saved, ",") != "c1,c2" || *refreshed != 1 {
		t.Fatalf("save: got %d %s (refreshed %d), want 200 c1,c2 and one refresh", code, body, *refreshed)
	}
	// A discount reserved on c2 shows in its budget.
	if _, err := st.Reserve(context.Background(), promo.Hold{ID: "h1", Campaign: "c2", Card: "PAR1", Amount: 200,
		At: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	code, body = call(t, h, "POST", "/v1/admin/promotions/c1/pause", opToken, "")
	if p := decode[adminapi.Paused](t, body); code != 200 || p != (adminapi.Paused{Campaign: "c1", Paused: true}) || *refreshed != 2 {
		t.Fatalf("pause: got %d %s (refreshed %d)", code, body, *refreshed)
	}
	code, body = call(t, h, "GET", "/v1/admin/promotions", opToken, "")
	list := decode[adminapi.Campaigns](t, body)
	if code != 200 || len(list.Campaigns) != 2 {
		t.Fatalf("list: got %d %s", code, body)
	}
	c1, c2 := list.Campaigns[0], list.Campaigns[1]
	if c1.ID != "c1" || !c1.Paused || c1.State != "paused" || c2.Paused || c2.State != "running" {
		t.Errorf("list after pausing c1: c1 %v %q, c2 %v %q", c1.Paused, c1.State, c2.Paused, c2.State)
	}
	if c2.Usage.Budget != 1000 || c2.Usage.Reserved != 200 || c2.Usage.Remaining != 800 || c1.Usage.Remaining != 1000 {
		t.Errorf("list budgets: c1 %+v, c2 %+v", c1.Usage, c2.Usage)
	}
	if !strings.Contains(body, `"paused":true`) || !strings.Contains(body, `"mechanic":{"kind":"fixed","amount":"1.00"`) {
		t.Errorf("list is not the campaign file's fields plus paused: %s", body)
	}
	if _, body = call(t, h, "GET", "/v1/admin/promotions?owner=icbc", opToken, ""); strings.TrimSpace(body) != `{"campaigns":[]}` {
		t.Errorf("list of owner icbc: got %s, want none", body)
	}
	code, body = call(t, h, "GET", "/v1/admin/promotions/report", opToken, "")
	rep := decode[adminapi.Report](t, body)
	if code != 200 || len(rep.Campaigns) != 2 || rep.Campaigns[1].Campaign != "c2" || rep.Campaigns[1].Reserved != 200 ||
		rep.Campaigns[1].ReservedCount != 1 || rep.Campaigns[1].Remaining != 800 {
		t.Errorf("report: got %d %s", code, body)
	}
	if code, _ = call(t, h, "POST", "/v1/admin/promotions/c1/resume", opToken, ""); code != 200 {
		t.Fatalf("resume: %d", code)
	}
	if cs, _ := st.Campaigns(context.Background()); cs[0].Paused {
		t.Errorf("c1 still paused after resume")
	}
	code, body = call(t, h, "POST", "/v1/admin/promotions/nope/pause", opToken, "")
	if e := decode[errAnswer](t, body); code != 404 || !strings.Contains(e.Error.Message, `"nope"`) {
		t.Errorf("pause of an unknown campaign: got %d %s, want 404 naming it", code, body)
	}
}

// TestPromotionsOff: without a store (Config.PromoOff) the routes say so
// (404 promotions_off) to the operator; the clearing route is untouched.
func TestPromotionsOff(t *testing.T) {
	h := adminapi.New(nil, opToken, nil, adminapi.WithPromotions(nil, nil))
	for _, path := range []string{"/v1/admin/promotions", "/v1/admin/promotions/report"} {
		code, body := call(t, h, "GET", path, opToken, "")
		if e := decode[errAnswer](t, body); code != 404 || e.Error.Code != "promotions_off" {
			t.Errorf("GET %s: got %d %s, want 404 promotions_off", path, code, body)
		}
	}
	if code, _ := call(t, h, "GET", "/v1/admin/promotions", "", ""); code != 401 {
		t.Errorf("no token: got %d, want 401 before saying promotions are off", code)
	}
	// Without WithPromotions the routes do not exist.
	h = adminapi.New(nil, opToken, nil)
	if code, body := call(t, h, "GET", "/v1/admin/promotions", opToken, ""); code != 404 || !strings.Contains(body, "no_route") {
		t.Errorf("no promotions mounted: got %d %s", code, body)
	}
}

// TestClientAgainstRoutes: the client speaks the routes — the server's
// refusal comes back as the same fault (kind, code, message), a wrong
// token as unauthorized, a server that is not the admin API says so.
func TestClientAgainstRoutes(t *testing.T) {
	h, _, _ := promoAPI(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx := context.Background()
	c := &adminapi.Client{URL: srv.URL + "/", Token: opToken}
	_, err := c.SavePromotions(ctx, []byte(file(campaign("ok", "1.00"), campaign("bad", "-1.00"))))
	_, local := promo.ParseFile(strings.NewReader(file(campaign("ok", "1.00"), campaign("bad", "-1.00"))))
	if !errors.Is(err, promo.ErrInvalid) || err.Error() != local.Error() {
		t.Errorf("bad file: got %v, want %v", err, local)
	}
	if s, err := c.SavePromotions(ctx, []byte(file(campaign("c1", "1.00")))); err != nil || len(s.Saved) != 1 {
		t.Fatalf("save: %+v %v", s, err)
	}
	if err := c.SetPaused(ctx, "c1", true); err != nil {
		t.Fatal(err)
	}
	ls, err := c.Promotions(ctx, "network")
	if err != nil || len(ls) != 1 || !ls[0].Paused || ls[0].Name.EN != "Offer c1" || ls[0].Budget != 1000 {
		t.Fatalf("list: %+v %v", ls, err)
	}
	if err := c.SetPaused(ctx, "zz", false); fault.KindOf(err) != fault.NotFound {
		t.Errorf("resume of an unknown campaign: got %v, want not found", err)
	}
	if bs, err := c.BudgetReport(ctx); err != nil || len(bs) != 1 || bs[0].Remaining != 1000 {
		t.Errorf("report: %+v %v", bs, err)
	}
	bad := &adminapi.Client{URL: srv.URL, Token: "wrong"}
	if _, err := bad.BudgetReport(ctx); fault.CodeOf(err) != "operator_only" {
		t.Errorf("wrong token: got %v, want operator_only", err)
	}
	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()
	if _, err := (&adminapi.Client{URL: other.URL, Token: opToken}).BudgetReport(ctx); fault.KindOf(err) != fault.Unavailable || !strings.Contains(err.Error(), "not the admin API") {
		t.Errorf("not the platform: got %v", err)
	}
}

// bankCampaign is ICBC's campaign id, funded by funders (JSON), for the
// cards of banks (JSON list).
func bankCampaign(id, owner, funders, banks string) string {
	return `{"id": "` + id + `", "name": {"zh": "工行优惠", "en": "ICBC offer"}, "owner": "` + owner + `",
	  "funders": ` + funders + `, "eligibility": {"banks": ` + banks + `},
	  "window": {"start": "2026-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z"}, "channels": ["nfc"],
	  "mechanic": {"kind": "fixed", "amount": "1.00"}, "budget": "10.00", "enrolment": "auto", "fulfilment": "instant"}`
}

// TestBankOperatorsPublishTheirOwn: a bank's operator token
// (WithBankOperators) publishes, lists, pauses and reports its bank's own
// campaigns, funded by its bank alone; another owner, the network or
// another bank as funder, an unnamed issuer on a campaign other banks'
// cards can use (it would make them pay), another owner's campaign id, and
// pausing another's campaign are refused 403 promo_not_yours with nothing
// saved; an unknown token is 401; the clearing route stays the network's.
func TestBankOperatorsPublishTheirOwn(t *testing.T) {
	st := promo.NewMemStore()
	tokens := map[string]string{"icbc-secret": "icbc", "ccb-secret": "ccb"}
	h := adminapi.New(func(context.Context, string) (clearing.Report, error) { return clearing.Report{}, nil }, opToken, nil,
		adminapi.WithBankOperators(func(tok string) (string, bool) { b, ok := tokens[tok]; return b, ok }),
		adminapi.WithPromotions(st, nil))
	ctx := context.Background()
	if code, body := call(t, h, "POST", "/v1/admin/promotions", opToken, file(campaign("net-1", "1.00"))); code != 200 {
		t.Fatalf("the network's campaign: %d %s", code, body)
	}
	own := bankCampaign("icbc-1", "icbc", `[{"kind": "issuer", "party": "icbc", "share_bp": 10000}]`, `[]`)
	if code, body := call(t, h, "POST", "/v1/admin/promotions", "icbc-secret", file(own)); code != 200 {
		t.Fatalf("ICBC's own campaign: %d %s", code, body)
	}
	unnamedOwnCards := bankCampaign("icbc-2", "icbc", `[{"kind": "issuer", "share_bp": 10000}]`, `["icbc"]`)
	if code, body := call(t, h, "POST", "/v1/admin/promotions", "icbc-secret", file(unnamedOwnCards)); code != 200 {
		t.Fatalf("ICBC's campaign for its own cards, its issuer unnamed: %d %s", code, body)
	}
	for name, f := range map[string]string{
		"another owner":         file(bankCampaign("icbc-3", "ccb", `[{"kind": "issuer", "party": "ccb", "share_bp": 10000}]`, `[]`)),
		"the network funds":     file(bankCampaign("icbc-3", "icbc", `[{"kind": "network", "share_bp": 10000}]`, `[]`)),
		"another bank funds":    file(bankCampaign("icbc-3", "icbc", `[{"kind": "issuer", "party": "icbc", "share_bp": 5000}, {"kind": "issuer", "party": "ccb", "share_bp": 5000}]`, `[]`)),
		"unnamed, other cards":  file(bankCampaign("icbc-3", "icbc", `[{"kind": "issuer", "share_bp": 10000}]`, `["icbc", "ccb"]`)),
		"the network's id":      file(bankCampaign("net-1", "icbc", `[{"kind": "issuer", "party": "icbc", "share_bp": 10000}]`, `[]`)),
		"one good, one refused": file(bankCampaign("icbc-4", "icbc", `[{"kind": "issuer", "party": "icbc", "share_bp": 10000}]`, `[]`), bankCampaign("icbc-5", "ccb", `[{"kind": "issuer", "party": "ccb", "share_bp": 10000}]`, `[]`)),
	} {
		code, body := call(t, h, "POST", "/v1/admin/promotions", "icbc-secret", f)
		if e := decode[errAnswer](t, body); code != http.StatusForbidden || e.Error.Code != "promo_not_yours" {
			t.Errorf("%s: got %d %s, want 403 promo_not_yours", name, code, body)
		}
	}
	if cs, _ := st.Campaigns(ctx); len(cs) != 3 {
		t.Fatalf("campaigns stored: %d, want the network's and ICBC's two (nothing of the refused files)", len(cs))
	}
	_, body := call(t, h, "GET", "/v1/admin/promotions", "icbc-secret", "")
	if l := decode[adminapi.Campaigns](t, body); len(l.Campaigns) != 2 || l.Campaigns[0].Owner != "icbc" || l.Campaigns[1].Owner != "icbc" {
		t.Fatalf("ICBC's listing: %s, want its two campaigns only", body)
	}
	_, body = call(t, h, "GET", "/v1/admin/promotions/report", "ccb-secret", "")
	if r := decode[adminapi.Report](t, body); len(r.Campaigns) != 0 {
		t.Fatalf("CCB's report: %s, want none of the others'", body)
	}
	if code, body := call(t, h, "POST", "/v1/admin/promotions/net-1/pause", "icbc-secret", ""); code != http.StatusForbidden {
		t.Fatalf("ICBC pausing the network's campaign: %d %s, want 403", code, body)
	}
	if code, body := call(t, h, "POST", "/v1/admin/promotions/icbc-1/pause", "icbc-secret", ""); code != 200 {
		t.Fatalf("ICBC pausing its own: %d %s", code, body)
	}
	if code, _ := call(t, h, "POST", "/v1/admin/promotions", "abc-secret", file(own)); code != http.StatusUnauthorized {
		t.Fatalf("an unknown token: %d, want 401", code)
	}
	if code, _ := call(t, h, "POST", "/v1/admin/clearing?date=2026-12-06", "icbc-secret", ""); code != http.StatusUnauthorized {
		t.Fatalf("a bank's token on the clearing route: %d, want 401 (the network's operator only)", code)
	}
}
