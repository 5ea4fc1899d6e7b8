package adminapi_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/clearing"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/netswitch/adminapi"
	"github.com/tapwallet/tapwallet/reqid"
)

// TestFailureLoggedWithRequestID: a clearing that fails is answered 500
// with the request id in the error answer, and its log line carries the
// same id.
func TestFailureLoggedWithRequestID(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(reqid.Handler(slog.NewJSONHandler(&logs, nil)))
	clear := func(ctx context.Context, date string) (clearing.Report, error) {
		return clearing.Report{}, fault.E(fault.Internal, "disk", "the clearing file could not be written")
	}
	h := reqid.Middleware(adminapi.New(clear, "op-secret", log), nil)
	req := httptest.NewRequest("POST", "/v1/admin/clearing?date=2026-12-01", nil)
	req.Header.Set(adminapi.HeaderOperatorToken, "op-secret")
	req.Header.Set(reqid.Header, "admin-test-7")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `"request_id":"admin-test-7"`) {
		t.Fatalf("answer %d %s, want 500 carrying the request id", rec.Code, rec.Body)
	}
	line := logs.String()
	if !strings.Contains(line, `"msg":"network admin: request failed"`) || !strings.Contains(line, `"request_id":"admin-test-7"`) {
		t.Errorf("log %q: want the failure logged with the request id", line)
	}
}
