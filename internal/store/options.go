package store

import (
	"fmt"
	"log/slog"
	"time"
)

// Durability says when a commit's callback runs relative to its fsync.
type Durability int

const (
	// Sync calls back only after the commit's frame is fsynced: nothing
	// acknowledged is lost to kill -9 or a power loss. The default.
	Sync Durability = iota
	// Interval calls back once the frame is written to the kernel and
	// fsyncs every Options.SyncEvery: survives kill -9, and a power loss
	// loses at most the last SyncEvery of commits.
	Interval
	// None never fsyncs on the commit path and leaves writeback to the
	// kernel. Segments are still synced when they fill, when compaction
	// moves records and at Close.
	None
)

func (d Durability) String() string {
	switch d {
	case Sync:
		return "sync"
	case Interval:
		return "interval"
	case None:
		return "none"
	}
	return fmt.Sprintf("Durability(%d)", int(d))
}

const (
	defaultSegmentBytes = 64 << 20
	minSegmentBytes     = 4 << 10
	// maxSegmentBytes keeps every offset below 4 GiB: a segment holds at
	// most maxSegmentBytes plus one frame of at most maxBodyBytes.
	maxSegmentBytes  = 1 << 30
	defaultSyncEvery = 100 * time.Millisecond
)

// Options configure a Store. The zero value is synced commits, 64 MiB
// segments and no size limit.
type Options struct {
	Durability Durability
	// SyncEvery is the fsync period under Interval; 100 ms if zero.
	SyncEvery time.Duration
	// SegmentBytes is the size at which the active segment is closed and a
	// new one started; 64 MiB if zero, between 4 KiB and 1 GiB. One frame
	// larger than this gets a segment of its own.
	SegmentBytes int64
	// MaxBytes bounds the segment files: a commit with a put that would take
	// them past it fails with ErrFull. Deletes are always accepted, so the
	// broker can free space; compaction gives it back. Compaction itself may
	// go past the bound by the live records of one segment for a moment. 0
	// means unlimited; otherwise at least 4 * SegmentBytes, so there are
	// old segments to reclaim.
	MaxBytes int64
	// Logger receives the torn tails cut at Open and compaction failures;
	// slog.Default() if nil.
	Logger *slog.Logger

	hooks hooks
}

// hooks let the package's tests stop the store at chosen points and inject
// I/O errors. Zero in production.
type hooks struct {
	// compactionStep, if set, is called after each step of reclaiming a
	// segment; returning false stops the compactor there for good, leaving
	// the files as a crash at that point would.
	compactionStep func(step compactionStep) bool
	// segmentFile, if set, wraps every segment file the committer writes.
	segmentFile func(segmentFile) segmentFile
}

func (o Options) withDefaults() (Options, error) {
	if o.Durability < Sync || o.Durability > None {
		return o, fmt.Errorf("store: unknown durability %d", int(o.Durability))
	}
	if o.SyncEvery == 0 {
		o.SyncEvery = defaultSyncEvery
	}
	if o.SyncEvery < 0 {
		return o, fmt.Errorf("store: negative SyncEvery %v", o.SyncEvery)
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = defaultSegmentBytes
	}
	if o.SegmentBytes < minSegmentBytes || o.SegmentBytes > maxSegmentBytes {
		return o, fmt.Errorf("store: SegmentBytes %d out of range [%d, %d]", o.SegmentBytes, minSegmentBytes, maxSegmentBytes)
	}
	if o.MaxBytes != 0 && o.MaxBytes < 4*o.SegmentBytes {
		return o, fmt.Errorf("store: MaxBytes %d is less than 4 * SegmentBytes (%d)", o.MaxBytes, 4*o.SegmentBytes)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
