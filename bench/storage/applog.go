package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// logEngine is an append-only log of segment files with an in-memory index,
// written with the standard library only.
//
// Record layout, little endian:
//
//	crc32c  uint32   Castagnoli, over everything after the length
//	length  uint32   of kind, key length, key and value
//	kind    byte     1 put, 2 delete
//	keylen  uint16
//	key     keylen bytes
//	value   the rest (puts only)
//
// Space comes back by dropping the oldest segment once the files hold more
// than twice the live data plus one segment: its live records are appended
// to the active segment and synced, then the file is removed. Only the oldest
// segment is ever removed, so a delete record can never outlive the segment
// holding the put it cancels, and a put cannot come back on replay.
type logEngine struct {
	dir    string
	segMax int64
	lock   *os.File

	segs  []*logSegment // oldest first; the last is appended to
	byID  map[uint32]*logSegment
	index map[string]logLoc
	live  int64 // bytes of records the index points at, over all segments
	disk  int64 // bytes in all segment files
	buf   []byte

	activeDirty bool // the active segment has writes not yet synced
}

type logSegment struct {
	id   uint32
	f    *os.File
	size int64
	live int64 // bytes of this segment's records that the index points at
}

// logLoc is where the live version of a key is: pointer-free so the garbage
// collector does not scan a million of them.
type logLoc struct {
	seg  uint32
	off  uint32
	size uint32 // whole record, header included
}

const (
	logHeader     = 8
	logKindPut    = 1
	logKindDelete = 2
)

var (
	castagnoli    = crc32.MakeTable(crc32.Castagnoli)
	errLogCorrupt = errors.New("log: corrupt record")
)

func openLog(dir string, cfg config) (engine, error) {
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("log: %s is in use: %w", dir, err)
	}
	e := &logEngine{
		dir:    dir,
		segMax: cfg.segmentSize,
		lock:   lock,
		byID:   make(map[uint32]*logSegment),
		index:  make(map[string]logLoc),
	}
	if err := e.replay(); err != nil {
		e.close()
		return nil, err
	}
	if len(e.segs) == 0 {
		if err := e.roll(); err != nil {
			e.close()
			return nil, err
		}
	}
	return e, nil
}

func segmentName(id uint32) string { return fmt.Sprintf("%08d.log", id) }

// replay reads every segment in order and rebuilds the index. A bad record
// in the last segment is a write torn by a crash: the segment is cut there.
// A bad record in any other segment is corruption and fails the open.
func (e *logEngine) replay() error {
	entries, err := os.ReadDir(e.dir)
	if err != nil {
		return err
	}
	var ids []uint32
	for _, de := range entries {
		name, ok := strings.CutSuffix(de.Name(), ".log")
		if !ok {
			continue
		}
		id, err := strconv.ParseUint(name, 10, 32)
		if err != nil {
			continue
		}
		ids = append(ids, uint32(id))
	}
	slices.Sort(ids)
	for i, id := range ids {
		f, err := os.OpenFile(filepath.Join(e.dir, segmentName(id)), os.O_RDWR, 0)
		if err != nil {
			return err
		}
		seg := &logSegment{id: id, f: f}
		e.segs = append(e.segs, seg)
		e.byID[id] = seg
		data, err := os.ReadFile(f.Name())
		if err != nil {
			return err
		}
		off := 0
		for off < len(data) {
			kind, key, _, size, err := parseRecord(data[off:])
			if err != nil {
				if i < len(ids)-1 {
					return fmt.Errorf("%w: segment %s offset %d", err, f.Name(), off)
				}
				if err := f.Truncate(int64(off)); err != nil {
					return err
				}
				break
			}
			e.track(kind, key, logLoc{seg: id, off: uint32(off), size: uint32(size)})
			off += size
		}
		seg.size = int64(off)
		e.disk += seg.size
	}
	return nil
}

func parseRecord(b []byte) (kind byte, key, value []byte, size int, err error) {
	if len(b) < logHeader+3 {
		return 0, nil, nil, 0, errLogCorrupt
	}
	n := int(binary.LittleEndian.Uint32(b[4:8]))
	if n < 3 || len(b) < logHeader+n {
		return 0, nil, nil, 0, errLogCorrupt
	}
	body := b[logHeader : logHeader+n]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[0:4]) {
		return 0, nil, nil, 0, errLogCorrupt
	}
	kind = body[0]
	kl := int(binary.LittleEndian.Uint16(body[1:3]))
	if 3+kl > n || (kind != logKindPut && kind != logKindDelete) {
		return 0, nil, nil, 0, errLogCorrupt
	}
	return kind, body[3 : 3+kl], body[3+kl:], logHeader + n, nil
}

func appendRecord(b []byte, o op) []byte {
	kind := byte(logKindPut)
	if o.value == nil {
		kind = logKindDelete
	}
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(3+len(o.key)+len(o.value)))
	b = append(b, kind)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(o.key)))
	b = append(b, o.key...)
	b = append(b, o.value...)
	binary.LittleEndian.PutUint32(b[start:], crc32.Checksum(b[start+logHeader:], castagnoli))
	return b
}

