package emv

// Tags that the payment applet, the terminal kernel and the token service
// refer to by name. The full list of known tags is in the name table below.
const (
	TagAID                   Tag = 0x4F   // Application Identifier (ADF Name)
	TagApplicationLabel      Tag = 0x50   // Application Label
	TagTrack2                Tag = 0x57   // Track 2 Equivalent Data
	TagPAN                   Tag = 0x5A   // Application PAN
	TagCardholderName        Tag = 0x5F20 // Cardholder Name
	TagExpiryDate            Tag = 0x5F24 // Application Expiration Date (YYMMDD)
	TagEffectiveDate         Tag = 0x5F25 // Application Effective Date
	TagIssuerCountry         Tag = 0x5F28 // Issuer Country Code
	TagCurrency              Tag = 0x5F2A // Transaction Currency Code
	TagPSN                   Tag = 0x5F34 // PAN Sequence Number
	TagApplicationTemplate   Tag = 0x61   // Application Template
	TagFCI                   Tag = 0x6F   // File Control Information Template
	TagRecordTemplate        Tag = 0x70   // READ RECORD Response Message Template
	TagIssuerScript1         Tag = 0x71   // Issuer Script Template 1
	TagIssuerScript2         Tag = 0x72   // Issuer Script Template 2
	TagResponseFormat2       Tag = 0x77   // Response Message Template Format 2
	TagResponseFormat1       Tag = 0x80   // Response Message Template Format 1
	TagAIP                   Tag = 0x82   // Application Interchange Profile
	TagCommandTemplate       Tag = 0x83   // Command Template (GPO data)
	TagDFName                Tag = 0x84   // Dedicated File Name
	TagPriority              Tag = 0x87   // Application Priority Indicator
	TagSFI                   Tag = 0x88   // Short File Identifier
	TagARC                   Tag = 0x8A   // Authorisation Response Code
	TagCDOL1                 Tag = 0x8C   // Card Risk Management DOL 1
	TagCDOL2                 Tag = 0x8D   // Card Risk Management DOL 2
	TagCVMList               Tag = 0x8E   // Cardholder Verification Method List
	TagCAPKIndex             Tag = 0x8F   // Certification Authority Public Key Index
	TagIssuerAuthData        Tag = 0x91   // Issuer Authentication Data (ARPC)
	TagAFL                   Tag = 0x94   // Application File Locator
	TagTVR                   Tag = 0x95   // Terminal Verification Results
	TagTransactionDate       Tag = 0x9A   // Transaction Date (YYMMDD)
	TagTSI                   Tag = 0x9B   // Transaction Status Information
	TagTransactionType       Tag = 0x9C   // Transaction Type
	TagAmountAuthorised      Tag = 0x9F02 // Amount, Authorised (Numeric)
	TagAmountOther           Tag = 0x9F03 // Amount, Other (Numeric)
	TagTerminalAID           Tag = 0x9F06 // Application Identifier, terminal
	TagAUC                   Tag = 0x9F07 // Application Usage Control
	TagAppVersionCard        Tag = 0x9F08 // Application Version Number, card
	TagAppVersionTerminal    Tag = 0x9F09 // Application Version Number, terminal
	TagIAD                   Tag = 0x9F10 // Issuer Application Data
	TagIssuerCodeTableIndex  Tag = 0x9F11 // Issuer Code Table Index
	TagPreferredName         Tag = 0x9F12 // Application Preferred Name
	TagTerminalCountry       Tag = 0x9F1A // Terminal Country Code
	TagTrack1Discretionary   Tag = 0x9F1F // Track 1 Discretionary Data
	TagTransactionTime       Tag = 0x9F21 // Transaction Time (HHMMSS)
	TagCryptogram            Tag = 0x9F26 // Application Cryptogram
	TagCID                   Tag = 0x9F27 // Cryptogram Information Data
	TagTerminalCapabilities  Tag = 0x9F33 // Terminal Capabilities
	TagCVMResults            Tag = 0x9F34 // CVM Results
	TagTerminalType          Tag = 0x9F35 // Terminal Type
	TagATC                   Tag = 0x9F36 // Application Transaction Counter
	TagUnpredictableNumber   Tag = 0x9F37 // Unpredictable Number
	TagPDOL                  Tag = 0x9F38 // Processing Options Data Object List
	TagLogEntry              Tag = 0x9F4D // Log Entry
	TagMerchantNameLocation  Tag = 0x9F4E // Merchant Name and Location
	TagOfflineSpendingAmount Tag = 0x9F5D // Available Offline Spending Amount
	TagTTQ                   Tag = 0x9F66 // Terminal Transaction Qualifiers
	TagCTQ                   Tag = 0x9F6C // Card Transaction Qualifiers
	TagFormFactor            Tag = 0x9F6E // Form Factor Indicator
	TagCustomerExclusiveData Tag = 0x9F7C // Customer Exclusive Data
	TagFCIProprietary        Tag = 0xA5   // FCI Proprietary Template
	TagFCIIssuerDiscretion   Tag = 0xBF0C // FCI Issuer Discretionary Data
)

