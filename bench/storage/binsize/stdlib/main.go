// Command stdlib opens, syncs and closes a file with the standard library
// only: the baseline for the engines' sizes, and what the log needs.
package main

import (
	"hash/crc32"
	"log"
	"os"
	"path/filepath"
	"syscall"
)

func main() {
	dir, err := os.MkdirTemp("", "binsize-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	f, err := os.OpenFile(filepath.Join(dir, "00000001.log"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		log.Fatal(err)
	}
	sum := crc32.Checksum([]byte("x"), crc32.MakeTable(crc32.Castagnoli))
	if _, err := f.Write([]byte{byte(sum), byte(sum >> 8), byte(sum >> 16), byte(sum >> 24)}); err != nil {
		log.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		log.Fatal(err)
	}
	f.Close()
}
