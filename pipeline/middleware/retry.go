package middleware

import (
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	wm "github.com/ThreeDotsLabs/watermill/message/router/middleware"
)

// Retry calls the handler again on error, up to max more times, with
// exponential backoff from initial (×2, capped at 5 s). The handler must be
// safe to call again with the same message.
func Retry(max int, initial time.Duration, logger watermill.LoggerAdapter) message.HandlerMiddleware {
	r := wm.Retry{MaxRetries: max, InitialInterval: initial, MaxInterval: 5 * time.Second, Multiplier: 2, Logger: logger}
	return r.Middleware
}
