// Package cputime reads the CPU time the process has used, for benchmarks:
// a benchmark's CPU per operation next to its wall time tells contention on
// a shared machine from work, and two cores' work from one's.
package cputime
