package events

// ProcessAlive reports whether a process with this id runs on this machine:
// how commands tell a running process's leftovers (spill directories, an
// advertised address) from a dead one's. Where the system cannot say, every
// process counts as running.
func ProcessAlive(pid int) bool { return pid > 0 && processAlive(pid) }
