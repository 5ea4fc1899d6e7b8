package fault

import "sync/atomic"

// hook is the function Inject calls, if any.
var hook atomic.Pointer[func(point string)]

// SetHook makes Inject call f at every injection point, for tests that
// delay a step, fail it or kill the process between two steps (a crash
// test); nil removes it. It returns a function that restores the hook
// there was before. Production code never sets it.
func SetHook(f func(point string)) (restore func()) {
	var p *func(string)
	if f != nil {
		p = &f
	}
	old := hook.Swap(p)
	return func() { hook.Store(old) }
}

// Inject marks a point between two steps of work that must survive a
// crash (such as "netswitch.issuer_answered": the issuer holds the money,
// the switch has not yet stored its answer). It calls the hook set by
// SetHook, if any, and otherwise costs one atomic load.
func Inject(point string) {
	if f := hook.Load(); f != nil {
		(*f)(point)
	}
}
