//go:build !unix

package store

import (
	"errors"
	"os"
)

// lockDir is not implemented where flock is missing: two brokers on one
// data dir would corrupt it, so the store refuses to open rather than run
// unprotected.
func lockDir(dir string) (*os.File, error) {
	return nil, errors.New("store: locking the data dir is not supported on this platform")
}

func isQuotaError(error) bool { return false }
