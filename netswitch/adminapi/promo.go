package adminapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/promo"
)

// Promotions is what the promotion routes need of the network's campaigns;
// promo.Store (the promo wing) satisfies it.
type Promotions interface {
	Save(ctx context.Context, cs []promo.Campaign) error
	Campaigns(ctx context.Context) ([]promo.Campaign, error)
	SetPaused(ctx context.Context, id string, paused bool) error
	Usage(ctx context.Context, id string) (promo.Usage, error)
}

// usages is what a store offers when it reads every budget at once
// (promo/sqlstore); Report uses it rather than Usage per campaign.
type usages interface {
	Usages(ctx context.Context) ([]promo.Usage, error)
}

// Budget is a campaign's budget in a report and a listing: the fields of
// promo.Usage (fen) and what remains.
type Budget struct {
	promo.Usage
	Remaining int64 `json:"remaining"`
}

// Listed is a campaign in a listing: the fields of a campaign file, plus
// paused, its state (running, paused, ended, not started) and its budget.
type Listed struct {
	promo.Campaign
	Paused bool   `json:"paused"`
	State  string `json:"state"`
	Usage  Budget `json:"usage"`
}

// Campaigns is the answer of GET /v1/admin/promotions.
type Campaigns struct {
	Campaigns []Listed `json:"campaigns"`
}

// Report is the answer of GET /v1/admin/promotions/report.
type Report struct {
	Campaigns []Budget `json:"campaigns"`
}

// Saved is the answer of POST /v1/admin/promotions: the ids saved, in the
// file's order.
type Saved struct {
	Saved []string `json:"saved"`
}

// Paused is the answer of POST /v1/admin/promotions/{id}/pause and
// /resume.
type Paused struct {
	Campaign string `json:"campaign"`
	Paused   bool   `json:"paused"`
}

// maxCampaignFile bounds the body of POST /v1/admin/promotions, as
// promo.ParseFile bounds a file.
const maxCampaignFile = 16 << 20

// WithPromotions adds the campaigns' routes over st, each needing the
// network's operator token, or a bank's (WithBankOperators) for the
// bank's own campaigns only (published, listed, paused, reported):
//
//	POST /v1/admin/promotions              a campaign file, all or none (promo.ParseFile)
//	GET  /v1/admin/promotions[?owner=ID]   the campaigns with their budgets
//	POST /v1/admin/promotions/{id}/pause   no new discount from it
//	POST /v1/admin/promotions/{id}/resume
//	GET  /v1/admin/promotions/report       every campaign's budget
//
// After a save or a pause refresh (if not nil) is called, so the switch
// matches with the campaigns as they now are. A nil st (the platform
// runs without promotions) answers 404 promotions_off.
func WithPromotions(st Promotions, refresh func(context.Context)) Option {
	return func(s *server) {
		off := func(h func(r *http.Request, bank string) (any, error)) func(r *http.Request, bank string) (any, error) {
			if st != nil {
				return h
			}
			return func(*http.Request, string) (any, error) {
				return nil, fault.E(fault.NotFound, "promotions_off", "this platform runs without promotions (Config.PromoOff): no campaigns to publish")
			}
		}
		changed := func(ctx context.Context) {
			if refresh != nil {
				refresh(ctx)
			}
		}
		s.bankHandleFunc("POST /v1/admin/promotions", off(func(r *http.Request, bank string) (any, error) {
			body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxCampaignFile))
			if err != nil {
				return nil, fault.E(fault.Invalid, "promo_campaign", "campaign file: larger than %d MiB or cut short", maxCampaignFile>>20)
			}
			cs, err := promo.ParseFile(bytes.NewReader(body))
			if err != nil {
				return nil, err
			}
			if err := bankMay(r.Context(), st, bank, cs); err != nil {
				return nil, err
			}
			if err := st.Save(r.Context(), cs); err != nil {
				return nil, err
			}
			changed(r.Context())
			out := Saved{Saved: make([]string, len(cs))}
			for i, c := range cs {
				out.Saved[i] = c.ID
			}
			return out, nil
		}))
		s.bankHandleFunc("GET /v1/admin/promotions", off(func(r *http.Request, bank string) (any, error) {
			owner := r.URL.Query().Get("owner")
			if bank != "" {
				owner = bank // a bank's operator sees its own campaigns
			}
			ls, err := List(r.Context(), st, owner, time.Now())
			return Campaigns{ls}, err
		}))
		pause := func(paused bool) func(r *http.Request, bank string) (any, error) {
			return off(func(r *http.Request, bank string) (any, error) {
				id := r.PathValue("id")
				if err := bankOwns(r.Context(), st, bank, id); err != nil {
					return nil, err
				}
				if err := st.SetPaused(r.Context(), id, paused); err != nil {
					return nil, err
				}
				changed(r.Context())
				return Paused{Campaign: id, Paused: paused}, nil
			})
		}
		s.bankHandleFunc("POST /v1/admin/promotions/{id}/pause", pause(true))
		s.bankHandleFunc("POST /v1/admin/promotions/{id}/resume", pause(false))
		s.bankHandleFunc("GET /v1/admin/promotions/report", off(func(r *http.Request, bank string) (any, error) {
			bs, err := BudgetReport(r.Context(), st)
			if bank != "" {
				ls, lerr := List(r.Context(), st, bank, time.Now())
				if lerr != nil {
					return nil, lerr
				}
				bs = bs[:0]
				for _, l := range ls {
					bs = append(bs, l.Usage)
				}
			}
			return Report{bs}, err
		}))
	}
}

