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

// Flag is why a bank did not post a record of its clearing file: a code
// both sides compare (the words are in Reason).
type Flag string

// Why a record was flagged.
const (
	FlagExceedsHold   Flag = "exceeds_hold"   // a presentment of more than the hold
	FlagNoHold        Flag = "no_hold"        // the issuer holds nothing for the authorization
	FlagHoldExpired   Flag = "hold_expired"   // the hold expired before clearing
	FlagHoldVoided    Flag = "hold_voided"    // the hold was voided (reversed at the issuer)
	FlagClearedOther  Flag = "cleared_other"  // already cleared for another amount
	FlagLedgerRefused Flag = "ledger_refused" // refused by the ledger for another reason
	FlagNoCredit      Flag = "no_credit"      // a refund the issuer holds no credit for
	FlagCreditDiffers Flag = "credit_differs" // a refund the issuer credited for another amount
	// FlagBadSplit is the network's own flag: a refund of a discounted
	// purchase whose split does not balance (the card holder's part
	// negative, or the parts not adding up to what the merchant gives
	// back); it is not presented.
	FlagBadSplit Flag = "bad_promo_split"
)

// Posting is a bank's answer to one record of its clearing file.
type Posting struct {
	Seq     int     `json:"seq"` // the record's sequence number
	Outcome Outcome `json:"outcome"`
	Held    int64   `json:"held"`             // a presentment's hold found at the bank (0 if none)
	Flag    Flag    `json:"flag,omitempty"`   // why it was flagged
	Reason  string  `json:"reason,omitempty"` // the same in words
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
