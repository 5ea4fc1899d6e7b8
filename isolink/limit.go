package isolink

import (
	"log/slog"
	"net"
	"sync"
)

// Default connection limits of a Server (ConnLimits with zero fields).
const (
	DefaultMaxConns          = 1024
	DefaultMaxConnsPerSource = 128
)

// ConnLimits bounds the connections a listener keeps open at once: in total
// and from one source IP address (an acquirer host, or many terminals behind
// one address). Zero means the default; a negative value means no bound.
type ConnLimits struct {
	Total     int // default DefaultMaxConns
	PerSource int // default DefaultMaxConnsPerSource
}

func (l ConnLimits) withDefaults() ConnLimits {
	if l.Total == 0 {
		l.Total = DefaultMaxConns
	}
	if l.PerSource == 0 {
		l.PerSource = DefaultMaxConnsPerSource
	}
	return l
}

// LimitListener returns ln with limits: Accept closes at once (and logs to
// log, nil: discard) every connection beyond them, and returns only those
// within; a connection counts until it is closed. A Server given such a
// listener keeps its limits; given any other listener it applies
// ConnLimits{} (the defaults).
func LimitListener(ln net.Listener, limits ConnLimits, log *slog.Logger) net.Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &limitListener{Listener: ln, limits: limits.withDefaults(), log: log, bySource: map[string]int{}}
}

type limitListener struct {
	net.Listener
	limits ConnLimits
	log    *slog.Logger

	mu       sync.Mutex
	total    int
	bySource map[string]int
}

// Accept returns the next connection within the limits; it closes and logs
// those beyond. It fails as the wrapped listener's Accept does.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		source := sourceOf(conn.RemoteAddr())
		if why, open, limit := l.admit(source); why != "" {
			_ = conn.Close()
			l.log.Warn("isolink: refused a connection: "+why, "source", source, "open", open, "limit", limit)
			continue
		}
		return &limitedConn{Conn: conn, l: l, source: source}, nil
	}
}

// admit counts a new connection from source, or says why not: the limit
// reached, with the connections open and the limit.
func (l *limitListener) admit(source string) (why string, open, limit int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch n := l.bySource[source]; {
	case l.limits.Total > 0 && l.total >= l.limits.Total:
		return "too many connections in total", l.total, l.limits.Total
	case l.limits.PerSource > 0 && n >= l.limits.PerSource:
		return "too many connections from one source address", n, l.limits.PerSource
	}
	l.total++
	l.bySource[source]++
	return "", 0, 0
}

func (l *limitListener) release(source string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.bySource[source]--; l.bySource[source] <= 0 {
		delete(l.bySource, source)
	}
}

// sourceOf is the IP address of a peer (its host without the port).
func sourceOf(a net.Addr) string {
	if a == nil {
		return "?"
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}

// limitedConn is an admitted connection; closing it frees its place.
type limitedConn struct {
	net.Conn
	l      *limitListener
	source string
	once   sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.source) })
	return err
}
