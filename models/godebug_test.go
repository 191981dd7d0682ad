// golearn's IsolationForest draws from the global math/rand source, which
// rand.Seed only seeds under GODEBUG=randseednop=0. Halo's go.mod sets it
// for the module's binaries and tests; this directive sets it for this
// package's test binary in any case.

//go:debug randseednop=0

package models
