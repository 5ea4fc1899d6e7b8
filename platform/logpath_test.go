package platform

import "testing"

func TestMaskPath(t *testing.T) {
	for in, want := range map[string]string{
		"/v1/phones/ph_1/cards/6288011234567890/default": "/v1/phones/ph_1/cards/628801******7890/default",
		"/v1/phones/ph_1/cards/6288011234567890123":      "/v1/phones/ph_1/cards/628801*********0123",
		"/v1/phones/ph_12345/cards":                      "/v1/phones/ph_12345/cards",
		"/v1/transit/shanghai/fares":                     "/v1/transit/shanghai/fares",
		"/x/12345678901":                                 "/x/12345678901",
	} {
		if got := maskPath(in); got != want {
			t.Errorf("maskPath(%q) = %q, want %q", in, got, want)
		}
	}
}
