package nfc

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzServe feeds arbitrary bytes from a reader to a served card: the card
// side must never panic and must always return once the reader is gone.
func FuzzServe(f *testing.F) {
	for _, s := range []string{
		"000101000104",
		"000E00A4040008A00000033301010100",
		"0000",
		"FFFF",
		"000E00A4",
		"00",
		"000480CA9F36000100",
		"00020001",
	} {
		f.Add(unhex(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		reader, card := net.Pipe()
		go io.Copy(io.Discard, reader)
		go func() {
			reader.Write(in)
			reader.Close()
		}()
		done := make(chan error, 1)
		go func() {
			done <- ServeConfig(context.Background(), card, &testCard{atr: []byte{0x3B, 0x00}},
				Config{FrameTimeout: time.Second, WriteTimeout: time.Second, MaxFrame: 4096})
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return")
		}
	})
}
