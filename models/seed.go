package models

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math/rand"
	"runtime/debug"
	"sync"
)

// globalRandMu serialises every golearn call that draws from the global
// math/rand source (IsolationForest.Fit), so that one training at a time
// owns the seeded sequence. It is held for the whole of a training,
// including its reproducibility re-runs, and never while calling out to
// anything but golearn.
var globalRandMu sync.Mutex

// withSeededGlobalRand runs f with the global math/rand source seeded with
// seed, holding globalRandMu. It returns ErrSeedIgnored, without calling f,
// when rand.Seed has no effect (GODEBUG randseednop is not 0). Afterwards
// the global source is re-seeded from crypto/rand, so that the rest of the
// process does not go on drawing a sequence anyone can predict from the
// artifact's seed.
func withSeededGlobalRand(seed int64, f func(reseed func()) error) error {
	globalRandMu.Lock()
	defer globalRandMu.Unlock()
	if !seedTakesEffect() {
		return ErrSeedIgnored
	}
	defer reseedUnpredictably()
	return f(func() { rand.Seed(seed) })
}

// seedTakesEffect reports whether rand.Seed changes the global source: since
// Go 1.24 it is a no-op unless GODEBUG=randseednop=0. The setting is read at
// each call, so the check is made at each training. After rand.Seed(1) the
// next value drawn must be one of the first values of a source seeded with
// 1 (not necessarily the first: another goroutine may draw in between);
// from an unseeded source that happens with probability 2⁻⁵³.
func seedTakesEffect() bool {
	const window = 1024
	ref := rand.New(rand.NewSource(1))
	first := make(map[int64]bool, window)
	for range window {
		first[ref.Int63()] = true
	}
	rand.Seed(1)
	return first[rand.Int63()]
}

func reseedUnpredictably() {
	var b [8]byte
	_, _ = crand.Read(b[:]) // never fails on supported platforms (Go 1.24+ panics instead)
	rand.Seed(int64(binary.LittleEndian.Uint64(b[:])))
}

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

// trainer returns "golearn@<version>" as linked into this binary.
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
