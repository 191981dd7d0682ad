// Package events owns Halo's event catalogue and the event log contract.
//
// Everything that happens in Halo is an event first: a device connecting
// through the edge, a payment fingerprint, an alert, an operator's verdict.
// This package defines the envelope ([Event]) and one payload type per event
// type (generated from proto/halo/events/v1/events.proto), their compact
// protobuf wire encoding ([Encode], [Decode], [AppendBatch], [DecodeBatch]),
// their JSON view for people and tools ([Event.MarshalJSON]), identifiers
// ([NewID] for live events, [DerivedID] for events that must come out the same
// when produced twice), validation of tenant and device names, and the
// [Store] interface that every event log backend implements. Backends live in
// sub-packages (natsstore: embedded or external NATS JetStream) and all pass
// the contract suite in storetest.
package events
