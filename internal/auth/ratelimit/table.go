package ratelimit

import "time"

// sweepBatch is how many forgotten records one failure may remove. Each failure adds at most
// one record, so removing up to eight keeps forgotten records from piling up, while no single
// call, after a long quiet spell, pays for sweeping the whole table under the lock.
const sweepBatch = 8

// table holds the failure records of one kind of key, at most cfg.MaxKeys of them.
//
// Records sit in one of two lists, each in order of last failure, oldest first: free holds those
// whose failures are still free, backingOff those that make their key wait. Forgetting and
// eviction both take the oldest record, which is the one closest to being forgotten anyway.
// When the table is full, a free record goes first: a spray of made-up usernames, each failing
// once, then only pushes out records like its own, never a key that is being slowed down. To
// push those out, a spray must fail Free times per key, and every failure also counts against
// the sender's address.
type table[K comparable] struct {
	cfg        *Config // the Limiter's; immutable
	records    map[K]*record[K]
	free       list[K]
	backingOff list[K]
}

// record counts one key's consecutive failures. Times are offsets from the Limiter's epoch.
type record[K comparable] struct {
	key         K
	failures    int
	lastFailure time.Duration
	notBefore   time.Duration // attempts are refused until then
	older       *record[K]
	newer       *record[K]
}

// list is an intrusive doubly linked list of records, so that moving a record costs no
// allocation and removing one needs no search.
type list[K comparable] struct {
	oldest, newest *record[K]
}

func newTable[K comparable](cfg *Config) table[K] {
	return table[K]{cfg: cfg, records: make(map[K]*record[K])}
}

// live returns key's record, or nil if it has none or it has been forgotten.
// Caller holds the Limiter's mu.
func (t *table[K]) live(key K, now time.Duration) *record[K] {
	r := t.records[key]
	if r == nil || t.forgotten(r, now) {
		return nil
	}
	return r
}

// fail counts a failure for key at now. Caller holds the Limiter's mu.
func (t *table[K]) fail(key K, now time.Duration) {
	t.sweep(now)
	r := t.records[key]
	switch {
	case r == nil:
		if len(t.records) >= t.cfg.MaxKeys {
			t.evict()
		}
		r = &record[K]{key: key}
		t.records[key] = r
	case t.forgotten(r, now):
		t.listOf(r).remove(r)
		r.failures = 0
	default:
		t.listOf(r).remove(r)
	}
	r.failures++
	r.lastFailure = now
	r.notBefore = now + t.cfg.delay(r.failures)
	t.listOf(r).pushNewest(r)
}

// listOf returns the list that holds r, which only fail changes.
func (t *table[K]) listOf(r *record[K]) *list[K] {
	if r.failures < t.cfg.Free {
		return &t.free
	}
	return &t.backingOff
}

// remove drops key's record, if any. Caller holds the Limiter's mu.
func (t *table[K]) remove(key K) {
	if r := t.records[key]; r != nil {
		t.listOf(r).remove(r)
		delete(t.records, key)
	}
}

func (t *table[K]) forgotten(r *record[K], now time.Duration) bool {
	return now-r.lastFailure >= t.cfg.Forget
}

// sweep removes up to sweepBatch forgotten records, oldest first.
func (t *table[K]) sweep(now time.Duration) {
	for range sweepBatch {
		r := t.free.oldest
		if r == nil || !t.forgotten(r, now) {
			r = t.backingOff.oldest
		}
		if r == nil || !t.forgotten(r, now) {
			return
		}
		t.remove(r.key)
	}
}

// evict makes room for one record; see table for the choice.
func (t *table[K]) evict() {
	r := t.free.oldest
	if r == nil {
		r = t.backingOff.oldest
	}
	t.remove(r.key)
}

// wait is how long an attempt on r's key must still wait; a nil r never waits.
func (r *record[K]) wait(now time.Duration) time.Duration {
	if r == nil || now >= r.notBefore {
		return 0
	}
	return r.notBefore - now
}

// claim gives an allowed attempt the key's current delay, if it has one, so that concurrent
// attempts behind it wait. It does not count as a failure, and the key is still forgotten
// Forget after its last real failure.
func (r *record[K]) claim(now time.Duration, cfg *Config) {
	if r != nil && r.failures >= cfg.Free {
		r.notBefore = now + cfg.delay(r.failures)
	}
}

func (l *list[K]) pushNewest(r *record[K]) {
	r.older, r.newer = l.newest, nil
	if l.newest != nil {
		l.newest.newer = r
	} else {
		l.oldest = r
	}
	l.newest = r
}

func (l *list[K]) remove(r *record[K]) {
	if r.older != nil {
		r.older.newer = r.newer
	} else {
		l.oldest = r.newer
	}
	if r.newer != nil {
		r.newer.older = r.older
	} else {
		l.newest = r.older
	}
	r.older, r.newer = nil, nil
}
