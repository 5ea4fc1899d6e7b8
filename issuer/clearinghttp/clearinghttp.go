// Package clearinghttp is how the card network hands a bank its clearing
// file when the bank's issuer host runs in another process: the network
// POSTs the file (the text format of docs/iso8583.md, as written to disk)
// to Path on the process hosting the bank, which reads it with the
// validating reader, posts it at the bank (issuer.Host.PostClearing) and
// answers with the bank's Ack as JSON. Both directions carry an
// HMAC-SHA256 of the body under the network–issuer shared secret, so
// neither a file nor an answer can be forged on the way, and the secret
// itself never crosses. Posting a file twice posts it once (the bank's
// posts are idempotent), so the network may simply send it again after a
// failure.
package clearinghttp

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/clearing/clearfile"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/issuer/linkmac"
)

// Path is the route of the clearing files on an issuer process.
const Path = "/clearing/files"

// MACHeader carries the HMAC-SHA256 (hex) of a request's or an answer's
// body under the shared secret.
const MACHeader = "X-Clearing-MAC"

// KeyPurpose is the purpose under which a key store derives the
// network–issuer shared secret (keystore.File.Index(KeyPurpose, "v1")):
// the network and the issuer processes share it when they share the key
// file.
const KeyPurpose = "clearing-link"

// maxFile bounds a clearing file's size (a day of a busy bank).
const maxFile = 256 << 20

// Poster posts a bank's clearing file and answers with what it posted:
// issuer.ClearingHosts for the banks of a process (the same method as
// clearing.Issuers).
type Poster interface {
	PostClearing(ctx context.Context, bankID string, f clearfile.File) (clearfile.Ack, error)
}

// Handler serves Path for the banks of hosts: POST with the file as the
// body and its MAC in MACHeader. It answers 200 with the Ack (JSON, its
// MAC in MACHeader); 401 unauthorized for a missing or wrong MAC; 400
// bad_clearing_file for a file the reader refuses or one of another bank
// than its header's; 503 issuer_unavailable for a bank not hosted here;
// the host's error otherwise — each as {"kind","code","message"}.
func Handler(hosts Poster, secret []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(err error) { linkmac.WriteFault(w, err) }
		body, ok := linkmac.ReadSigned(w, r, linkmac.Door{What: "the clearing file", Path: Path, BadRequest: "bad_clearing_file", MaxBody: maxFile}, secret, MACHeader)
		if !ok {
			return
		}
		f, err := clearfile.Parse(bytes.NewReader(body))
		if err != nil {
			fail(err)
			return
		}
		ack, err := hosts.PostClearing(r.Context(), f.Header.Party, f)
		if err != nil {
			fail(err)
			return
		}
		out, _ := json.Marshal(ack)
		linkmac.WriteSigned(w, MACHeader, secret, out)
	})
}

// Client hands each bank its clearing file (clearing.Issuers): over HTTP
// to the process named in At, else to Local (the hosts of this process).
type Client struct {
	At     map[string]string // bank id → base URL of the issuer process hosting it (http://HOST:PORT)
	Secret []byte            // the network–issuer shared secret
	Local  Poster            // the banks hosted in this process (nil: none)
	HTTP   *http.Client      // nil: a client with a 10-minute timeout
}

var defaultHTTP = &http.Client{Timeout: 10 * time.Minute}

// PostClearing hands f to bankID's host and returns its Ack. It fails with
// fault.Unavailable "issuer_unavailable" for a bank neither in At nor
// Local, or "issuer_unreachable" when the process does not answer; with
// fault.Internal "bad_clearing_ack" for an answer whose MAC does not check
// or that does not decode; and with the host's own error (kind, code and
// message as it sent them).
func (c *Client) PostClearing(ctx context.Context, bankID string, f clearfile.File) (clearfile.Ack, error) {
	base, ok := c.At[bankID]
	if !ok {
		if c.Local == nil {
			return clearfile.Ack{}, fault.E(fault.Unavailable, "issuer_unavailable", "no address for the issuer of %s to post its clearing", bankID)
		}
		return c.Local.PostClearing(ctx, bankID, f)
	}
	body, err := f.Marshal()
	if err != nil {
		return clearfile.Ack{}, err
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	out, err := linkmac.PostSigned(ctx, linkmac.Call{HTTP: hc, URL: strings.TrimSuffix(base, "/") + Path, ContentType: "text/plain",
		Body: body, Secret: c.Secret, Header: MACHeader, MaxAnswer: maxFile, Bank: bankID,
		Unreachable: "issuer_unreachable", BadAnswer: "bad_clearing_ack", Unanswered: "the issuer process of %s did not take its clearing file",
		BrokeOff: "the answer of %s to its clearing file broke off", Unsigned: "the answer of %s to its clearing file does not carry the shared secret's MAC"})
	if err != nil {
		return clearfile.Ack{}, err
	}
	var ack clearfile.Ack
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ack); err != nil {
		return clearfile.Ack{}, fault.E(fault.Internal, "bad_clearing_ack", "the answer of %s to its clearing file does not decode", bankID)
	}
	return ack, nil
}
