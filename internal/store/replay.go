package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// replay reads every segment in log order and rebuilds the index. It
// returns the number of the last frame, from which numbering continues.
//
// A frame is applied whole or not at all. The newest segment may end in a
// torn tail: a frame cut short or damaged by a crash in the middle of its
// write, with no valid frame after it. Under Sync that frame was never
// acknowledged, so the tail is cut off and logged. Damage anywhere else (an
// older segment, or a bad frame followed by a good one) is not a torn write;
// replay stops with a *CorruptError naming the file and offset rather than
// skip records the broker acknowledged. An empty newest segment is one whose
// creation a crash interrupted, and gets a fresh header; an empty older one
// lost its content, and is corruption. Gaps in the numbering are normal.
func (s *Store) replay() (lastSeq uint64, err error) {
	ids, err := listSegments(s.dir)
	if err != nil {
		return 0, err
	}
	var data []byte
	for i, id := range ids {
		newest := i == len(ids)-1
		path := segmentPath(s.dir, id)
		info, err := os.Stat(path)
		if err != nil {
			return 0, err
		}
		if info.Size() == 0 && !newest {
			// Segments are created with a synced header before any newer
			// one exists, so this one lost its content.
			return 0, &CorruptError{File: path, Offset: 0, Reason: "empty segment followed by newer segments"}
		}
		data, err = readSegment(s.dir, id, info.Size(), data)
		if err != nil {
			return 0, err
		}
		s.idx.addSegment(id, int64(len(data)))
		end, err := s.replaySegment(id, path, data, newest, &lastSeq)
		if err != nil {
			return 0, err
		}
		if end < len(data) || end < segmentHeaderSize {
			if err := s.cutTornTail(id, path, end, len(data)); err != nil {
				return 0, err
			}
		}
	}
	return lastSeq, nil
}

// replaySegment applies the frames of one segment to the index and returns
// where its valid part ends: len(data) unless the segment is the newest and
// ends in a torn tail.
func (s *Store) replaySegment(id uint32, path string, data []byte, newest bool, lastSeq *uint64) (int, error) {
	corrupt := func(off int, reason string) error {
		return &CorruptError{File: path, Offset: int64(off), Reason: reason}
	}
	reason, err := checkSegmentHeader(data)
	if err != nil {
		return 0, fmt.Errorf("store: %s: %w", path, err)
	}
	if reason != "" {
		if newest && !validFrameAfter(data, 0, *lastSeq) {
			return 0, nil
		}
		return 0, corrupt(0, reason)
	}
	off := segmentHeaderSize
	for off < len(data) {
		seq, body, reason := parseFrame(data, off)
		if reason != "" {
			if newest && !validFrameAfter(data, off+1, *lastSeq) {
				return off, nil
			}
			return 0, corrupt(off, reason)
		}
		if seq <= *lastSeq {
			return 0, corrupt(off, fmt.Sprintf("frame number %d after %d", seq, *lastSeq))
		}
		*lastSeq = seq
		base := off + frameHeaderSize
		for p := 0; p < len(body); {
			op, err := decodeOp(body[p:])
			if err != nil {
				return 0, corrupt(base+p, err.Error())
			}
			s.idx.apply(op, location{segment: id, offset: uint32(base + p), size: uint32(op.size)})
			p += op.size
		}
		off = base + len(body)
	}
	return off, nil
}

// validFrameAfter says whether a valid frame numbered after lastSeq starts
// anywhere at or after from: if so, the damage before it is not a torn tail.
func validFrameAfter(data []byte, from int, lastSeq uint64) bool {
	magic := binary.LittleEndian.AppendUint32(nil, frameMagic)
	for from < len(data) {
		i := bytes.Index(data[from:], magic)
		if i < 0 {
			return false
		}
		if seq, _, reason := parseFrame(data, from+i); reason == "" && seq > lastSeq {
			return true
		}
		from += i + 1
	}
	return false
}

// cutTornTail truncates the newest segment to end, or rewrites its header if
// not even that survived, and makes the cut durable before anything new is
// appended after it.
func (s *Store) cutTornTail(id uint32, path string, end, size int) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if end < segmentHeaderSize {
		end = 0
	}
	dropped := size - end
	err = f.Truncate(int64(end))
	if err == nil && end == 0 {
		_, err = f.WriteAt(appendSegmentHeader(nil), 0)
		end = segmentHeaderSize
	}
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("store: cut torn tail of %s: %w", path, err)
	}
	seg := s.idx.byID[id]
	s.idx.diskBytes += int64(end) - seg.size
	seg.size = int64(end)
	s.log.Warn("store: cut torn tail of the newest segment; that write was never acknowledged under sync durability",
		"file", path, "offset", end, "dropped_bytes", dropped)
	return nil
}
