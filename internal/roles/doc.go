// Package roles assembles Halo's long-running roles (the edge now; the
// pipeline and the API as they arrive) from their packages, so that `halo
// up` runs them together in one process and `halo edge` (etc.) runs one
// alone, with the same code.
package roles