// track applies one record to the index and the live-byte counts.
func (e *logEngine) track(kind byte, key []byte, loc logLoc) {
	if old, ok := e.index[string(key)]; ok {
		e.byID[old.seg].live -= int64(old.size)
		e.live -= int64(old.size)
	}
	if kind == logKindDelete {
		delete(e.index, string(key))
		return
	}
	e.index[string(key)] = loc
	e.byID[loc.seg].live += int64(loc.size)
	e.live += int64(loc.size)
}

// roll syncs the active segment and starts a new one.
func (e *logEngine) roll() error {
	var id uint32 = 1
	if len(e.segs) > 0 {
		if err := e.syncActive(); err != nil {
			return err
		}
		id = e.segs[len(e.segs)-1].id + 1
	}
	f, err := os.OpenFile(filepath.Join(e.dir, segmentName(id)), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	seg := &logSegment{id: id, f: f}
	e.segs = append(e.segs, seg)
	e.byID[id] = seg
	return syncDir(e.dir) // the new name must survive a crash before anything in it counts
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (e *logEngine) syncActive() error {
	if !e.activeDirty {
		return nil
	}
	e.activeDirty = false
	return e.segs[len(e.segs)-1].f.Sync()
}

// write appends encoded records to the active segment, rolling first if they
// would not fit, and returns where they start.
func (e *logEngine) write(b []byte) (*logSegment, int64, error) {
	seg := e.segs[len(e.segs)-1]
	if seg.size > 0 && seg.size+int64(len(b)) > e.segMax {
		if err := e.roll(); err != nil {
			return nil, 0, err
		}
		seg = e.segs[len(e.segs)-1]
	}
	base := seg.size
	if _, err := seg.f.WriteAt(b, base); err != nil {
		return nil, 0, err
	}
	seg.size += int64(len(b))
	e.disk += int64(len(b))
	e.activeDirty = true
	return seg, base, nil
}

func (e *logEngine) apply(ops []op, sync bool) error {
	e.buf = e.buf[:0]
	for _, o := range ops {
		e.buf = appendRecord(e.buf, o)
	}
	seg, off, err := e.write(e.buf)
	if err != nil {
		return err
	}
	for _, o := range ops {
		kind := byte(logKindPut)
		if o.value == nil {
			kind = logKindDelete
		}
		size := logHeader + 3 + len(o.key) + len(o.value)
		e.track(kind, o.key, logLoc{seg: seg.id, off: uint32(off), size: uint32(size)})
		off += int64(size)
	}
	if sync {
		if err := e.syncActive(); err != nil {
			return err
		}
	}
	for len(e.segs) > 1 && e.disk > 2*e.live+e.segMax {
		if err := e.compactOldest(); err != nil {
			return err
		}
	}
	return nil
}

// compactOldest moves the live records of the oldest segment to the active
// one, syncs them, and removes the oldest segment's file.
func (e *logEngine) compactOldest() error {
	old := e.segs[0]
	data := make([]byte, old.size)
	if _, err := old.f.ReadAt(data, 0); err != nil {
		return err
	}
	type move struct {
		key  string
		off  int64 // in buf
		size int
	}
	var moves []move
	e.buf = e.buf[:0]
	for off := 0; off < len(data); {
		kind, key, _, size, err := parseRecord(data[off:])
		if err != nil {
			return fmt.Errorf("%w: segment %s offset %d", err, old.f.Name(), off)
		}
		if kind == logKindPut {
			if loc, ok := e.index[string(key)]; ok && loc.seg == old.id && loc.off == uint32(off) {
				moves = append(moves, move{key: string(key), off: int64(len(e.buf)), size: size})
				e.buf = append(e.buf, data[off:off+size]...)
			}
		}
		off += size
	}
	if len(moves) > 0 {
		seg, base, err := e.write(e.buf)
		if err != nil {
			return err
		}
		if err := e.syncActive(); err != nil {
			return err
		}
		for _, m := range moves {
			e.track(logKindPut, []byte(m.key), logLoc{seg: seg.id, off: uint32(base + m.off), size: uint32(m.size)})
		}
	}
	if err := old.f.Close(); err != nil {
		return err
	}
	if err := os.Remove(old.f.Name()); err != nil {
		return err
	}
	e.segs = e.segs[1:]
	delete(e.byID, old.id)
	e.disk -= old.size
	e.live -= old.live // zero unless a record was left behind
	return syncDir(e.dir)
}

func (e *logEngine) sync() error { return e.syncActive() }

func (e *logEngine) scan(fn func(key, value []byte)) (int, error) {
	keys := make([]string, 0, len(e.index))
	for k := range e.index {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var buf []byte
	for _, k := range keys {
		loc := e.index[k]
		buf = slices.Grow(buf[:0], int(loc.size))[:loc.size]
		if _, err := e.byID[loc.seg].f.ReadAt(buf, int64(loc.off)); err != nil {
			return 0, err
		}
		_, key, value, _, err := parseRecord(buf)
		if err != nil {
			return 0, err
		}
		fn(key, value)
	}
	return len(keys), nil
}

func (e *logEngine) close() error {
	err := e.syncActive()
	for _, s := range e.segs {
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
	}
	if e.lock != nil {
		e.lock.Close()
	}
	return err
}
