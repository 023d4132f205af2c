// Package ratelimit slows down password guessing over MQTT. It counts consecutive failed logins
// per source address and per username; once a key has used its free failures, further attempts
// are refused until a delay has passed since its last failure, and the delay doubles with every
// further failure up to a cap. A client that logs in correctly is never slowed by its own
// history, because a success clears its username's count.
//
// The broker asks Allow before it verifies a password (the check costs tens of milliseconds of
// CPU, see docs/decisions/0003-password-hashes.md), then reports the outcome with Failed or
// Succeeded. Exemptions, such as trusted networks, are the caller's decision: loopback addresses
// are limited like any other, and the zero netip.Addr means "no address to limit by".
//
// This package is a leaf: it must never import the broker.
package ratelimit

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// Limiter decides whether a login attempt may be verified now. It is safe for concurrent use;
// every method takes one mutex for a few map operations and never waits.
//
// Usernames are remembered only as a 64-bit hash under a seed drawn per Limiter, so a record has
// a fixed size however long the username sent in CONNECT (up to 64 KiB). Two usernames that
// share a hash share a record; without the seed, nobody can choose such a pair.
type Limiter struct {
	cfg   Config       // defaults applied; immutable
	seed  maphash.Seed // for usernames; immutable
	epoch time.Time    // cfg.Now() at New; records hold times as offsets from it

	mu        sync.Mutex // guards the fields below
	sources   table[netip.Prefix]
	usernames table[uint64]
}

// New returns a Limiter with cfg's zero fields replaced by their defaults.
func New(cfg Config) *Limiter {
	cfg = cfg.withDefaults()
	l := &Limiter{cfg: cfg, seed: maphash.MakeSeed(), epoch: cfg.Now()}
	l.sources = newTable[netip.Prefix](&l.cfg)
	l.usernames = newTable[uint64](&l.cfg)
	return l
}

// Allow reports whether an attempt from addr to log in as username may be verified now. If
// not, retryAfter is how long until it may, the longer of the two keys' remaining delays.
//
// An attempt allowed while a key is in backoff claims that key's current delay, so that of
// many connections racing in at the moment a delay ends, only one gets its password checked.
// Nothing is claimed while a key's failures are still free, so a burst of concurrent attempts
// on a fresh key all pass once; every failure among them then counts towards the delay.
// Refused attempts are not failures: a client retrying too early does not push its own delay
// further out, it only waits.
func (l *Limiter) Allow(addr netip.Addr, username string) (retryAfter time.Duration, ok bool) {
	source, hasSource := sourceOf(addr)
	user := l.userKey(username)

	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now() // under the lock, as in Failed
	var s *record[netip.Prefix]
	if hasSource {
		s = l.sources.live(source, now)
	}
	u := l.usernames.live(user, now)
	if wait := max(s.wait(now), u.wait(now)); wait > 0 {
		return wait, false
	}
	s.claim(now, &l.cfg)
	u.claim(now, &l.cfg)
	return 0, true
}

// Failed records a failed verification from addr for username.
func (l *Limiter) Failed(addr netip.Addr, username string) {
	source, hasSource := sourceOf(addr)
	user := l.userKey(username)

	l.mu.Lock()
	defer l.mu.Unlock()
	// Read under the lock: failures join their lists in time order, which
	// lets expiry stop at the first record still live.
	now := l.now()
	if hasSource {
		l.sources.fail(source, now)
	}
	l.usernames.fail(user, now)
}

// Succeeded records a successful verification for username, which clears its failures.
//
// The source address keeps its count on purpose. The address key is what stops one source from
// trying many usernames, and many clients can share one address (a NAT, a site's gateway): if a
// success cleared it, an attacker holding any one valid account, or sharing a NAT with a device
// that logs in often, could wipe the count between guesses at other accounts. The price is that
// a legitimate user behind the same address as a guesser may have to wait; a site that trusts a
// network can pass the zero netip.Addr for it.
func (l *Limiter) Succeeded(username string) {
	user := l.userKey(username)

	l.mu.Lock()
	defer l.mu.Unlock()
	l.usernames.remove(user)
}

func (l *Limiter) userKey(username string) uint64 { return maphash.String(l.seed, username) }

// now is the time since l.epoch, the form records keep times in: 8 bytes, not time.Time's 24.
func (l *Limiter) now() time.Duration { return l.cfg.Now().Sub(l.epoch) }
