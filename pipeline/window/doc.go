// Package window cuts the traffic events of the log into event-time windows
// and turns each closed window into one Arrow record batch.
//
// An [Assembler] takes conn.opened, conn.closed, conn.blocked, tx.observed
// and auth.failed events in log order and appends one row per event to the
// Arrow builders of the event's (partition, window). Windows are tumbling,
// [k·Size, (k+1)·Size) in Unix time; a partition's watermark is the largest
// event time seen on it minus Config.Lateness (raised further by Tick, which
// the pipeline calls for the clock.tick events it reads from the log), and a
// window closes when its partition's watermark reaches its end. An event whose
// window has already closed is counted late and dropped. conn.closed rows
// carry the destination of their conn.opened, joined by conn_id per device
// with bounded memory (Config.JoinHorizon, Config.MaxOpenPerDevice).
//
// What comes out is a function of the sequence of Add and Tick calls only:
// which windows close, in which order, and the bytes of their batches do not
// depend on when Closed is called, so a replay gives the same windows whether
// the events come in one batch or one at a time.
//
// An Assembler is not safe for concurrent use: the pipeline drives it from one
// goroutine. Every Window it returns holds Arrow memory and must be released.
package window
