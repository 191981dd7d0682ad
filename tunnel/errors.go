package tunnel

import "errors"

var (
	// ErrConfig is returned by New for an invalid Config.
	ErrConfig = errors.New("invalid edge configuration")
	// ErrClosed is returned by Run after Shutdown.
	ErrClosed = errors.New("edge closed")
)
