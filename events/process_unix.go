//go:build unix

package events

import (
	"errors"
	"syscall"
)

// processAlive reports whether a process with this id exists (one of
// another user's counts: signal 0 is refused, not unknown).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
