package store

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// segmentFile is the active segment as the committer uses it. *os.File
// implements it; tests wrap it to inject errors.
type segmentFile interface {
	WriteAt(b []byte, off int64) (int, error)
	Truncate(size int64) error
	Sync() error
	Close() error
}

const segmentSuffix = ".log"

func segmentPath(dir string, id uint32) string {
	return filepath.Join(dir, fmt.Sprintf("%016d%s", id, segmentSuffix))
}

// listSegments returns the numbers of the segment files in dir, in log
// order. Other files are not the store's and are left alone.
func listSegments(dir string) ([]uint32, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []uint32
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segmentSuffix)
		if !ok || len(name) != 16 || !e.Type().IsRegular() {
			continue
		}
		id, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		if id == 0 || id > math.MaxUint32 {
			return nil, fmt.Errorf("store: segment %s: number out of range", e.Name())
		}
		ids = append(ids, uint32(id))
	}
	slices.Sort(ids)
	return ids, nil
}

// createSegment creates segment id with its header and makes both the file
// and its name durable, so the segment exists after a crash before anything
// in it is acknowledged. It returns the file open for writing.
func createSegment(dir string, id uint32) (*os.File, error) {
	path := segmentPath(dir, id)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, writeError(err)
	}
	if _, err := f.WriteAt(appendSegmentHeader(nil), 0); err != nil {
		f.Close()
		os.Remove(path)
		return nil, writeError(err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, &syncFailure{err}
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, &syncFailure{err}
	}
	return f, nil
}

// syncDir makes the creation and removal of files in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

// syncFailure is a failed fsync, after which the store fails for good.
type syncFailure struct{ err error }

func (e *syncFailure) Error() string { return "fsync: " + e.err.Error() }
func (e *syncFailure) Unwrap() error { return e.err }

// readSegment reads the first size bytes of segment id into buf, growing it.
func readSegment(dir string, id uint32, size int64, buf []byte) ([]byte, error) {
	f, err := os.Open(segmentPath(dir, id))
	if err != nil {
		return buf, err
	}
	defer f.Close()
	buf = slices.Grow(buf[:0], int(size))[:size]
	if _, err := io.ReadFull(f, buf); err != nil {
		return buf, fmt.Errorf("store: read %s: %w", f.Name(), err)
	}
	return buf, nil
}
