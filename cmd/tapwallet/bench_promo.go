package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/platform"
	"github.com/tapwallet/tapwallet/promo"
)

// benchCampaignThreshold is the least a bench purchase must be for the
// bench's campaigns: the bench's amounts are 0.01–0.50, evenly, so
// 0.34 and above is a third of its taps (17 of 50 amounts).
const benchCampaignThreshold = "0.34"

// benchCampaigns publishes n campaigns of the network for bench auth
// --campaigns: random ¥0.01–0.20 off a purchase of ¥0.34 or more (a third
// of the bench's taps), each with its own budget, so that every eligible
// authorization ranks all n (a random draw each) and reserves on the one
// whose draw is best — the reservations spread over the campaigns as they
// would over many banks' offers. It returns the campaigns' ids.
func benchCampaigns(ctx context.Context, p *platform.Platform, n int, now time.Time) ([]string, error) {
	st := p.Promotions()
	if st == nil {
		return nil, fmt.Errorf("the platform runs without promotions")
	}
	var b strings.Builder
	b.WriteString(`{"campaigns": [`)
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("bench-%04d", i)
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id": %q, "name": {"zh": "压测立减%d", "en": "bench discount %d"}, "owner": "network",
			"funders": [{"kind": "network", "share_bp": 10000}], "window": {"start": %q, "end": %q}, "channels": ["nfc"],
			"mechanic": {"kind": "random", "min": "0.01", "max": "0.20", "threshold": %q},
			"budget": "1000000.00", "enrolment": "auto", "fulfilment": "instant"}`,
			ids[i], i, i, now.Add(-time.Hour).UTC().Format(time.RFC3339), now.Add(7*24*time.Hour).UTC().Format(time.RFC3339), benchCampaignThreshold)
	}
	b.WriteString(`]}`)
	cs, err := promo.ParseFile(strings.NewReader(b.String()))
	if err != nil {
		return nil, err
	}
	if err := st.Save(ctx, cs); err != nil {
		return nil, err
	}
	p.RefreshPromotions(ctx)
	return ids, nil
}

// benchDiscounted counts the holds the bench's campaigns reserved or
// spent: the authorizations a campaign discounted.
func benchDiscounted(ctx context.Context, p *platform.Platform, ids []string) (int64, error) {
	var n int64
	for _, id := range ids {
		u, err := p.Promotions().Usage(ctx, id)
		if err != nil {
			return 0, err
		}
		n += u.ReservedCount + u.SpentCount
	}
	return n, nil
}
