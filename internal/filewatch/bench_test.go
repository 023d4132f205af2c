package filewatch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The cost of one poll of a password file and an ACL file of a few KiB each, which Run pays
// every interval.
func BenchmarkCheckTwoSmallFiles(b *testing.B) {
	dir := b.TempDir()
	paths := []string{filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")}
	for _, p := range paths {
		if err := os.WriteFile(p, []byte(strings.Repeat("user:$7$210000$salt$hash\n", 200)), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	w := New(paths, 0, func([]string) {})
	b.ReportAllocs()
	for b.Loop() {
		w.Check()
	}
}
