package portal

// ConfigOf returns the configuration p was built from (with its
// defaults): the tests build a portal beside the platform's with the
// parts the platform does not pass yet.
func ConfigOf(p *Portal) Config { return p.cfg }
