// Package attack holds the security audit's attacks on tapwallet as tests:
// each file runs one attack against the real program and asserts that it
// is refused.
package attack
