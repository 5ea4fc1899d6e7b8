package acquirer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/se"
)

// terminalState is what a store terminal keeps across runs, in a file per
// terminal id: the last STAN (DE11) it sent and the last RRN (DE37). A new
// run continues the counters, so neither restarts at 000001.
type terminalState struct {
	STAN iso8583.STAN `json:"stan"`
	RRN  string       `json:"rrn"`
}

// FileCounters are a store terminal's Counters kept in a state file of
// its own (terminal-ID.json in a state folder). Each number is taken under
// an exclusive lock (flock) of the file, read, advanced and written
// durably before it is used, so two processes of one terminal never send
// the same STAN.
type FileCounters struct {
	path string
}

var _ Counters = (*FileCounters)(nil)

// OpenFileCounters returns the counters of terminal in dir, creating dir
// (0700) when it does not exist yet; created reports that. It fails with a
// clear error when dir cannot be made or the file is unreadable or
// damaged.
func OpenFileCounters(dir, terminal string) (c *FileCounters, created bool, err error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, false, fmt.Errorf("terminal state folder %s cannot be made: %w", dir, err)
		}
		created = true
	}
	c = &FileCounters{path: filepath.Join(dir, "terminal-"+FileSafe(terminal)+".json")}
	if _, err := c.read(); err != nil {
		return nil, false, err
	}
	return c, created, nil
}

// FileSafe keeps letters, digits, '-' and '_' of a terminal id and writes
// every other byte as %XX, so that any DE41 (printable ASCII) names one file.
func FileSafe(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		switch ch := id[i]; {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9', ch == '-', ch == '_':
			b.WriteByte(ch)
		default:
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

func (c *FileCounters) read() (terminalState, error) {
	var st terminalState
	b, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("terminal state %s: %w", c.path, err)
	}
	if err := json.Unmarshal(b, &st); err != nil || st.STAN > iso8583.MaxSTAN {
		return st, fmt.Errorf("terminal state %s is damaged (move it away to start the counters again, and expect the network to answer repeated numbers 94)", c.path)
	}
	return st, nil
}

// Next takes the next STAN and, for a new transaction (withRRN), the RRN
// of a transaction at local time t (see RRN). It fails when the state
// cannot be locked, read or written: the terminal must not send a number
// it may send again.
func (c *FileCounters) Next(_ context.Context, t time.Time, withRRN bool) (iso8583.STAN, string, error) {
	unlock, err := se.Lock(c.path, true)
	if err != nil {
		return 0, "", fmt.Errorf("terminal state %s: %w", c.path, err)
	}
	defer unlock()
	st, err := c.read()
	if err != nil {
		return 0, "", err
	}
	st.STAN = st.STAN%iso8583.MaxSTAN + 1
	rrn := ""
	if withRRN {
		rrn = RRN(t, st.STAN)
		st.RRN = rrn
	}
	b, _ := json.Marshal(st)
	if err := se.WriteFile(c.path, append(b, '\n'), "terminal_state", "the terminal state"); err != nil {
		return 0, "", err
	}
	return st.STAN, rrn, nil
}
