// Command pebble opens and closes a Pebble database: its size less the
// stdlib program's is what Pebble adds to a binary.
package main

import (
	"log"
	"os"

	"github.com/cockroachdb/pebble/v2"
)

func main() {
	dir, err := os.MkdirTemp("", "binsize-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := db.Set([]byte("k"), []byte("v"), pebble.Sync); err != nil {
		log.Fatal(err)
	}
	db.Close()
}
