package middleware

import (
	"github.com/ThreeDotsLabs/watermill/message"
	wm "github.com/ThreeDotsLabs/watermill/message/router/middleware"
)

// ReasonKey is the metadata key of a dead letter's reason.
const ReasonKey = wm.ReasonForPoisonedKey

// DeadLetters sends a message whose handler still fails (after Retry) to pub
// on topic with the error as its reason (metadata ReasonKey), and
// acknowledges it, so one bad delivery cannot stop the pipeline.
func DeadLetters(pub message.Publisher, topic string) (message.HandlerMiddleware, error) {
	return wm.PoisonQueue(pub, topic)
}
