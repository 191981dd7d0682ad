// Package zeektest finds the labeled Zeek logs of ../shared/data/zeek
// (Stratosphere Lab, read in place, never copied into the project) for
// tests and benchmarks, and imports them as halo import zeek does.
package zeektest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/replay/zeek"
)

// Labeled lists the labeled conn logs, relative to Dir, oldest first.
var Labeled = []string{
	"001-zeek-scenario-malicious/labeled-conn.log",
	"008-zeek-mixed/data/conn.log.labeled",
	"010-zeek-mixed/data/conn.log.labeled",
	"011-zeek-mixed/data/conn.log.labeled",
	"012-zeek-mixed/data/conn.log.labeled",
	"slips-test18-ctu-sme-11/zeek-labeled/conn.log.labeled",
}

// Dir finds shared/data/zeek/stratosphere in or beside a directory above
// the working directory (the repository, or a worktree, sits next to
// shared).
func Dir() (string, error) {
	wd, _ := os.Getwd()
	for d := wd; d != "/"; d = filepath.Dir(d) {
		for _, base := range []string{d, filepath.Dir(d)} {
			p := filepath.Join(base, "shared", "data", "zeek", "stratosphere")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("shared/data/zeek/stratosphere not found above %s", wd)
}

// Path returns the file rel of Dir, failing tb when Dir is not found.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	dir, err := Dir()
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(dir, rel)
}

// Import reads the logs rels (relative to Dir) as halo import zeek does
// for tenant: their events in file order, each file's as zeek.ImportFile
// yields them.
func Import(tenant string, rels ...string) ([]events.Event, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	var all []events.Event
	for _, rel := range rels {
		if _, err := zeek.ImportFile(filepath.Join(dir, rel), zeek.Options{Tenant: tenant}, func(ev events.Event) error {
			all = append(all, ev)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return all, nil
}
