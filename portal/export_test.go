package portal

// ConfigOf returns the configuration p was built from (with its
// defaults): the tests build a portal beside the platform's with the
// parts the platform does not pass yet.
func ConfigOf(p *Portal) Config { return p.cfg }

// HasMessage reports whether lang's catalogue has the message id.
func HasMessage(lang, id string) bool { return newTr(lang, nil).Has(id) }
