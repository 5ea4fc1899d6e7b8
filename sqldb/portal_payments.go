package sqldb

import (
	"context"
	"strings"

	"github.com/tapwallet/tapwallet/netswitch"
)

// TokenAuths returns the card network's authorization records of the
// given tokens, newest first — declines included, which the token check
// did not tie to a phone (the lost-phone portal shows a switched-off
// phone's declined taps with them). It fails with fault.Unavailable.
func (s *SwitchStore) TokenAuths(ctx context.Context, tokens []string, limit int) ([]netswitch.Auth, error) {
	if len(tokens) == 0 {
		return nil, nil
	}
	if limit <= 0 {
		limit = 50
	}
	args := make([]any, 0, len(tokens)+1)
	for _, t := range tokens {
		args = append(args, t)
	}
	args = append(args, limit)
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(tokens)), ", ")
	return s.auths(ctx, "reading a card's payments", `WHERE token IN (`+marks+`) ORDER BY received_at DESC, id DESC LIMIT ?`, args...)
}
