package passwd

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	stdhash "hash"
	"io"
	"sync"
	"sync/atomic"
)

// DefaultCacheSize bounds a Verifier's cache when NewVerifier is given zero.
const DefaultCacheSize = 4096

// Verifier checks CONNECT credentials against a File, remembering successful checks so that a
// client reconnecting with the same credentials does not pay the slow hash each time.
//
// The cache maps HMAC-SHA256(k, user || 0 || password), with k a random key drawn per Verifier
// and never stored or exported, to the encoded hash the password was verified against. This
// does not weaken the stored hashes: the cache lives only in this process's memory, and without
// k a cache key is no help in guessing a password, offline or online. A guess that is not cached still pays
// the full hash, failures are never cached, and an entry counts only while the user's current
// hash is still the one it verified against, so a changed or deleted password stops matching at
// once, even before Replace clears the cache.
type Verifier struct {
	macs   sync.Pool     // of HMAC-SHA256 under a random key that exists nowhere else
	max    int           // cache bound; immutable
	hashed atomic.Uint64 // full verifications done; see Hashed

	mu       sync.Mutex          // guards the fields below; never held while hashing
	file     *File               // owned by the Verifier; never modified after Replace
	cache    map[[32]byte]string // MAC of credentials -> hash.encoded they verified against
	inflight map[[32]byte]*check // MAC of credentials -> the hash being computed for them
}

// check is one slow verification in progress. Clients that connect at once with the same
// credentials (a fleet restarting, a reconnect storm) wait for it instead of each paying the
// full hash, which on a small machine would hold them all back for seconds.
type check struct {
	against *hash         // the hash verified against
	done    chan struct{} // closed when ok is set
	ok      bool
}

// NewVerifier returns a Verifier over f, which the caller must not modify afterwards.
// maxEntries bounds the cache; zero means DefaultCacheSize, negative disables it.
func NewVerifier(f *File, maxEntries int) *Verifier {
	if maxEntries == 0 {
		maxEntries = DefaultCacheSize
	}
	v := &Verifier{max: maxEntries, file: f, cache: make(map[[32]byte]string), inflight: make(map[[32]byte]*check)}
	key := make([]byte, 32)
	rand.Read(key)
	v.macs.New = func() any { return hmac.New(sha256.New, key) }
	return v
}

// Replace swaps in a newly loaded file (after SIGHUP, say) and empties the cache.
// The caller must not modify f afterwards.
func (v *Verifier) Replace(f *File) {
	v.mu.Lock()
	v.file = f
	clear(v.cache)
	v.mu.Unlock()
}

// Verify reports whether password is user's password, like File.Verify.
func (v *Verifier) Verify(user, password string) bool {
	_, ok := v.VerifyStamp(user, password)
	return ok
}

// Known reports whether user has been verified with password before against
// the hash the user has now: a check that costs no hashing, which a caller
// may let through where it slows down guesses. stamp is as for VerifyStamp.
func (v *Verifier) Known(user, password string) (stamp string, ok bool) {
	if v.max <= 0 {
		return "", false
	}
	mac := v.mac(user, password)
	v.mu.Lock()
	defer v.mu.Unlock()
	h := v.file.lookup(user)
	// Comparing hash strings need not be constant-time: they are not secret from
	// whoever can time this, only the password is, and it is already reduced to a MAC.
	if enc, hit := v.cache[mac]; hit && h != nil && enc == h.encoded {
		return enc, true
	}
	return "", false
}

// Stamp returns what identifies user's current password: the encoded hash,
// which changes whenever the password does. ok is false for an unknown user.
func (v *Verifier) Stamp(user string) (stamp string, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.file.Stamp(user)
}

// VerifyStamp is Verify that also returns the user's stamp (see Stamp) as it
// was when the password was verified, so that a caller can tell later whether
// the password has changed since.
func (v *Verifier) VerifyStamp(user, password string) (stamp string, ok bool) {
	mac := v.mac(user, password)

	v.mu.Lock()
	h := v.file.lookup(user)
	if h == nil || v.max <= 0 {
		v.mu.Unlock()
		if !verifyHash(h, password) {
			return "", false
		}
		return h.encoded, true
	}
	if enc, ok := v.cache[mac]; ok && enc == h.encoded {
		v.mu.Unlock()
		return enc, true
	}
	if c := v.inflight[mac]; c != nil && c.against == h {
		v.mu.Unlock()
		<-c.done
		if !c.ok {
			return "", false
		}
		return h.encoded, true
	}
	c := &check{against: h, done: make(chan struct{})}
	v.inflight[mac] = c
	v.mu.Unlock()

	c.ok = verifyHash(h, password)
	v.hashed.Add(1)
	v.mu.Lock()
	if v.inflight[mac] == c {
		delete(v.inflight, mac)
	}
	close(c.done)
	if !c.ok {
		v.mu.Unlock()
		return "", false
	}
	if len(v.cache) >= v.max {
		// Overflow policy: evict one arbitrary entry; the worst case is one more slow hash.
		for k := range v.cache {
			delete(v.cache, k)
			break
		}
	}
	v.cache[mac] = h.encoded
	v.mu.Unlock()
	return h.encoded, true
}

// Hashed reports how many verifications have paid the full hash of a known user: what the
// cache and the sharing of concurrent checks did not save.
func (v *Verifier) Hashed() uint64 { return v.hashed.Load() }

// cached reports the number of cached verifications, for tests.
func (v *Verifier) cached() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.cache)
}

func (v *Verifier) mac(user, password string) [32]byte {
	m := v.macs.Get().(stdhash.Hash)
	m.Reset()
	io.WriteString(m, user)
	m.Write([]byte{0})
	io.WriteString(m, password)
	var out [32]byte
	m.Sum(out[:0])
	v.macs.Put(m)
	return out
}
