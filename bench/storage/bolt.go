package main

import (
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

var boltBucket = []byte("messages")

// boltEngine is bbolt with etcd's settings: a hash-map freelist that is not
// written on every commit but rebuilt by scanning the file at open.
type boltEngine struct {
	db *bolt.DB
}

func openBolt(dir string, _ config) (engine, error) {
	db, err := bolt.Open(filepath.Join(dir, "gridmq.db"), 0o600, &bolt.Options{
		Timeout:        time.Second, // flock: a second broker on the same dir fails instead of waiting
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &boltEngine{db: db}, nil
}

func (e *boltEngine) apply(ops []op, sync bool) error {
	// NoSync is read at commit; only the committer goroutine writes, so
	// switching it per batch is safe.
	e.db.NoSync = !sync
	return e.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltBucket)
		for _, o := range ops {
			var err error
			if o.value == nil {
				err = b.Delete(o.key)
			} else {
				err = b.Put(o.key, o.value)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *boltEngine) sync() error { return e.db.Sync() }

func (e *boltEngine) scan(fn func(key, value []byte)) (int, error) {
	n := 0
	err := e.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(boltBucket).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			fn(k, v)
			n++
		}
		return nil
	})
	return n, err
}

func (e *boltEngine) close() error { return e.db.Close() }
