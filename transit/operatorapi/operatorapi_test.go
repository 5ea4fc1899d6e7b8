package operatorapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/transit"
	"github.com/tapwallet/tapwallet/transit/operatorapi"
)

// TestOpenAPICoversRoutes keeps docs/openapi-operators.yaml true: every
// /v1 route of the operators' doors (this package and the network's
// admin, netswitch/adminapi) is documented under its path with its
// method, and none of them is left in the wallet API's document.
func TestOpenAPICoversRoutes(t *testing.T) {
	read := func(file string) string {
		doc, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return string(doc)
	}
	ops, wallet := read("../../docs/openapi-operators.yaml"), read("../../docs/openapi.yaml")
	route := regexp.MustCompile(`HandleFunc\("([A-Z]+) (/v1/[^"]*)"`)
	var srcs []string
	for _, pattern := range []string{"*.go", "../../netswitch/adminapi/*.go"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			if !strings.HasSuffix(f, "_test.go") {
				srcs = append(srcs, read(f))
			}
		}
	}
	n := 0
	for _, m := range route.FindAllStringSubmatch(strings.Join(srcs, "\n"), -1) {
		n++
		// The path's block: its line, then lines indented deeper, with
		// the method among them.
		block := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(m[2]) + `:\n(?:   .*\n)*?    ` + strings.ToLower(m[1]) + `:`)
		if !block.MatchString(ops) {
			t.Errorf("%s %s is not in docs/openapi-operators.yaml under its path", m[1], m[2])
		}
		if strings.Contains(wallet, "\n  "+m[2]+":\n") {
			t.Errorf("%s %s is still in the wallet API's docs/openapi.yaml", m[1], m[2])
		}
	}
	if n < 6 {
		t.Fatalf("found only %d routes: the scan is broken", n)
	}
}

// operators is a fake of the operators' host.
type operators struct {
	operatorapi.Operators
	settled []string
}

func (o *operators) HotList(_ context.Context, city string) (transit.HotList, error) {
	if city != "shanghai" {
		return transit.HotList{}, fault.E(fault.NotFound, "no_city", "no such city")
	}
	return transit.HotList{City: city, Version: 3, Cards: []string{"3100000000000001"}}, nil
}

func (o *operators) Settle(_ context.Context, city, day string) (transit.Settlement, error) {
	o.settled = append(o.settled, city+" "+day)
	return transit.Settlement{}, nil
}

// TestRoutes: the gates' routes need no token; the operator's need the
// operator token; errors have the house's JSON shape and status.
func TestRoutes(t *testing.T) {
	ops := &operators{}
	srv := httptest.NewServer(operatorapi.New(ops, "s3cret"))
	defer srv.Close()
	call := func(path, token string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if token != "" {
			req.Header.Set(operatorapi.HeaderOperatorToken, token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if st, body := call("/v1/transit/shanghai/hotlist", ""); st != 200 || body["version"] != float64(3) {
		t.Errorf("hot list: got %d %v", st, body)
	}
	if st, body := call("/v1/transit/atlantis/hotlist", ""); st != 404 || body["error"].(map[string]any)["code"] != "no_city" {
		t.Errorf("unknown city: got %d %v, want 404 no_city", st, body)
	}
	if st, body := call("/v1/transit/shanghai/settlement?day=2026-11-26", "wrong"); st != 401 || body["error"].(map[string]any)["code"] != "operator_token" {
		t.Errorf("settlement with a wrong token: got %d %v, want 401 operator_token", st, body)
	}
	if st, _ := call("/v1/transit/shanghai/settlement?day=2026-11-26", "s3cret"); st != 200 || len(ops.settled) != 1 || ops.settled[0] != "shanghai 2026-11-26" {
		t.Errorf("settlement: got %d, settled %v", st, ops.settled)
	}
	if st, _ := call("/v1/transit/shanghai/nothing", ""); st != 404 {
		t.Errorf("unknown route: got %d, want 404", st)
	}
}
