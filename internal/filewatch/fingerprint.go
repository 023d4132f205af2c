package filewatch

import (
	"io"
	"os"
)

// MaxHashed is the largest file whose content is hashed on every poll. Password and ACL files
// are a few KiB, so hashing them twice a second costs microseconds; above this size a change is
// seen only through the file's identity, size and modification time.
const MaxHashed = 1 << 20

// fingerprint is what one poll knows of a file. Two fingerprints that are not the same mean the
// file changed in between.
type fingerprint struct {
	info   os.FileInfo // nil when the file could not be opened, examined or read
	hashed bool        // whether sum covers the content
	sum    uint64      // maphash of the content, under the Watcher's seed
}

// take fingerprints the file at path. It opens the file and examines the open file, so that
// identity, size and content all belong to the same file even if it is replaced meanwhile.
// Caller holds w.mu.
func (w *Watcher) take(path string) fingerprint {
	f, err := os.Open(path)
	if err != nil {
		return fingerprint{}
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fingerprint{}
	}
	if info.Size() > MaxHashed || !info.Mode().IsRegular() {
		return fingerprint{info: info}
	}
	w.hash.Reset() // keeps the seed drawn at the first use, so sums compare across polls
	// MaxHashed+1 bounds the read should the file grow while being read; a file still being
	// written differs at the next poll anyway.
	if _, err := io.CopyBuffer(&w.hash, io.LimitReader(f, MaxHashed+1), w.buf); err != nil {
		return fingerprint{}
	}
	return fingerprint{info: info, hashed: true, sum: w.hash.Sum64()}
}

// same reports whether a and b describe the same file with the same content. os.SameFile
// compares device and inode on Unix and the file index on Windows, so a file renamed over the
// old one differs even when its size and time match.
func (a fingerprint) same(b fingerprint) bool {
	if a.info == nil || b.info == nil {
		return a.info == nil && b.info == nil
	}
	return os.SameFile(a.info, b.info) &&
		a.info.Size() == b.info.Size() &&
		a.info.ModTime().Equal(b.info.ModTime()) &&
		a.hashed == b.hashed && a.sum == b.sum
}
