package events

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// sortDirPrefix starts the name of a TimeSorter's spill directory, which
// goes on with the process id: halo-sort-<pid>-<random>.
const sortDirPrefix = "halo-sort-"

// RemoveStaleSortDirs removes the spill directories that TimeSorters of
// processes no longer running left in dir (a replay or import killed
// before its Close) and returns how many it removed. A directory of a
// running process (another import into the same data directory) is left
// alone; one named without a process id (before ids were part of the
// name) is removed once it is an hour old. A missing dir is no error.
func RemoveStaleSortDirs(dir string) (int, error) {
	return RemoveStaleDirs(dir, sortDirPrefix)
}

// RemoveStaleDirs is RemoveStaleSortDirs for the directories in dir named
// prefix, a process id, '-' and anything: the temporary directories of
// any command that names them so (halo export's too).
func RemoveStaleDirs(dir, prefix string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return 0, nil
		}
		return 0, err
	}
	removed := 0
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, prefix) {
			continue
		}
		rest := strings.TrimPrefix(name, prefix)
		pidText, _, ok := strings.Cut(rest, "-")
		pid, perr := strconv.Atoi(pidText)
		switch {
		case ok && perr == nil && pid > 0:
			if pid == os.Getpid() || processAlive(pid) {
				continue
			}
		default:
			info, err := e.Info()
			if err != nil || time.Since(info.ModTime()) < time.Hour {
				continue
			}
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return removed, err
		}
		removed++
	}
	return removed, nil
}
