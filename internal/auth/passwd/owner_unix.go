//go:build unix

package passwd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// keepOwner gives tmp the owner and group of the file at path, when there is one and they
// differ. Only root may give a file away, so for anyone else this fails unless they already
// own the file, which is what stops one user quietly taking over another's password file.
func keepOwner(tmp *os.File, path string) error {
	old, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	cur, err := tmp.Stat()
	if err != nil {
		return err
	}
	o, ok1 := old.Sys().(*syscall.Stat_t)
	c, ok2 := cur.Sys().(*syscall.Stat_t)
	if !ok1 || !ok2 || (o.Uid == c.Uid && o.Gid == c.Gid) {
		return nil
	}
	if err := tmp.Chown(int(o.Uid), int(o.Gid)); err != nil {
		return fmt.Errorf("keeping the owner %d:%d of %s: %w", o.Uid, o.Gid, path, err)
	}
	return nil
}
