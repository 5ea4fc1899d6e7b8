//go:build unix

package main

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) the process has used so far,
// from getrusage(2); 0 when it cannot be read.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
