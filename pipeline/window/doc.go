// Package window cuts the traffic events of the log into event-time windows
// and turns each closed window into one Arrow record batch.
//
// An [Assembler] takes conn.opened, conn.closed, conn.blocked, tx.observed
// and auth.failed events in log order and adds one row per event to the
// event's (partition, window). Windows are tumbling, [k·Size, (k+1)·Size) in
// Unix time; a partition's watermark is the largest event time seen on it
// minus Config.Lateness (raised further by Tick, which the pipeline calls
// for the clock.tick events it reads from the log), and a window closes when
// its partition's watermark reaches its end. An event whose window has
// already closed is counted late and dropped. conn.closed rows carry the
// destination of their conn.opened, joined by conn_id per device with
// bounded memory (Config.JoinHorizon, Config.MaxOpenPerDevice).
//
// A closed window's batch has [Schema], rows sorted by (tenant, device,
// time, id), and [Window.Devices] gives each device's row range, which is
// what package features computes over.
//
// What comes out is a function of the sequence of Add and Tick calls only:
// which windows close, in which order, and the bytes of their batches do not
// depend on when Closed is called, so a replay gives the same windows whether
// the events come in one batch or one at a time.
//
// # Layout
//
// Until it closes, a window keeps its rows in arrival order, one Go slice
// per column (strings appended to one byte slice per column, with each
// row's end offset), and each row's device group. At close the devices are
// sorted, a counting pass over the groups gives the permutation into
// (tenant, device) order (each device's rows sorted by time and id only if
// they arrived out of order), and each column is gathered through it, one
// column at a time, into Arrow buffers cut from one allocation of their
// exact total size. A closed window's column slices are kept for the next
// windows (at most one set per partition, plus one), and a new window is
// sized from the partition's previous one, so the steady state allocates
// only the batches; with Config.Recycle, not even those (released batches'
// memory is reused, for consumers that keep no views into a window after
// releasing it).
//
// Two layouts were measured against it on the features package's benchmark
// log (1M synthetic events of 5000 devices): per-window arrow-go builders
// with a gather at close (1.28M events per CPU-second), and per-device row
// records of 264 bytes in chunks of eight (1.74M, with its strings inline).
// Writing a row record and reading it back, cold, at close cost more than
// the columns' sequential appends and cache-resident gathers; see
// bench/RESULTS.md for the figures of this one.
//
// An Assembler is not safe for concurrent use: the pipeline drives it from one
// goroutine. Every Window it returns holds Arrow memory and must be released.
package window
