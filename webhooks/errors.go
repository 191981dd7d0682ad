package webhooks

import "errors"

var (
	// ErrInvalid is returned for a webhook registration that cannot be
	// accepted (bad URL, short secret, unknown filter value).
	ErrInvalid = errors.New("invalid webhook")
	// ErrPrivateURL is returned (wrapped in ErrInvalid at registration, or
	// as a delivery error) when DenyPrivate is set and a URL resolves to a
	// loopback, private, link-local or otherwise non-public address.
	ErrPrivateURL = errors.New("webhook URL resolves to a non-public address")
	// ErrNotFound is returned for a webhook id the tenant does not have.
	ErrNotFound = errors.New("no such webhook")
	// ErrKeyFile is returned when the secrets' key file is unusable (wrong
	// size, or readable by others than its owner).
	ErrKeyFile = errors.New("webhook secrets key file unusable")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("webhook engine closed")
)
