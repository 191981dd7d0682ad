package export

import "errors"

var (
	// ErrConfig is returned for an invalid Config.
	ErrConfig = errors.New("invalid export configuration")
	// ErrExists is returned when a table's directory is already in the
	// output directory and the export may not overwrite it.
	ErrExists = errors.New("table already exported")
	// ErrRead is returned when the log cannot be read to the end.
	ErrRead = errors.New("reading the log")
)
