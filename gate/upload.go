package gate

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/transit"
)

// Operator is the operator host's API as a gate uses it: upload clearing
// files, fetch the hot list and the fare table.
type Operator struct {
	URL  string // the platform's base URL
	City string
	HTTP *http.Client
}

func (o *Operator) client() *http.Client {
	if o.HTTP != nil {
		return o.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}

func (o *Operator) do(ctx context.Context, method, path, ctype string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(o.URL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return fault.Wrap(err, fault.Invalid, "bad_server", "bad operator URL")
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := o.client().Do(req)
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "operator_down", "the operator at %s does not answer", o.URL)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "operator_down", "reading the operator's answer")
	}
	if resp.StatusCode >= 400 {
		var eb struct {
			Error struct{ Kind, Code, Message string } `json:"error"`
		}
		if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
			return fault.E(fault.Kind(eb.Error.Kind), eb.Error.Code, "%s", eb.Error.Message)
		}
		return fault.E(fault.Unavailable, "operator_error", "the operator answered %s", resp.Status)
	}
	if out != nil && json.Unmarshal(b, out) != nil {
		return fault.E(fault.Internal, "bad_answer", "the operator's answer is not the expected JSON")
	}
	return nil
}

// Upload sends a clearing file and returns the operator's receipt. It
// fails with fault.Unavailable if the operator cannot be reached, or the
// operator's error.
func (o *Operator) Upload(ctx context.Context, f transit.File) (transit.Receipt, error) {
	var rc transit.Receipt
	b, err := f.Marshal()
	if err != nil {
		return rc, err
	}
	err = o.do(ctx, "POST", "/v1/transit/"+o.City+"/clearing", "text/plain", b, &rc)
	return rc, err
}

// HotList fetches the operator's hot list. Errors are as for Upload.
func (o *Operator) HotList(ctx context.Context) (transit.HotList, error) {
	var h transit.HotList
	err := o.do(ctx, "GET", "/v1/transit/"+o.City+"/hotlist", "", nil, &h)
	return h, err
}

// FareTable fetches the operator's fare table: its version and the city's
// rules as JSON. Errors are as for Upload.
func (o *Operator) FareTable(ctx context.Context) (transit.FareTable, error) {
	var ft transit.FareTable
	err := o.do(ctx, "GET", "/v1/transit/"+o.City+"/fares", "", nil, &ft)
	return ft, err
}

// Sweep turns pending transactions older than after into grey records
// (the card never came back to settle them), so that they are uploaded.
// It returns how many it turned.
func (g *Gate) Sweep(after time.Duration) (int, error) {
	now := g.cfg.Now()
	n := 0
	for _, p := range g.cfg.Journal.Pending() {
		if now.Sub(p.At) < after {
			continue
		}
		r := p.Record
		r.Status = transit.StatusGrey
		if err := g.cfg.Journal.Finalise(p.ID, r); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Upload sends the journal's finalised records to the operator in files
// of at most batch records, marking each file's records sent once the
// operator has it. A file's id is made of the gate's terminal number and
// its first and last journal ids, so a retried upload is recognised. It
// returns the records sent and the receipts.
func (g *Gate) Upload(ctx context.Context, op *Operator, batch int) (int, []transit.Receipt, error) {
	if batch <= 0 {
		batch = 500
	}
	sent := 0
	var receipts []transit.Receipt
	for {
		ids, recs := g.cfg.Journal.Unsent(batch)
		if len(ids) == 0 {
			return sent, receipts, nil
		}
		term := g.cfg.SAM.Terminal()
		f := transit.File{ID: fmt.Sprintf("%s-%d-%d", hex.EncodeToString(term[:]), ids[0], ids[len(ids)-1]),
			City: g.cfg.City.ID, Terminal: term, Created: g.cfg.Now(), Records: recs}
		rc, err := op.Upload(ctx, f)
		if err != nil {
			return sent, receipts, err
		}
		if err := g.cfg.Journal.MarkSent(ids); err != nil {
			return sent, receipts, err
		}
		sent += len(ids)
		receipts = append(receipts, rc)
	}
}
