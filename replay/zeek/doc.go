// Package zeek turns Zeek conn.log files into Halo events for `halo import
// zeek`. It reads both of Zeek's forms: the TSV log with its `#separator`,
// `#fields`, `#types`, `#unset_field` and `#empty_field` headers, and the
// JSON-lines log (one object per line). Each connection record becomes a
// conn.opened and a conn.closed event about the originator (the device), and
// a record whose Stratosphere-style `label` column is not benign also becomes
// a label.recorded event pointing at the conn.opened event. Event ids are
// derived from the file's digest and the line number, so importing a file
// twice yields the same events and the log stores them once. Records that do
// not parse are skipped and counted, never fatal; only input that is not a
// conn.log at all is an error.
package zeek
