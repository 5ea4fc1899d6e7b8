package kernel_test

import (
	"testing"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/kernel"
)

// FuzzCardAnswers feeds any bytes to the parsers of the phone's answers
// (PPSE, FCI, GPO, record, track 2): they never panic, and they refuse with
// fault.Invalid "card_answer".
func FuzzCardAnswers(f *testing.F) {
	for _, s := range []string{
		"6F48840E325041592E5359532E4444463031A536BF0C3361184F08A000000333010101500949434243203132333987010161174F08A0000003330101025008434D422034353632870102",
		"6F3F8408A000000333010101A53350094943424320313233398701019F381B9F66049F02069F03069F1A0295055F2A029A039C019F37049F4E145F2D047A68656E",
		"7730820200809404080101009F360200019F26082D70A4ECF993F1A19F2701809F100A090111032008000001009F6C020880",
		"800A008008010100",
		"70285712628801000000123" + "9D301222000000000000F5A0862880100000012395F24033012315F340100",
		"6288010000001239D301222000000000000F",
		"", "00", "6F00", "7700", "7000", "8000", "6F03840100", "6F07A505BF0C026100",
	} {
		f.Add(unhex(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		check := func(what string, err error) {
			if err != nil && fault.CodeOf(err) != "card_answer" {
				t.Fatalf("%s: got error %v (code %s), want card_answer", what, err, fault.CodeOf(err))
			}
		}
		_, err := kernel.ParsePPSE(in)
		check("PPSE", err)
		_, err = kernel.ParseFCI(in)
		check("FCI", err)
		_, err = kernel.ParseGPO(in)
		check("GPO", err)
		_, err = kernel.ParseRecord(in)
		check("record", err)
		track, pan, yymm, err := kernel.ParseTrack2(in)
		check("track 2", err)
		if err == nil && (len(pan) < 12 || len(yymm) != 4 || len(track) < len(pan)+8) {
			t.Fatalf("track 2 accepted with number of %d digits, expiry %q", len(pan), yymm)
		}
	})
}
