package clearfile

// Outcome is what became of one record of a clearing file.
type Outcome string

// The outcomes of a record.
const (
	Presented     Outcome = "presented"      // sent to the bank, no answer yet
	Posted        Outcome = "posted"         // the bank posted it now
	AlreadyPosted Outcome = "already_posted" // the bank posted it in an earlier run
	Flagged       Outcome = "flagged"        // the bank did not post it: see the reason
	Credited      Outcome = "credited"       // a refund the bank finds credited to its card holder
)

// Done reports whether the bank accepted the record: posted now or
// before, or a refund found credited.
func (o Outcome) Done() bool { return o == Posted || o == AlreadyPosted || o == Credited }

// Posting is a bank's answer to one record of its clearing file.
type Posting struct {
	Seq     int     `json:"seq"` // the record's sequence number
	Outcome Outcome `json:"outcome"`
	Held    int64   `json:"held"`             // a presentment's hold found at the bank (0 if none)
	Reason  string  `json:"reason,omitempty"` // why it was flagged
}

// Ack is a bank's answer to its clearing file: one Posting per record, in
// the file's order, and the holds whose time ran out that it released
// before posting.
type Ack struct {
	Date     string    `json:"date"`  // the file's business date
	Party    string    `json:"party"` // the bank
	Expired  int       `json:"expired_holds_released"`
	Postings []Posting `json:"postings"`
}