// bankMay checks that a bank's operator (bank; "" is the network's, who
// may publish anything) publishes only the bank's own campaigns, funded by
// the bank alone: each campaign's owner is the bank, each funder the bank
// as issuer (by name, or unnamed on a campaign only the bank's cards can
// use — an unnamed issuer is the card's own bank), and no campaign id is
// another owner's. fault.Forbidden promo_not_yours otherwise, nothing
// saved.
func bankMay(ctx context.Context, st Promotions, bank string, cs []promo.Campaign) error {
	if bank == "" {
		return nil
	}
	owners := map[string]string{}
	have, err := st.Campaigns(ctx)
	if err != nil {
		return err
	}
	for _, c := range have {
		owners[c.ID] = c.Owner
	}
	for _, c := range cs {
		if c.Owner != bank {
			return fault.E(fault.Forbidden, "promo_not_yours", "campaign %q: owner %q — %s's operator publishes %s's campaigns only", c.ID, c.Owner, bank, bank)
		}
		if o, ok := owners[c.ID]; ok && o != bank {
			return fault.E(fault.Forbidden, "promo_not_yours", "campaign %q is %s's", c.ID, o)
		}
		onlyOwnCards := len(c.Eligibility.Banks) == 1 && c.Eligibility.Banks[0] == bank
		for _, f := range c.Funders {
			if f.Kind != promo.FunderIssuer || (f.Party != bank && !(f.Party == "" && onlyOwnCards)) {
				return fault.E(fault.Forbidden, "promo_not_yours", "campaign %q: a bank's operator publishes campaigns its bank funds alone (funder %s %q)", c.ID, f.Kind, f.Party)
			}
		}
	}
	return nil
}

// bankOwns checks that a bank's operator (bank; "" the network's) pauses
// or resumes its own campaign: fault.Forbidden promo_not_yours for
// another's (fault.NotFound for none).
func bankOwns(ctx context.Context, st Promotions, bank, id string) error {
	if bank == "" {
		return nil
	}
	cs, err := st.Campaigns(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.ID == id {
			if c.Owner != bank {
				return fault.E(fault.Forbidden, "promo_not_yours", "campaign %q is %s's", id, c.Owner)
			}
			return nil
		}
	}
	return fault.E(fault.NotFound, "promo_no_campaign", "no campaign %q", id)
}

// List returns the campaigns of st (of owner only, when not empty) by id,
// with their state at now and their budgets. It fails like the store.
func List(ctx context.Context, st Promotions, owner string, now time.Time) ([]Listed, error) {
	cs, err := st.Campaigns(ctx)
	if err != nil {
		return nil, err
	}
	bs, err := budgets(ctx, st, cs)
	if err != nil {
		return nil, err
	}
	out := []Listed{}
	for i, c := range cs {
		if owner != "" && c.Owner != owner {
			continue
		}
		state := "running"
		switch {
		case c.Paused:
			state = "paused"
		case now.Before(c.Window.Start):
			state = "not started"
		case !now.Before(c.Window.End):
			state = "ended"
		}
		out = append(out, Listed{Campaign: c, Paused: c.Paused, State: state, Usage: bs[i]})
	}
	return out, nil
}

// BudgetReport returns every campaign's budget, by id. It fails like the
// store.
func BudgetReport(ctx context.Context, st Promotions) ([]Budget, error) {
	cs, err := st.Campaigns(ctx)
	if err != nil {
		return nil, err
	}
	return budgets(ctx, st, cs)
}

// budgets returns the budget of each of cs, in their order.
func budgets(ctx context.Context, st Promotions, cs []promo.Campaign) ([]Budget, error) {
	byID := map[string]promo.Usage{}
	if all, ok := st.(usages); ok {
		us, err := all.Usages(ctx)
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			byID[u.Campaign] = u
		}
	}
	out := make([]Budget, len(cs))
	for i, c := range cs {
		u, ok := byID[c.ID]
		if !ok {
			var err error
			if u, err = st.Usage(ctx, c.ID); err != nil {
				return nil, err
			}
		}
		out[i] = Budget{u, u.Remaining()}
	}
	return out, nil
}
