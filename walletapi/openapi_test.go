package walletapi

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOpenAPICoversRoutes keeps docs/openapi.yaml true: every /v1 route the
// API registers is documented under its path with its method.
func TestOpenAPICoversRoutes(t *testing.T) {
	doc, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// path → its block of the document
	blocks := map[string]string{}
	var cur string
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "  /") && strings.HasSuffix(line, ":") {
			cur = strings.TrimSuffix(strings.TrimSpace(line), ":")
			continue
		}
		if cur != "" {
			blocks[cur] += line + "\n"
		}
	}
	files, _ := filepath.Glob("*.go")
	route := regexp.MustCompile(`HandleFunc\("([A-Z]+) (/v1/[^"]*)"`)
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, _ := os.ReadFile(f)
		for _, m := range route.FindAllStringSubmatch(string(src), -1) {
			n++
			method, path := strings.ToLower(m[1]), m[2]
			b, ok := blocks[path]
			if !ok {
				t.Errorf("%s %s (%s) is not in docs/openapi.yaml", m[1], path, f)
				continue
			}
			if !strings.Contains(b, "    "+method+":") {
				t.Errorf("%s %s (%s): docs/openapi.yaml documents the path but not the method", m[1], path, f)
			}
		}
	}
	if n < 20 {
		t.Fatalf("found only %d routes: the scan is broken", n)
	}
}
