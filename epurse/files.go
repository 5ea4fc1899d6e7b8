package epurse

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// Short file identifiers of the purse's elementary files.
const (
	SFIPublic     byte = 0x15 // public information (binary, 30 bytes)
	SFIManagement byte = 0x16 // management information (binary, 16 bytes)
	SFITrip       byte = 0x17 // trip record, the CAPP data cache (record 1, 48 bytes)
	SFILog        byte = 0x18 // transaction log (cyclic, 10 records of 23 bytes, 1 = newest)
)

// Sizes of the files and records.
const (
	PublicSize     = 30
	ManagementSize = 16
	TripSize       = 48
	LogRecordSize  = 23
	LogRecords     = 10
)

// China is the time zone of the card's dates and times (UTC+8).
var China = time.FixedZone("CST", 8*3600)

// DateTime returns t in China time as BCD YYYYMMDD hhmmss (7 bytes).
func DateTime(t time.Time) [7]byte {
	var b [7]byte
	if t.IsZero() {
		return b
	}
	s := t.In(China).Format("20060102150405")
	raw, _ := hex.DecodeString(s)
	copy(b[:], raw)
	return b
}

// ParseDateTime reads BCD YYYYMMDD hhmmss (China time). All zeros is the
// zero time. It fails with fault.Invalid "bad_datetime".
func ParseDateTime(b [7]byte) (time.Time, error) {
	if b == ([7]byte{}) {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation("20060102150405", hex.EncodeToString(b[:]), China)
	if err != nil {
		return time.Time{}, fault.E(fault.Invalid, "bad_datetime", "a date and time is not BCD YYYYMMDDhhmmss")
	}
	return t, nil
}

// CardNumber is a transit card's application serial number: 16 digits,
// kept as 8 BCD bytes (area code(4 digits) || product(2) || serial(10)).
type CardNumber [8]byte

// ParseCardNumber reads 16 digits. It fails with fault.Invalid
// "bad_card_number".
func ParseCardNumber(s string) (CardNumber, error) {
	var n CardNumber
	s = strings.TrimSpace(s)
	if len(s) != 16 || strings.Trim(s, "0123456789") != "" {
		return n, fault.E(fault.Invalid, "bad_card_number", "a transit card number is 16 digits")
	}
	raw, _ := hex.DecodeString(s)
	copy(n[:], raw)
	return n, nil
}

// NewCardNumber makes the number of a city's card from its area code and
// a serial number.
func NewCardNumber(areaCode int, serial uint64) CardNumber {
	n, _ := ParseCardNumber(fmt.Sprintf("%04d01%010d", areaCode%10000, serial%10_000_000_000))
	return n
}

// String returns the 16 digits.
func (n CardNumber) String() string { return hex.EncodeToString(n[:]) }

// Valid reports whether every nibble is a digit.
func (n CardNumber) Valid() bool {
	for _, b := range n {
		if b>>4 > 9 || b&0x0F > 9 {
			return false
		}
	}
	return true
}

// Public is the public information file (SFI 15).
type Public struct {
	AreaCode   int        // issuer: the city's area code (BCD, 2 bytes)
	CardType   byte       // 01: anonymous
	Version    byte       // application version
	Number     CardNumber // application serial number
	IssuedOn   time.Time  // date (BCD YYYYMMDD)
	ExpiresOn  time.Time  // date (BCD YYYYMMDD)
	DepositFen int64      // refundable deposit
}

// Marshal returns the 30-byte file: area code(2, BCD) || card type(1) ||
// version(1) || card number(8) || issue date(4) || expiry date(4) ||
// deposit(4) || RFU(6).
func (p Public) Marshal() []byte {
	b := make([]byte, PublicSize)
	ac, _ := hex.DecodeString(fmt.Sprintf("%04d", p.AreaCode%10000))
	copy(b[0:2], ac)
	b[2], b[3] = p.CardType, p.Version
	copy(b[4:12], p.Number[:])
	copy(b[12:16], date(p.IssuedOn))
	copy(b[16:20], date(p.ExpiresOn))
	binary.BigEndian.PutUint32(b[20:24], uint32(p.DepositFen))
	return b
}

func date(t time.Time) []byte {
	d := DateTime(t)
	return d[:4]
}

// ParsePublic reads the public information file. It fails with
// fault.Invalid "bad_public_info".
func ParsePublic(b []byte) (Public, error) {
	var p Public
	if len(b) < PublicSize {
		return p, fault.E(fault.Invalid, "bad_public_info", "the public information is %d bytes, want %d", len(b), PublicSize)
	}
	ac, ok := bcdInt(b[0:2])
	if !ok {
		return p, fault.E(fault.Invalid, "bad_public_info", "the issuer code is not BCD")
	}
	p.AreaCode, p.CardType, p.Version = ac, b[2], b[3]
	copy(p.Number[:], b[4:12])
	if !p.Number.Valid() {
		return p, fault.E(fault.Invalid, "bad_public_info", "the card number is not BCD")
	}
	var err error
	if p.IssuedOn, err = parseDate(b[12:16]); err != nil {
		return p, err
	}
	if p.ExpiresOn, err = parseDate(b[16:20]); err != nil {
		return p, err
	}
	p.DepositFen = int64(binary.BigEndian.Uint32(b[20:24]))
	return p, nil
}

func parseDate(b []byte) (time.Time, error) {
	var dt [7]byte
	copy(dt[:], b)
	if dt == ([7]byte{}) {
		return time.Time{}, nil
	}
	t, err := ParseDateTime(dt)
	if err != nil {
		return t, fault.E(fault.Invalid, "bad_public_info", "a date is not BCD YYYYMMDD")
	}
	return t, nil
}

// LogRecord is one record of the transaction log (SFI 18).
type LogRecord struct {
	ATC       uint16  // the counter of the transaction (offline or online)
	Overdraft uint32  // overdraft limit (3 bytes)
	Amount    uint32  // fen
	Type      byte    // TypeLoad, TypePurchase, TypeCAPP
	Terminal  [6]byte // terminal number
	DateTime  [7]byte // BCD
}

// Marshal returns the 23-byte record: ATC(2) || overdraft limit(3) ||
// amount(4) || type(1) || terminal(6) || date(4) || time(3).
func (r LogRecord) Marshal() []byte {
	b := make([]byte, 0, LogRecordSize)
	b = binary.BigEndian.AppendUint16(b, r.ATC)
	b = append(b, byte(r.Overdraft>>16), byte(r.Overdraft>>8), byte(r.Overdraft))
	b = binary.BigEndian.AppendUint32(b, r.Amount)
	b = append(b, r.Type)
	b = append(b, r.Terminal[:]...)
	return append(b, r.DateTime[:]...)
}

// ParseLogRecord reads a transaction log record. It fails with
// fault.Invalid "bad_log_record".
func ParseLogRecord(b []byte) (LogRecord, error) {
	var r LogRecord
	if len(b) != LogRecordSize {
		return r, fault.E(fault.Invalid, "bad_log_record", "a log record is %d bytes, want %d", len(b), LogRecordSize)
	}
	r.ATC = binary.BigEndian.Uint16(b)
	r.Overdraft = uint32(b[2])<<16 | uint32(b[3])<<8 | uint32(b[4])
	r.Amount = binary.BigEndian.Uint32(b[5:])
	r.Type = b[9]
	copy(r.Terminal[:], b[10:16])
	copy(r.DateTime[:], b[16:23])
	return r, nil
}

// Terminal numbers of tapwallet's gates and load points: line code(2) ||
// station code(2) || device(2). A load made through the wallet has line
// and station 0.
func TerminalNumber(line, station, device uint16) [6]byte {
	var t [6]byte
	binary.BigEndian.PutUint16(t[0:], line)
	binary.BigEndian.PutUint16(t[2:], station)
	binary.BigEndian.PutUint16(t[4:], device)
	return t
}

// TerminalParts splits a terminal number into line, station and device.
func TerminalParts(t [6]byte) (line, station, device uint16) {
	return binary.BigEndian.Uint16(t[0:]), binary.BigEndian.Uint16(t[2:]), binary.BigEndian.Uint16(t[4:])
}

// Trip states kept in the trip record.
const (
	TripNone   byte = 0x00 // not on a journey
	TripInside byte = 0x01 // entered the metro or tapped on a bus charging at tap-off
)

// Trip is the trip record (the CAPP data cache, SFI 17 record 1) that
// tapwallet's gates keep on the card: the open journey, this month's
// spend for the monthly tiers, and the last paid ride for transfers.
type Trip struct {
	State      byte      // TripNone or TripInside
	Mode       byte      // fare.Mode code of the open journey
	Line       uint16    // entry line code
	Station    uint16    // entry station code
	EntryAt    time.Time // entry time
	Terminal   [6]byte   // entry gate's terminal number
	Month      int       // YYYYMM of MonthSpend (0: none)
	MonthSpend int64     // fen spent this month on the tiers' modes
	LastMode   byte      // mode of the last paid ride
	LastAt     time.Time // when the last paid ride was charged
	LastFare   int64     // fen
}

// Marshal returns the 48-byte record: version '01'(1) || state(1) ||
// mode(1) || line(2) || station(2) || entry date-time(7) || entry
// terminal(6) || month YYYYMM(3, BCD) || month spend(4) || last mode(1) ||
// last date-time(7) || last fare(4) || RFU(9).
func (t Trip) Marshal() []byte {
	b := make([]byte, 0, TripSize)
	b = append(b, 0x01, t.State, t.Mode)
	b = binary.BigEndian.AppendUint16(b, t.Line)
	b = binary.BigEndian.AppendUint16(b, t.Station)
	e := DateTime(t.EntryAt)
	b = append(b, e[:]...)
	b = append(b, t.Terminal[:]...)
	m, _ := hex.DecodeString(fmt.Sprintf("%06d", t.Month%1000000))
	b = append(b, m...)
	b = binary.BigEndian.AppendUint32(b, uint32(t.MonthSpend))
	b = append(b, t.LastMode)
	l := DateTime(t.LastAt)
	b = append(b, l[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(t.LastFare))
	return append(b, make([]byte, TripSize-len(b))...)
}

// ParseTrip reads a trip record; an all-zero record (a new card) is the
// zero Trip. It fails with fault.Invalid "bad_trip_record".
func ParseTrip(b []byte) (Trip, error) {
	var t Trip
	if len(b) != TripSize {
		return t, fault.E(fault.Invalid, "bad_trip_record", "a trip record is %d bytes, want %d", len(b), TripSize)
	}
	if b[0] == 0 {
		return t, nil
	}
	if b[0] != 0x01 {
		return t, fault.E(fault.Invalid, "bad_trip_record", "unknown trip record version %d", b[0])
	}
	t.State, t.Mode = b[1], b[2]
	t.Line = binary.BigEndian.Uint16(b[3:])
	t.Station = binary.BigEndian.Uint16(b[5:])
	var dt [7]byte
	var err error
	copy(dt[:], b[7:14])
	if t.EntryAt, err = ParseDateTime(dt); err != nil {
		return t, fault.E(fault.Invalid, "bad_trip_record", "the entry time is not BCD")
	}
	copy(t.Terminal[:], b[14:20])
	month, ok := bcdInt(b[20:23])
	if !ok {
		return t, fault.E(fault.Invalid, "bad_trip_record", "the month is not BCD")
	}
	t.Month = month
	t.MonthSpend = int64(binary.BigEndian.Uint32(b[23:]))
	t.LastMode = b[27]
	copy(dt[:], b[28:35])
	if t.LastAt, err = ParseDateTime(dt); err != nil {
		return t, fault.E(fault.Invalid, "bad_trip_record", "the last ride time is not BCD")
	}
	t.LastFare = int64(binary.BigEndian.Uint32(b[35:]))
	return t, nil
}

// MonthOf returns YYYYMM of t in China time.
func MonthOf(t time.Time) int {
	c := t.In(China)
	return c.Year()*100 + int(c.Month())
}

// bcdInt reads packed BCD digits.
func bcdInt(b []byte) (int, bool) {
	n := 0
	for _, x := range b {
		hi, lo := x>>4, x&0x0F
		if hi > 9 || lo > 9 {
			return 0, false
		}
		n = n*100 + int(hi)*10 + int(lo)
	}
	return n, true
}
