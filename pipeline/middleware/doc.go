// Package middleware holds the pipeline's cross-cutting concerns as watermill
// handler middleware, one per file: de-duplication by event id, metrics,
// retry with backoff, and the dead-letter (poison) queue.
//
// The order the pipeline uses, outermost first: Metrics, Dedup, DeadLetters,
// Retry, then watermill's Recoverer around the handler. Dedup records ids
// only after the handler succeeded, so a retried or redelivered message is
// never filtered out by its own first attempt.
package middleware
