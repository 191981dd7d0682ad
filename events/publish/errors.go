package publish

import "errors"

var (
	// ErrSpoolFull is returned by Emit while the event log is unreachable
	// and the spool can take no more: it holds SpoolMaxBytes, or the disk
	// refuses writes. The event was not accepted. Callers refuse new work
	// (the edge refuses new connections) rather than lose events; Emit
	// accepts again once the drain has made room.
	ErrSpoolFull = errors.New("event log unreachable and event spool full")
	// ErrBufferFull is returned by Emit when MaxBuffered events already
	// wait in memory: appends are slower than emission and have not yet
	// timed out into the spool. Treat it like ErrSpoolFull.
	ErrBufferFull = errors.New("event publisher buffer full")
	// ErrClosed is returned by Emit and Run after Close.
	ErrClosed = errors.New("event publisher closed")
	// ErrSpoolInUse is returned by New when another publisher, in this
	// process or another, holds the spool directory.
	ErrSpoolInUse = errors.New("event spool directory is in use by another publisher")
	// ErrConfig is returned by New for an invalid Config or a nil store.
	ErrConfig = errors.New("invalid event publisher configuration")
)
