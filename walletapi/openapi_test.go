package walletapi

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// The HTTP API's documents: this API's, and the other parties' doors
// served beside it under /v1 (the transit operators' back office, the
// network's administration).
var apiDocs = []string{"../docs/openapi.yaml", "../docs/openapi-operators.yaml"}

// routeSources are the packages whose handlers the platform mounts on its
// mux under /v1 (platform.handler, newNetwork, newTransit). A package that
// starts serving /v1 routes must be added here: TestOpenAPIRoutesMatchCode
// fails on a documented route that no package serves.
var routeSources = []string{".", "../transit/operatorapi", "../netswitch/adminapi"}

// loadDoc loads and validates an OpenAPI document: valid OpenAPI 3 (the
// YAML itself, every $ref resolved, the schemas), and the house rules:
// servers given, every operation with an operationId and a security
// requirement (its own, or the document's; [] or [{}] for a public one).
func loadDoc(t *testing.T, path string) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		t.Fatalf("%s does not load: %v", path, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("%s is not valid OpenAPI 3: %v", path, err)
	}
	if len(doc.Servers) == 0 {
		t.Errorf("%s: no servers", path)
	}
	ids := map[string]string{}
	for p, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + p
			if op.OperationID == "" {
				t.Errorf("%s: %s has no operationId", path, where)
			} else if other, dup := ids[op.OperationID]; dup {
				t.Errorf("%s: operationId %s of %s is %s's too", path, op.OperationID, where, other)
			}
			ids[op.OperationID] = where
			if op.Security == nil && doc.Security == nil {
				t.Errorf("%s: %s has no security (give [] for a public operation)", path, where)
			}
		}
	}
	return doc
}

// TestOpenAPIValid: each document loads and validates (kin-openapi), with
// servers, operationIds and security on every operation.
func TestOpenAPIValid(t *testing.T) {
	for _, path := range apiDocs {
		t.Run(filepath.Base(path), func(t *testing.T) { loadDoc(t, path) })
	}
}

// TestOpenAPIBreaksOnBogusKeys: the validation catches what broke the
// document before — an unquoted comma inside a YAML flow map makes a bogus
// key of the text after it.
func TestOpenAPIBreaksOnBogusKeys(t *testing.T) {
	bad := `openapi: 3.1.0
info: {title: t, version: "1"}
servers: [{url: "http://127.0.0.1:8080"}]
security: []
paths:
  /v1/x:
    get:
      operationId: x
      responses:
        "200":
          description: ok
          content: {application/json: {schema: {type: object, properties: {pan: {type: string, description: 12-19 digits, Luhn-valid}}}}}
`
	doc, err := openapi3.NewLoader().LoadFromData([]byte(bad))
	if err == nil {
		err = doc.Validate(context.Background())
	}
	if err == nil || !strings.Contains(err.Error(), "Luhn-valid") {
		t.Errorf("a bogus key from an unquoted comma: err = %v, want it named", err)
	}
}

// TestOpenAPIRoutesMatchCode keeps the documents true to the code in both
// directions: every "METHOD /v1/…" route a package of routeSources
// registers is documented with its method under its path, in exactly one
// document, and every documented /v1 operation is served by one of them.
func TestOpenAPIRoutesMatchCode(t *testing.T) {
	documented := map[string]string{} // "GET /v1/…" → document
	for _, path := range apiDocs {
		doc := loadDoc(t, path)
		for p, item := range doc.Paths.Map() {
			for method := range item.Operations() {
				r := method + " " + p
				if other, dup := documented[r]; dup {
					t.Errorf("%s is documented in %s and %s", r, other, path)
				}
				documented[r] = path
			}
		}
	}
	route := regexp.MustCompile(`"([A-Z]+) (/v1/[^"]*)"`)
	served := map[string]string{}
	for _, dir := range routeSources {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range route.FindAllStringSubmatch(string(src), -1) {
				served[m[1]+" "+m[2]] = f
			}
		}
	}
	if len(served) < 30 {
		t.Fatalf("found only %d routes: the scan is broken", len(served))
	}
	var missing, extra []string
	for r, f := range served {
		if _, ok := documented[r]; !ok {
			missing = append(missing, r+" ("+f+")")
		}
	}
	for r, doc := range documented {
		if !strings.Contains(r, " /v1/") {
			continue // /healthz, /readyz, /metrics: the platform's own
		}
		if _, ok := served[r]; !ok {
			extra = append(extra, r+" ("+doc+")")
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, r := range missing {
		t.Errorf("served but not documented: %s", r)
	}
	for _, r := range extra {
		t.Errorf("documented but served by no package of routeSources: %s", r)
	}
	// The platform's own routes.
	for _, r := range []string{"GET /healthz", "GET /readyz", "GET /metrics"} {
		if !slices.Contains(apiDocs, documented[r]) {
			t.Errorf("%s is not documented", r)
		}
	}
}
