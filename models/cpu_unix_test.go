//go:build unix

package models

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system) the process has used,
// on every thread: a benchmark's CPU per operation next to its wall time
// tells contention on a shared machine from work.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
