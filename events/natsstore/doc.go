// Package natsstore is the NATS JetStream backend of events.Store, embedded
// (nats-server in-process, file storage under the data directory, loopback
// only, nkey authentication with the seed in a 0600 file) or external
// (--nats nats://…, the same code against a server or cluster run by others).
//
// All events live in one stream, HALO, on subjects
// halo.<tenant>.<kind>.<partition>. Append groups consecutive events of one
// (tenant, partition) and one kind into a single message (a events.Batch),
// publishes asynchronously and waits for every acknowledgement. A message
// carries a Nats-Msg-Id derived from its events' ids, so JetStream drops a
// retried message inside its de-duplication window; readers drop repeated
// event ids beyond it (Read exactly, subscriptions within a bounded memory).
//
// One process at a time serves a data directory's embedded log; the others
// join it through DATA/nats/server.json. halo up serves it (ModeServe). A
// command run while no server runs there starts one for itself; when halo
// up then starts, it asks such a command (Config.Yield) to hand the
// directory over instead of failing: the command's store closes
// (ErrHandedOver; halo events tail follows on through halo up's server),
// and halo up starts once the directory is free. A process that serves
// others (another halo up, a role run alone) keeps it. Commands that only
// read (Config.MustExist) never create a log. Clients of the embedded
// server reconnect wherever server.json says it is, so a halo up restarted
// on another port keeps them. When the server's file store fails a write
// (a full disk), it fails every later one until reopened: Ping reports it,
// and a serving store restarts the server once the disk takes writes
// again (heal).
//
// Time ranges are in event time. JetStream indexes messages by the time it
// stored them, which is never much earlier than the event time of what they
// carry (Append refuses events stamped more than MaxFutureSkew ahead), so a
// read starts at the stored time From - MaxFutureSkew - ClockSlack and
// filters on event time from there to the end of the log.
package natsstore
