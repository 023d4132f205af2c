package store

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// model is what the store should hold: kind followed by key -> value.
type model map[string]string

func (m model) apply(ops []Op) {
	for _, op := range ops {
		id := string(op.Kind) + string(op.Key)
		if op.Delete {
			delete(m, id)
		} else {
			m[id] = string(op.Value)
		}
	}
}

func (m model) clone() model { return maps.Clone(m) }

func put(kind byte, key, value string) Op {
	return Op{Kind: kind, Key: []byte(key), Value: []byte(value)}
}

func del(kind byte, key string) Op { return Op{Kind: kind, Key: []byte(key), Delete: true} }

// quietLogger keeps the store's log lines, for tests to inspect.
func quietLogger(buf *bytes.Buffer) *slog.Logger {
	if buf == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(buf, nil))
}

func mustOpen(t testing.TB, dir string, o Options) *Store {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quietLogger(nil)
	}
	s, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

func mustCommit(t testing.TB, s *Store, m model, ops ...Op) {
	t.Helper()
	if err := s.CommitWait(ops); err != nil {
		t.Fatalf("CommitWait: %v", err)
	}
	if m != nil {
		m.apply(ops)
	}
}

func mustClose(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// contents scans s and fails on a key seen twice.
func contents(t testing.TB, s *Store) model {
	t.Helper()
	got := model{}
	err := s.Scan(func(kind byte, key, value []byte) error {
		id := string(kind) + string(key)
		if _, dup := got[id]; dup {
			return fmt.Errorf("Scan returned %q twice", id)
		}
		got[id] = string(value)
		return nil
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return got
}

func checkContents(t testing.TB, s *Store, want model) {
	t.Helper()
	got := contents(t, s)
	if maps.Equal(got, want) {
		return
	}
	var diff []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			diff = append(diff, fmt.Sprintf("missing %q", k))
		} else if g != v {
			diff = append(diff, fmt.Sprintf("%q = %q, want %q", k, g, v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diff = append(diff, fmt.Sprintf("unexpected %q", k))
		}
	}
	slices.Sort(diff)
	if len(diff) > 10 {
		diff = append(diff[:10], fmt.Sprintf("... and %d more", len(diff)-10))
	}
	t.Fatalf("store holds %d records, want %d:\n%s", len(got), len(want), strings.Join(diff, "\n"))
}

// reopen closes s and opens dir again with o.
func reopen(t testing.TB, s *Store, dir string, o Options) *Store {
	t.Helper()
	mustClose(t, s)
	return mustOpen(t, dir, o)
}

// segmentFiles returns the paths of the segment files in dir, oldest first.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	ids, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, id := range ids {
		paths = append(paths, segmentPath(dir, id))
	}
	return paths
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// copySegments copies the segment files of dir into a new directory, as a
// crash would leave them.
func copySegments(t testing.TB, dir string) string {
	t.Helper()
	dst := t.TempDir()
	for _, p := range segmentFiles(t, dir) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(p)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func value(i, n int) string {
	v := fmt.Sprintf("value-%d-", i)
	return v + strings.Repeat("x", max(0, n-len(v)))
}
