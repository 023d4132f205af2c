package main

import (
	"github.com/cockroachdb/pebble/v2"
)

// pebbleEngine is Pebble with its defaults and the newest on-disk format. A
// synced batch commit waits for the WAL fsync; Pebble's own commit pipeline
// would also group concurrent synced commits, but here every engine is fed by
// the same committer so they are compared on equal terms.
type pebbleEngine struct {
	db *pebble.DB
}

func openPebble(dir string, _ config) (engine, error) {
	db, err := pebble.Open(dir, &pebble.Options{
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             quietLogger{},
	})
	if err != nil {
		return nil, err
	}
	return &pebbleEngine{db: db}, nil
}

func (e *pebbleEngine) apply(ops []op, sync bool) error {
	b := e.db.NewBatch()
	defer b.Close()
	for _, o := range ops {
		var err error
		if o.value == nil {
			err = b.Delete(o.key, nil)
		} else {
			err = b.Set(o.key, o.value, nil)
		}
		if err != nil {
			return err
		}
	}
	wo := pebble.NoSync
	if sync {
		wo = pebble.Sync
	}
	return b.Commit(wo)
}

// sync writes an empty WAL record with Sync, which fsyncs the WAL and so
// everything committed before it.
func (e *pebbleEngine) sync() error { return e.db.LogData(nil, pebble.Sync) }

func (e *pebbleEngine) scan(fn func(key, value []byte)) (int, error) {
	it, err := e.db.NewIter(nil)
	if err != nil {
		return 0, err
	}
	n := 0
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return n, err
		}
		fn(it.Key(), v)
		n++
	}
	return n, it.Close()
}

func (e *pebbleEngine) close() error { return e.db.Close() }

// quietLogger drops Pebble's informational messages so they do not interleave
// with the tables; errors are still printed and fatal errors still stop the
// program.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	pebble.DefaultLogger.Errorf(format, args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	pebble.DefaultLogger.Fatalf(format, args...)
}
