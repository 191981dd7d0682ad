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
// Until it closes, a window keeps its rows in arrival order: one record a
// row (its fixed-width fields and device group: 80 bytes) and the ends of
// its strings (numStr offsets a row), both in blocks of 1024 rows (a
// window that outgrows its room takes a block, where doubled slices copied
// the rows and left twice their memory to the collector in a process's
// first, unsized windows), and its strings appended to one byte slice per
// column. At close the devices are sorted, a counting
// pass over the groups gives the permutation into (tenant, device) order
// (each device's rows sorted by time and id only if they arrived out of
// order), and the records, then each string column, are gathered through
// it into Arrow buffers cut from one allocation of their exact total size.
// A closed window's slices are kept for the next windows (at most one set
// per partition, plus one), and a new window is sized from the partition's
// previous one, so the steady state allocates only the batches; with
// Config.Recycle, not even those (released batches' memory is reused, for
// consumers that keep no views into a window after releasing it). The
// record and the ends replaced one slice per fixed-width column and one of
// end offsets per string column (Add wrote to some 25 slice tails a row);
// in paired runs on the features package's log they assembled about 10%
// more events per CPU-second. With the ends in the records, 3-10%: the
// gathers of the string columns, one through the records each, read the
// records of a large window from memory, where the ends alone stay in the
// core's cache.
//
// The layout before this one kept per-device row records (264 bytes, in
// chunks of eight rows, strings inline), and the one before that appended
// to per-window arrow-go builders. In runs paired with the row records on
// the features package's benchmark log (1M synthetic events of 5000
// devices, in log order), they assembled 1.27–1.72M events per CPU-second,
// this layout (with the device table and the batch changes made with it)
// 1.66–2.08M; see bench/RESULTS.md.
//
// # The cost of a window
//
// Imported history and quiet fleets close many windows of a dozen rows
// (the labeled Zeek logs: 4 288 windows of about 16), where a window's
// fixed cost is most of the cost: arrow-go makes four to seven heap
// objects per column (buffers, data, array, a dictionary array's index
// array) and takes and drops as many reference counts. So:
//
//   - a column with no value in any row of a window of up to 512 rows
//     (the transaction and authentication columns of a window of
//     connections: ten of the 25 in every Zeek window) is one array shared
//     by every window of that many rows, cached per (column, rows), on one
//     immutable block of zeros; so is the tenant column of a window of one
//     tenant, per (tenant, rows). Such columns get no room in the window's
//     memory;
//   - each array holds one reference to the window's memory (its values
//     buffer), not one per buffer: its validity bitmap and offsets are
//     plain buffers on the same memory, made in one allocation per window;
//   - the batch is a record of this package (an arrow.RecordBatch) that
//     takes the references build made, without arrow-go's copy, checks and
//     reference counts per column;
//   - a window of fewer than 64 rows aligns its buffers to 8 bytes instead
//     of 64, and a closed pending window is reused whole for the next;
//   - the structs of a window's arrays (arrays, Data, buffers) are cut from
//     chunks shared by windows; those arrow-go offers no way to fill (the
//     dictionary, timestamp and fixed-size binary arrays, a buffer's
//     parent) are written through mirrors of its structs whose layouts
//     the tests check field by field (mirrors.go, slicebuf.go). A Zeek
//     window's assembly makes about 2.5 heap objects, where it made 11.6
//     before the dictionary, time and id arrays and the device lists came
//     from the chunks;
//   - the counts of those structs are set by plain stores while the
//     window is built (no other goroutine sees it yet), and the shared
//     dictionaries' counts are immortal, so a window's columns take no
//     reference to them;
//   - the record's release, when no consumer holds a reference to
//     anything of the window's own columns (it reads their counts, in an
//     order that a consumer handing a reference over from one struct to
//     another cannot slip past), frees the window's memory itself: the
//     release of every array, Data and buffer by arrow-go cost some fifty
//     atomic operations, one after the other on cache lines the
//     assembling goroutine wrote on another core. A consumer that holds a
//     column, its Data, a buffer or a slice sends the release down
//     arrow-go's path instead.
//
// Arrays are immutable and their reference counts atomic, so windows that
// share one can be released on different goroutines. On the Zeek logs,
// assembly costs about 0.6× the CPU per window it did before (see
// bench/RESULTS.md).
//
// # Prefetching
//
// Add's first read of an event is mostly a cache miss when the events were
// decoded long before (a large slice): the payload, its strings, the
// device's state and its open connections, one after the other, each
// waiting for the last. [Assembler.AddBatch] adds a slice of events as Add
// would, and while it adds event i it asks the memory system for what
// later events need, in steps that each wait for the one before: the event
// structs of event i+24, the payload and device id of event i+12, for
// event i+8 the device's hash (computed there from the id, and the one the
// lookup uses) and its device table slot, and for event i+4 the payload's
// connection id and fingerprint bytes and the device's state, whose
// address the slot gives. The state is five cache lines, all of them
// asked for: its first holds what the lookup compares (the tenant, a copy
// of a short device id), its second the device's slots in its open
// windows with their groups' counts (each a further miss per event when
// they were a slice of their own and the window's group), then the first
// open connection of the join. On the features package's benchmark log
// the prefetching is about 1.5× Add's events per CPU-second for the
// assembly alone and 1.2–1.35× with the features; on events freshly
// decoded from the log's batch messages, 1.15–1.25× (bench/RESULTS.md).
// The state's lookup line and inline slots, with the three steps, added
// about 1.06× to the assembly on that log (1.12× the slots alone).
//
// An Assembler is not safe for concurrent use: the pipeline drives it from one
// goroutine. Every Window it returns holds Arrow memory and must be released.
package window
