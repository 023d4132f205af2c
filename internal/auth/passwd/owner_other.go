//go:build !unix

package passwd

import "os"

// keepOwner does nothing where files have no Unix owner.
func keepOwner(tmp *os.File, path string) error { return nil }
