// Package storetest is the contract test suite every events.Store backend
// must pass, in the manner of watermill's pubsub/tests: a backend's test
// calls Run with a constructor for fresh logs, and the suite checks round
// trips of every event type, idempotent appends within and beyond the
// de-duplication window, per-device order, event-time range reads with every
// filter (history years back included), concurrent appenders, durability
// across restarts and crashes, garbage in the log, and authentication.
package storetest
