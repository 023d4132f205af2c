package store

import (
	"os"
	"testing"
)

// FuzzOpen opens a data dir whose one segment holds a frame with a valid
// checksum around an arbitrary body, followed by arbitrary bytes: what a
// bug or a damaged disk, not a torn write, could leave. Open either fails
// with an error or gives a store that scans, takes a commit and keeps it
// across a reopen; it never panics.
func FuzzOpen(f *testing.F) {
	var body []byte
	for _, op := range []Op{put('q', "k1", "v1"), put('r', "site/1", "42"), del('q', "k0")} {
		body = appendOp(body, op)
	}
	f.Add(body, []byte(nil))
	f.Add(body, body)
	f.Add([]byte(nil), sealedFrame(body, 2))
	f.Fuzz(func(t *testing.T, body, tail []byte) {
		dir := t.TempDir()
		seg := appendSegmentHeader(nil)
		seg = append(seg, sealedFrame(body, 1)...)
		seg = append(seg, tail...)
		if err := os.WriteFile(segmentPath(dir, 1), seg, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, Options{Durability: None})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("Open failed without saying why")
			}
			return
		}
		m := contents(t, s)
		mustCommit(t, s, m, put('q', "after", "x"))
		s = reopen(t, s, dir, Options{Durability: None})
		checkContents(t, s, m)
		mustClose(t, s)
	})
}

// sealedFrame is body as one frame numbered seq.
func sealedFrame(body []byte, seq uint64) []byte {
	frame := append(make([]byte, frameHeaderSize), body...)
	sealFrame(frame, seq)
	return frame
}
