package fsutil

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ErrLocked is returned by Lock for a file another process has locked.
var ErrLocked = errors.New("in use by another process")

// Lock takes an exclusive flock of path (created if need be), which it
// makes hold this process's pid, or fails at once with ErrLocked and the
// holder ("pid N"; "" when the file does not say). Unlock releases it; so
// does the process's end, however it ends.
func Lock(path string) (f *os.File, holder string, err error) {
	f, err = os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, "", err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			if p := strings.TrimSpace(string(pid)); p != "" {
				holder = "pid " + p
			}
			return nil, holder, ErrLocked
		}
		return nil, "", fmt.Errorf("locking %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, "", nil
}

// Unlock releases a lock of Lock; nil is no lock.
func Unlock(f *os.File) {
	if f != nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}
