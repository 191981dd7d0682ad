package models

import (
	"fmt"
	"runtime/debug"
	"sync"
)

// protect runs f and turns a panic into an ErrGolearn error: golearn panics
// on shapes it does not expect.
func protect(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: panic: %v", ErrGolearn, what, r)
		}
	}()
	return f()
}

// golearnModule is the golearn module path, for the trainer recorded in
// each artifact.
const golearnModule = "github.com/sjwhitworth/golearn"

// trainer returns "golearn@<version>" as linked into this binary: the
// golearn whose trees an artifact holds (see Artifact.Trainer).
var trainer = sync.OnceValue(func() string {
	v := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == golearnModule {
				v = d.Version
				if d.Replace != nil {
					v = d.Replace.Path + "@" + d.Replace.Version
				}
			}
		}
	}
	return "golearn@" + v
})
