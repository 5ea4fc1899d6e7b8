package fault

import "net/http"

// HTTPStatus is the HTTP status an HTTP edge answers for an error of kind
// k: invalid 400, unauthorized 401, forbidden 403, not found 404,
// conflict 409, declined 422, limit 429, unavailable 503, anything else
// 500. Every HTTP door (the wallet API, the portal, the network–issuer
// links) answers by it, so one kind is one status everywhere.
func HTTPStatus(k Kind) int {
	switch k {
	case Invalid:
		return http.StatusBadRequest
	case Unauthorized:
		return http.StatusUnauthorized
	case Forbidden:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case Declined:
		return http.StatusUnprocessableEntity
	case Limit:
		return http.StatusTooManyRequests
	case Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
