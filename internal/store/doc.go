// Package store keeps gridmq's durable state in the data dir: retained
// messages, persistent sessions and their subscriptions, queued and
// in-flight QoS 1 and 2 messages, QoS 2 packet-id state and delayed wills.
//
// The store is an append-only log of segment files (the format is in
// format.go) with an in-memory index from key to the place of its newest
// version; decision 0006 records why. Writers hand a batch of puts and
// deletes to Commit; one committer goroutine writes whatever batches are
// waiting as one frame, makes it durable with one fsync (group commit) and
// then calls every batch's callback, so the broker acknowledges a PUBLISH
// or SUBSCRIBE only once it would survive kill -9 or a power loss. A
// compactor goroutine reclaims the space of deleted and overwritten records.
// Values are not kept in memory: the broker holds its own state, and reads
// the store once, with Scan, when it starts.
//
// Lock order: Store.closeMu, then Store.mu; Store.queueMu is taken alone.
// No lock is held while a segment is written or synced, except that Scan
// reads segments under Store.mu.
//
// The package imports only the standard library. It must never import the
// broker or session packages: the record kinds and their encoding belong to
// the broker, and the store does not interpret them.
package store
