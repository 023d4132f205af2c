package store

import (
	"errors"
	"fmt"
	"strconv"
	"syscall"
)

var (
	// ErrLocked is the error of an Open whose data dir another Store holds,
	// in this process or another; the error returned is a *LockedError.
	ErrLocked = errors.New("data dir is in use")

	// ErrFull refuses a commit that would not fit: the file system is out of
	// space or over a quota or file size limit, or the commit's puts would
	// take the data dir past Options.MaxBytes. The store stays usable:
	// deletes still go through, and later commits may succeed once space
	// comes back.
	ErrFull = errors.New("data dir is full")

	// ErrFailed answers every commit after a failed fsync. The kernel may
	// have dropped the pages it could not write, so no later sync could
	// prove them durable; the broker must stop taking persistent work and
	// restart, which replays what is on disk.
	ErrFailed = errors.New("store failed")

	// ErrClosed answers a Commit or Scan after Close.
	ErrClosed = errors.New("store closed")

	// ErrTooLarge refuses a commit whose key exceeds MaxKeyBytes or whose ops
	// exceed the largest frame (1 GiB).
	ErrTooLarge = errors.New("commit too large")

	// ErrCorrupt is the error of an Open or Scan that found a damaged
	// record anywhere but in the torn tail of the newest segment; the error
	// returned is a *CorruptError.
	ErrCorrupt = errors.New("data dir is corrupt")
)

// LockedError says which process holds the data dir.
type LockedError struct {
	Dir string
	PID int // 0 if the holder has not written it yet
}

func (e *LockedError) Error() string {
	pid := "unknown"
	if e.PID > 0 {
		pid = strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("data dir %s is in use by another gridmq (pid %s)", e.Dir, pid)
}

func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// CorruptError names the damaged place so an operator can inspect it.
type CorruptError struct {
	File   string
	Offset int64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("store: %s at byte offset %d: %s", e.File, e.Offset, e.Reason)
}

func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

type errUnsupportedVersion struct{ version uint32 }

func (e errUnsupportedVersion) Error() string {
	return fmt.Sprintf("segment format version %d is not supported (this gridmq writes version %d)", e.version, segmentVersion)
}

// writeError wraps the errors that mean "no space" as ErrFull. EFBIG comes
// from a file size limit (RLIMIT_FSIZE), which the store treats the same way.
func writeError(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EFBIG) || isQuotaError(err) {
		return fmt.Errorf("%w: %w", ErrFull, err)
	}
	return err
}
