package cli

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/fsutil"
)

// upInfoFile is where a running halo up advertises its addresses in its data
// directory, so that commands on the same data directory (halo sim) find its
// edge without being told: {"api": "http://HOST:PORT", "edge": "HOST:PORT",
// "pid": N}. It is written once every role is ready and removed when halo
// up stops; a file left by a process that is gone is ignored.
const upInfoFile = "up.json"

// upInfo is upInfoFile.
type upInfo struct {
	API  string `json:"api"`
	Edge string `json:"edge"`
	PID  int    `json:"pid"`
}

// writeUpInfo advertises a running halo up in dataDir.
func writeUpInfo(dataDir string, info upInfo) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(dataDir, upInfoFile), append(b, '\n'), 0o644)
}

// removeUpInfo removes dataDir's advertisement if this process wrote it.
func removeUpInfo(dataDir string) {
	if info, err := readUpInfo(dataDir); err == nil && info.PID == os.Getpid() {
		os.Remove(filepath.Join(dataDir, upInfoFile))
	}
}

// errNoUp: no halo up runs on the data directory.
var errNoUp = errors.New("no running halo up advertises itself in the data directory")

// readUpInfo returns the advertisement of the halo up running on dataDir,
// or errNoUp when there is none or its process is gone.
func readUpInfo(dataDir string) (upInfo, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, upInfoFile))
	if errors.Is(err, os.ErrNotExist) {
		return upInfo{}, errNoUp
	}
	if err != nil {
		return upInfo{}, err
	}
	var info upInfo
	if err := json.Unmarshal(b, &info); err != nil || info.Edge == "" {
		return upInfo{}, errNoUp
	}
	if !events.ProcessAlive(info.PID) {
		return upInfo{}, errNoUp
	}
	return info, nil
}
