package zeek

import "errors"

var (
	// ErrNotConnLog is returned when the input is neither a TSV conn.log
	// (no `#fields` header before the first record, or one that lacks the
	// connection columns) nor a JSON-lines log.
	ErrNotConnLog = errors.New("zeek: not a conn.log")
	// ErrInvalidOptions wraps every problem Options.Validate finds.
	ErrInvalidOptions = errors.New("zeek: invalid options")
	// ErrNoEmit is returned when Read is given a nil emit function.
	ErrNoEmit = errors.New("zeek: nil emit function")
)