// dataFormat is an EMV data element format, which decides how a value is
// padded or truncated to fit a DOL entry (EMV Book 3 section 5.4).
type dataFormat uint8

const (
	formatB   dataFormat = iota // binary (also the format of unknown tags)
	formatN                     // numeric BCD, right-justified, zero-padded left
	formatCN                    // compressed numeric, left-justified, 'F'-padded right
	formatAN                    // alphanumeric
	formatANS                   // alphanumeric special
)

type tagInfo struct {
	name   string
	format dataFormat
}

// tagTable names the EMV (Books 1-4), contactless (qPBOC / UnionPay
// QuickPass, Visa-style qualifiers) and PBOC 3.0 tags that tapwallet meets.
var tagTable = map[Tag]tagInfo{
	0x42:   {"Issuer Identification Number (IIN)", formatN},
	0x4F:   {"Application Identifier (AID) - card", formatB},
	0x50:   {"Application Label", formatANS},
	0x57:   {"Track 2 Equivalent Data", formatB},
	0x5A:   {"Application Primary Account Number (PAN)", formatCN},
	0x5F20: {"Cardholder Name", formatANS},
	0x5F24: {"Application Expiration Date", formatN},
	0x5F25: {"Application Effective Date", formatN},
	0x5F28: {"Issuer Country Code", formatN},
	0x5F2A: {"Transaction Currency Code", formatN},
	0x5F2D: {"Language Preference", formatAN},
	0x5F30: {"Service Code", formatN},
	0x5F34: {"Application PAN Sequence Number", formatN},
	0x5F36: {"Transaction Currency Exponent", formatN},
	0x5F50: {"Issuer URL", formatANS},
	0x61:   {"Application Template", formatB},
	0x6F:   {"File Control Information (FCI) Template", formatB},
	0x70:   {"READ RECORD Response Message Template", formatB},
	0x71:   {"Issuer Script Template 1", formatB},
	0x72:   {"Issuer Script Template 2", formatB},
	0x73:   {"Directory Discretionary Template", formatB},
	0x77:   {"Response Message Template Format 2", formatB},
	0x80:   {"Response Message Template Format 1", formatB},
	0x81:   {"Amount, Authorised (Binary)", formatB},
	0x82:   {"Application Interchange Profile (AIP)", formatB},
	0x83:   {"Command Template", formatB},
	0x84:   {"Dedicated File (DF) Name", formatB},
	0x86:   {"Issuer Script Command", formatB},
	0x87:   {"Application Priority Indicator", formatB},
	0x88:   {"Short File Identifier (SFI)", formatB},
	0x89:   {"Authorisation Code", formatANS},
	0x8A:   {"Authorisation Response Code", formatAN},
	0x8C:   {"Card Risk Management Data Object List 1 (CDOL1)", formatB},
	0x8D:   {"Card Risk Management Data Object List 2 (CDOL2)", formatB},
	0x8E:   {"Cardholder Verification Method (CVM) List", formatB},
	0x8F:   {"Certification Authority Public Key Index", formatB},
	0x90:   {"Issuer Public Key Certificate", formatB},
	0x91:   {"Issuer Authentication Data", formatB},
	0x92:   {"Issuer Public Key Remainder", formatB},
	0x93:   {"Signed Static Application Data", formatB},
	0x94:   {"Application File Locator (AFL)", formatB},
	0x95:   {"Terminal Verification Results (TVR)", formatB},
	0x97:   {"Transaction Certificate Data Object List (TDOL)", formatB},
	0x9A:   {"Transaction Date", formatN},
	0x9B:   {"Transaction Status Information (TSI)", formatB},
	0x9C:   {"Transaction Type", formatN},
	0x9D:   {"Directory Definition File (DDF) Name", formatB},
	0x9F01: {"Acquirer Identifier", formatN},
	0x9F02: {"Amount, Authorised (Numeric)", formatN},
	0x9F03: {"Amount, Other (Numeric)", formatN},
	0x9F06: {"Application Identifier (AID) - terminal", formatB},
	0x9F07: {"Application Usage Control", formatB},
	0x9F08: {"Application Version Number - card", formatB},
	0x9F09: {"Application Version Number - terminal", formatB},
	0x9F0D: {"Issuer Action Code - Default", formatB},
	0x9F0E: {"Issuer Action Code - Denial", formatB},
	0x9F0F: {"Issuer Action Code - Online", formatB},
	0x9F10: {"Issuer Application Data (IAD)", formatB},
	0x9F11: {"Issuer Code Table Index", formatN},
	0x9F12: {"Application Preferred Name", formatANS},
	0x9F13: {"Last Online ATC Register", formatB},
	0x9F14: {"Lower Consecutive Offline Limit", formatB},
	0x9F15: {"Merchant Category Code", formatN},
	0x9F16: {"Merchant Identifier", formatANS},
	0x9F17: {"PIN Try Counter", formatB},
	0x9F1A: {"Terminal Country Code", formatN},
	0x9F1B: {"Terminal Floor Limit", formatB},
	0x9F1C: {"Terminal Identification", formatAN},
	0x9F1E: {"Interface Device (IFD) Serial Number", formatAN},
	0x9F1F: {"Track 1 Discretionary Data", formatANS},
	0x9F21: {"Transaction Time", formatN},
	0x9F23: {"Upper Consecutive Offline Limit", formatB},
	0x9F26: {"Application Cryptogram", formatB},
	0x9F27: {"Cryptogram Information Data (CID)", formatB},
	0x9F32: {"Issuer Public Key Exponent", formatB},
	0x9F33: {"Terminal Capabilities", formatB},
	0x9F34: {"Cardholder Verification Method (CVM) Results", formatB},
	0x9F35: {"Terminal Type", formatN},
	0x9F36: {"Application Transaction Counter (ATC)", formatB},
	0x9F37: {"Unpredictable Number", formatB},
	0x9F38: {"Processing Options Data Object List (PDOL)", formatB},
	0x9F39: {"Point-of-Service (POS) Entry Mode", formatN},
	0x9F40: {"Additional Terminal Capabilities", formatB},
	0x9F41: {"Transaction Sequence Counter", formatN},
	0x9F42: {"Application Currency Code", formatN},
	0x9F44: {"Application Currency Exponent", formatN},
	0x9F45: {"Data Authentication Code", formatB},
	0x9F46: {"ICC Public Key Certificate", formatB},
	0x9F47: {"ICC Public Key Exponent", formatB},
	0x9F48: {"ICC Public Key Remainder", formatB},
	0x9F49: {"Dynamic Data Authentication Data Object List (DDOL)", formatB},
	0x9F4A: {"Static Data Authentication Tag List", formatB},
	0x9F4B: {"Signed Dynamic Application Data", formatB},
	0x9F4C: {"ICC Dynamic Number", formatB},
	0x9F4D: {"Log Entry", formatB},
	0x9F4E: {"Merchant Name and Location", formatANS},
	0x9F4F: {"Log Format", formatB},
	0x9F5D: {"Available Offline Spending Amount", formatN},
	0x9F63: {"Card Product Identification Information (PBOC)", formatB},
	0x9F66: {"Terminal Transaction Qualifiers (TTQ)", formatB},
	0x9F6C: {"Card Transaction Qualifiers (CTQ)", formatB},
	0x9F6E: {"Form Factor Indicator (FFI)", formatB},
	0x9F74: {"Electronic Cash Issuer Authorisation Code (PBOC)", formatANS},
	0x9F79: {"Electronic Cash Balance (PBOC)", formatN},
	0x9F7C: {"Customer Exclusive Data (CED)", formatB},
	0xA5:   {"FCI Proprietary Template", formatB},
	0xBF0C: {"FCI Issuer Discretionary Data", formatB},
	0xDF4D: {"Electronic Cash Load Log Entry (PBOC)", formatB},
	0xDF4F: {"Electronic Cash Load Log Format (PBOC)", formatB},
	0xDF60: {"Proprietary Data (DF60)", formatB},
	0xDF61: {"Proprietary Data (DF61)", formatB},
	0xDF69: {"SM Algorithm Supported Indicator (PBOC)", formatB},
}

// Name returns the EMV name of a known tag ("Application Cryptogram" for
// 9F26), or "" for a tag not in the table.
func (t Tag) Name() string {
	return tagTable[t].name
}

// format returns the data format of the tag, binary for an unknown tag.
func (t Tag) format() dataFormat {
	return tagTable[t].format
}
