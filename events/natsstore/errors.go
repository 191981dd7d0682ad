package natsstore

import "errors"

var (
	// ErrDataDirInUse is returned by Open in ModeServe when another process
	// already serves the event log of the data directory.
	ErrDataDirInUse = errors.New("data directory is served by another process")
	// ErrNoServer is returned when no event log can be reached: the
	// external URL does not answer, or the data directory's server does not
	// answer and cannot be started here.
	ErrNoServer = errors.New("event log unreachable")
	// ErrHandedOver is returned by a store whose process started its own
	// embedded server (Config.Yield) once it has handed the data directory
	// over to a halo up starting: it wraps events.ErrClosed.
	ErrHandedOver = errors.New("halo up took over the event log while this command ran")
	// ErrNoLog is returned by Open with Config.MustExist when there is no
	// event log to open.
	ErrNoLog = errors.New("no event log")
	// ErrFutureEvent is returned by Append for an event stamped more than
	// MaxFutureSkew after the current time.
	ErrFutureEvent = errors.New("event time is in the future")
	// ErrConfig is returned for an invalid Config.
	ErrConfig = errors.New("invalid event log configuration")
)
