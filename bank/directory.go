package bank

import (
	"strconv"

	"github.com/tapwallet/tapwallet/card"
)

// Directory is the network's directory of its banks: each bank's id, names,
// card products and their BIN ranges, token range, settlement account and
// ID&V policy — what the switch, clearing and the token service may see.
// It holds nothing of the card holders (no card number, CVN2, phone or
// balance): each bank's Holders are its own, read only by its issuer host.
// A Directory does not change once made and is safe for concurrent use.
type Directory struct {
	banks []Bank
	idx   *dirIndex // nil: lookups scan the slice
}

// dirIndex makes the directory's lookups fast.
type dirIndex struct {
	bins        map[string]int // BIN -> bank index
	binMin      int
	binMax      int
	banks       map[string]int // id -> bank index
	tokenRanges map[int]int    // token range -> bank index
}

// NewDirectory validates banks as Config.Validate does (with no card
// holders) and returns their directory, which keeps its own copy. It
// returns Validate's fault.Invalid "bad_bank_config" error.
func NewDirectory(banks []Bank) (*Directory, error) {
	c := &Config{Banks: copyBanks(banks)}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Directory{banks: c.Banks, idx: &c.idx.dirIndex}, nil
}

// LoadDirectory reads a bank configuration file (Load) and returns only
// its directory: the card holders it may hold are dropped. It fails like
// Load.
func LoadDirectory(path string) (*Directory, error) {
	c, err := Load(path)
	if err != nil {
		return nil, err
	}
	return c.Directory(), nil
}

// Directory returns the network's directory of c's banks: a copy of the
// banks, without the card holders.
func (c *Config) Directory() *Directory {
	d := &Directory{banks: copyBanks(c.Banks)}
	if c.idx != nil {
		x := c.idx.dirIndex
		d.idx = &x
	}
	return d
}

// view is c's banks as a directory, sharing c's slices (no copy).
func (c *Config) view() *Directory {
	d := &Directory{banks: c.Banks}
	if c.idx != nil {
		d.idx = &c.idx.dirIndex
	}
	return d
}

// copyBanks copies banks and the slices and pointers they hold.
func copyBanks(banks []Bank) []Bank {
	out := make([]Bank, len(banks))
	for i, b := range banks {
		b.Products = append([]Product(nil), b.Products...)
		b.IDV.Checks = append([]Check(nil), b.IDV.Checks...)
		if b.IDV.StepUp != nil {
			s := *b.IDV.StepUp
			b.IDV.StepUp = &s
		}
		out[i] = b
	}
	return out
}

// Banks returns the banks of the directory, in configuration order. The
// caller must not change them.
func (d *Directory) Banks() []Bank { return d.banks }

// IDs returns the ids of the banks, in configuration order.
func (d *Directory) IDs() []string {
	ids := make([]string, len(d.banks))
	for i := range d.banks {
		ids[i] = d.banks[i].ID
	}
	return ids
}

// BankByID returns the bank with the given id, or false if there is none.
func (d *Directory) BankByID(id string) (*Bank, bool) {
	if d.idx != nil {
		i, ok := d.idx.banks[id]
		if !ok {
			return nil, false
		}
		return &d.banks[i], true
	}
	for i := range d.banks {
		if d.banks[i].ID == id {
			return &d.banks[i], true
		}
	}
	return nil, false
}

// BankForBIN returns the bank one of whose product BINs is the longest prefix
// of pan, or false if no bank issues in pan's range.
func (d *Directory) BankForBIN(pan card.PAN) (*Bank, bool) {
	digits := pan.Digits()
	if d.idx != nil {
		for n := min(d.idx.binMax, len(digits)); n >= d.idx.binMin; n-- {
			if i, ok := d.idx.bins[digits[:n]]; ok {
				return &d.banks[i], true
			}
		}
		return nil, false
	}
	best, bestLen := -1, 0
	for i := range d.banks {
		for _, p := range d.banks[i].Products {
			if len(p.BIN) > bestLen && hasPrefix(digits, p.BIN) {
				best, bestLen = i, len(p.BIN)
			}
		}
	}
	if best < 0 {
		return nil, false
	}
	return &d.banks[best], true
}

// BankForTokenRange returns the bank whose token range a token number (or
// just its first six digits) is in, 6288 and the bank's two-digit range, or
// false if the digits are not in any bank's token range.
func (d *Directory) BankForTokenRange(tokenDigits string) (*Bank, bool) {
	if len(tokenDigits) < 6 || !hasPrefix(tokenDigits, TokenBINPrefix) || !allDigits(tokenDigits[4:6]) {
		return nil, false
	}
	r, _ := strconv.Atoi(tokenDigits[4:6])
	if d.idx != nil {
		i, ok := d.idx.tokenRanges[r]
		if !ok {
			return nil, false
		}
		return &d.banks[i], true
	}
	for i := range d.banks {
		if d.banks[i].TokenRange == r {
			return &d.banks[i], true
		}
	}
	return nil, false
}
