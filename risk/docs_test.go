package risk_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/risk"
)

// TestDocsNameEverything keeps docs/risk.md true: it names every
// attribute (or its S.measure_W pattern) and every default rule.
func TestDocsNameEverything(t *testing.T) {
	b, err := os.ReadFile("../docs/risk.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	windowed := regexp.MustCompile(`^(token|card|phone|merchant)\.(count|sum|declines)_(15m|1h|24h)$`)
	for _, p := range []risk.Point{risk.PointAuthorization, risk.PointBinding, risk.PointTransit} {
		for _, a := range risk.Attributes(p) {
			if windowed.MatchString(a) {
				continue // documented as S.count_W, S.sum_W, S.declines_W
			}
			if !strings.Contains(doc, "`"+a+"`") {
				t.Errorf("docs/risk.md does not name the attribute %s", a)
			}
		}
	}
	for _, r := range risk.Default().Rules {
		if !strings.Contains(doc, "`"+r.ID+"`") {
			t.Errorf("docs/risk.md does not name the default rule %s", r.ID)
		}
	}
}
