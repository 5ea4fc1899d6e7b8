package fault

import "testing"

func TestHTTPStatus(t *testing.T) {
	for k, want := range map[Kind]int{Invalid: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404, Conflict: 409,
		Declined: 422, Limit: 429, Unavailable: 503, Internal: 500, Kind("something new"): 500} {
		if got := HTTPStatus(k); got != want {
			t.Errorf("HTTPStatus(%s): got %d, want %d", k, got, want)
		}
	}
}
