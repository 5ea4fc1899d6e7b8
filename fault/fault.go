// Package fault is tapwallet's one error type: a kind that the edges turn
// into an HTTP status, an ISO 8583 response code or a status word, and a
// message that is always safe to log (no card number, no key, no raw bytes).
package fault

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the edge that reports it.
type Kind string

// The kinds of error. Each maps to one HTTP status in the wallet API.
const (
	Invalid      Kind = "invalid"      // the request is malformed or breaks a rule
	NotFound     Kind = "not_found"    // the thing asked for does not exist (for this caller)
	Conflict     Kind = "conflict"     // the request clashes with current state
	Unauthorized Kind = "unauthorized" // the caller is not authenticated
	Forbidden    Kind = "forbidden"    // the caller may not do this
	Limit        Kind = "limit"        // a limit or throttle was reached
	Declined     Kind = "declined"     // a bank or the network said no
	Unavailable  Kind = "unavailable"  // a dependency did not answer
	Internal     Kind = "internal"     // a bug or an unexpected failure
)

// Error is an error with a kind, a stable machine code and a safe message.
type Error struct {
	Kind    Kind
	Code    string // stable, machine-readable, e.g. "bad_luhn"
	Message string // safe to show and log
	Err     error  // the cause, if any (must itself be safe to log)
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is a *Error with the same Kind and (if set) Code,
// so errors.Is(err, fault.E(fault.NotFound, "", "")) matches any not-found.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Kind == e.Kind && (t.Code == "" || t.Code == e.Code)
}

// E returns a new *Error.
func E(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns a new *Error around a cause.
func Wrap(err error, kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// KindOf returns the kind of err, or Internal when err carries none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// CodeOf returns the code of err, or "internal" when err carries none.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "internal"
}

// MessageOf returns the safe message of err. An error that is not a *Error
// is reported as "internal error": its text may not be safe to show.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Has reports whether err has the given kind and code.
func Has(err error, kind Kind, code string) bool {
	return errors.Is(err, &Error{Kind: kind, Code: code})
}
