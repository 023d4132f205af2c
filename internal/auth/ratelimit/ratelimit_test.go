package ratelimit

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// clock is a manual clock for one test goroutine.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestLimiter(cfg Config) (*Limiter, *clock) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg.Now = c.now
	return New(cfg), c
}

var (
	addrA = netip.MustParseAddr("192.0.2.1")
	addrB = netip.MustParseAddr("198.51.100.7")
)

func mustAllow(t *testing.T, l *Limiter, addr netip.Addr, user string) {
	t.Helper()
	if wait, ok := l.Allow(addr, user); !ok {
		t.Fatalf("Allow(%v, %q) refused for %v, want allowed", addr, user, wait)
	}
}

func mustRefuse(t *testing.T, l *Limiter, addr netip.Addr, user string, want time.Duration) {
	t.Helper()
	wait, ok := l.Allow(addr, user)
	if ok {
		t.Fatalf("Allow(%v, %q) allowed, want refused for %v", addr, user, want)
	}
	if wait != want {
		t.Fatalf("Allow(%v, %q) refused for %v, want %v", addr, user, wait, want)
	}
}

func TestFreeFailuresDoNotWait(t *testing.T) {
	l, _ := newTestLimiter(Config{Free: 5, Base: time.Second})
	for range 4 {
		mustAllow(t, l, addrA, "alice")
		l.Failed(addrA, "alice")
	}
	mustAllow(t, l, addrA, "alice")
	l.Failed(addrA, "alice") // the fifth
	mustRefuse(t, l, addrA, "alice", time.Second)
}

func TestDelayDoublesUpToMax(t *testing.T) {
	l, c := newTestLimiter(Config{Free: 2, Base: time.Second, Max: 10 * time.Second})
	l.Failed(addrA, "alice")
	want := []time.Duration{1, 2, 4, 8, 10, 10}
	for i, w := range want {
		l.Failed(addrA, "alice")
		w *= time.Second
		mustRefuse(t, l, addrA, "alice", w)
		c.advance(w - time.Millisecond)
		mustRefuse(t, l, addrA, "alice", time.Millisecond)
		c.advance(time.Millisecond)
		if _, ok := l.Allow(addrA, "alice"); !ok {
			t.Fatalf("failure %d: still refused after %v", i+2, w)
		}
	}
}

func TestDelayDoesNotOverflow(t *testing.T) {
	cfg := Config{Free: 1, Base: time.Second, Max: 1<<63 - 1}.withDefaults()
	for f := 1; f < 200; f++ {
		if d := cfg.delay(f); d < time.Second {
			t.Fatalf("delay(%d) = %v", f, d)
		}
	}
}

func TestNegativeFreeDelaysFirstFailure(t *testing.T) {
	l, _ := newTestLimiter(Config{Free: -1, Base: time.Second})
	l.Failed(addrA, "alice")
	mustRefuse(t, l, addrA, "alice", time.Second)
}

func TestSuccessClearsUsernameNotAddress(t *testing.T) {
	l, c := newTestLimiter(Config{Free: 2, Base: time.Second})
	for range 3 {
		l.Failed(addrA, "alice")
	}
	c.advance(2 * time.Second)
	mustAllow(t, l, addrA, "alice")
	l.Succeeded("alice")

	// From another address, alice's history is gone: two free failures again.
	l.Failed(addrB, "alice")
	mustAllow(t, l, addrB, "alice")

	// The address still counts: its next failure waits 4 s, whoever it tried.
	l.Failed(addrA, "bob")
	mustRefuse(t, l, addrA, "carol", 4*time.Second)
}

func TestEitherKeyRefuses(t *testing.T) {
	l, _ := newTestLimiter(Config{Free: 3, Base: time.Second})

	// One address guessing many usernames.
	for _, user := range []string{"u1", "u2", "u3"} {
		l.Failed(addrA, user)
	}
	mustRefuse(t, l, addrA, "u4", time.Second)
	mustAllow(t, l, addrB, "u4")

	// Many addresses guessing one username.
	for i := range 3 {
		l.Failed(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), "victim")
	}
	mustRefuse(t, l, addrB, "victim", time.Second)
	mustAllow(t, l, addrB, "someone-else")
}

func TestIPv6KeyedByPrefix64(t *testing.T) {
	l, _ := newTestLimiter(Config{Free: 1, Base: time.Second})
	l.Failed(netip.MustParseAddr("2001:db8:1:2::1"), "u1")
	mustRefuse(t, l, netip.MustParseAddr("2001:db8:1:2:ffff:ffff:ffff:ffff"), "u2", time.Second)
	mustRefuse(t, l, netip.MustParseAddr("2001:db8:1:2::9%eth0"), "u3", time.Second)
	mustAllow(t, l, netip.MustParseAddr("2001:db8:1:3::1"), "u4")
}

func TestMappedIPv4IsIPv4(t *testing.T) {
	l, _ := newTestLimiter(Config{Free: 1, Base: time.Second})
	l.Failed(netip.MustParseAddr("::ffff:192.0.2.1"), "u1")
	mustRefuse(t, l, addrA, "u2", time.Second)

	l.Failed(addrB, "u3")
	mustRefuse(t, l, netip.MustParseAddr("::ffff:198.51.100.7"), "u4", time.Second)

	// 192.0.2.1 and the IPv6 /64 ::/64 that holds ::ffff:192.0.2.1 are not confused.
	mustAllow(t, l, netip.MustParseAddr("::1"), "u5")
}

func TestLoopbackIsLimited(t *testing.T) {
	l, _ := newTestLimiter(Config{Free: 1, Base: time.Second})
	l.Failed(netip.MustParseAddr("127.0.0.1"), "u1")
	mustRefuse(t, l, netip.MustParseAddr("127.0.0.1"), "u2", time.Second)
}

func TestZeroAddrLimitsOnlyUsername(t *testing.T) {
	l, _ := newTestLimiter(Config{Free: 1, Base: time.Second})
	l.Failed(netip.Addr{}, "u1")
	mustAllow(t, l, netip.Addr{}, "u2")
	mustRefuse(t, l, netip.Addr{}, "u1", time.Second)
	if n := len(l.sources.records); n != 0 {
		t.Fatalf("%d source records for the zero Addr, want 0", n)
	}
}

func TestForgottenAfterQuietSpell(t *testing.T) {
	l, c := newTestLimiter(Config{Free: 2, Base: time.Second, Max: time.Minute, Forget: 10 * time.Minute})
	for range 8 {
		l.Failed(addrA, "alice")
	}
	mustRefuse(t, l, addrA, "alice", time.Minute)
	c.advance(10*time.Minute - time.Second)
	mustAllow(t, l, addrA, "alice")
	c.advance(time.Second)

	// Forgotten: the count starts again, so the next failure is free.
	l.Failed(addrA, "alice")
	mustAllow(t, l, addrA, "alice")
	if r := l.usernames.live(l.userKey("alice"), l.now()); r == nil || r.failures != 1 {
		t.Fatalf("record after forgetting = %+v, want 1 failure", r)
	}
}

func TestForgetIsAtLeastMax(t *testing.T) {
	l, c := newTestLimiter(Config{Free: 1, Base: time.Hour, Max: time.Hour, Forget: time.Minute})
	l.Failed(addrA, "alice")
	c.advance(30 * time.Minute)
	mustRefuse(t, l, addrA, "alice", 30*time.Minute)
}

func TestSweepRemovesForgottenRecords(t *testing.T) {
	l, c := newTestLimiter(Config{Forget: time.Minute, Max: time.Second})
	for i := range 100 {
		l.Failed(addrA, fmt.Sprint("user", i))
	}
	c.advance(time.Minute)
	for range 100/sweepBatch + 1 {
		l.Failed(addrB, "x")
	}
	// All 100 swept, "x" remains; addrA swept, addrB remains.
	if n, m := len(l.usernames.records), len(l.sources.records); n != 1 || m != 1 {
		t.Fatalf("after sweeping: %d usernames, %d sources; want 1 and 1", n, m)
	}
}

// Only one of many attempts arriving as a delay ends gets its password checked.
func TestAllowedAttemptClaimsTheDelay(t *testing.T) {
	l, c := newTestLimiter(Config{Free: 1, Base: time.Second})
	l.Failed(addrA, "alice")
	c.advance(time.Second)
	mustAllow(t, l, addrA, "alice")
	mustRefuse(t, l, addrA, "alice", time.Second)
	mustRefuse(t, l, addrB, "alice", time.Second)
}

// A spray of made-up usernames, far more than MaxKeys, must not grow memory, and must not
// push out the record of a username that is being slowed down.
func TestMaxKeysBoundsSpray(t *testing.T) {
	const maxKeys = 1000
	l, c := newTestLimiter(Config{Free: 3, Base: time.Second, MaxKeys: maxKeys})
	for range 3 {
		l.Failed(addrA, "victim")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 100_000 {
		addr := netip.AddrFrom4([4]byte{10, byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
		l.Failed(addr, fmt.Sprintf("spray-%d-%x", i, rng.Uint64()))
		if i%1000 == 0 {
			c.advance(time.Millisecond)
		}
		if n, m := len(l.usernames.records), len(l.sources.records); n > maxKeys || m > maxKeys {
			t.Fatalf("after %d failures: %d usernames, %d sources; bound %d", i+1, n, m, maxKeys)
		}
	}
	mustRefuse(t, l, addrB, "victim", time.Second-100*time.Millisecond)
	checkLists(t, &l.usernames)
	checkLists(t, &l.sources)
}

// checkLists verifies that the two lists hold exactly the table's records, oldest first.
func checkLists[K comparable](t *testing.T, tb *table[K]) {
	t.Helper()
	n := 0
	for _, li := range []*list[K]{&tb.free, &tb.backingOff} {
		var prev *record[K]
		for r := li.oldest; r != nil; prev, r = r, r.newer {
			if r.older != prev || tb.records[r.key] != r || tb.listOf(r) != li {
				t.Fatalf("list out of order at %+v", r)
			}
			if prev != nil && prev.lastFailure > r.lastFailure {
				t.Fatalf("list not oldest first: %v before %v", prev.lastFailure, r.lastFailure)
			}
			n++
		}
		if li.newest != prev {
			t.Fatalf("list's newest is not its last record")
		}
	}
	if n != len(tb.records) {
		t.Fatalf("lists hold %d records, map %d", n, len(tb.records))
	}
}

func TestConcurrentUse(t *testing.T) {
	l := New(Config{Free: 2, Base: time.Microsecond, Max: time.Millisecond, MaxKeys: 64})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 0))
			for range 5000 {
				addr := netip.AddrFrom4([4]byte{192, 0, 2, byte(rng.IntN(100))})
				user := fmt.Sprint("u", rng.IntN(100))
				if _, ok := l.Allow(addr, user); !ok {
					continue
				}
				if rng.IntN(4) == 0 {
					l.Succeeded(user)
				} else {
					l.Failed(addr, user)
				}
			}
		})
	}
	wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	checkLists(t, &l.usernames)
	checkLists(t, &l.sources)
	if n := len(l.usernames.records); n > 64 {
		t.Fatalf("%d usernames, bound 64", n)
	}
}

func TestAllowUnknownKeyDoesNotAllocate(t *testing.T) {
	l := New(Config{})
	l.Failed(addrA, "known") // the maps are not empty
	addr6 := netip.MustParseAddr("2001:db8::1%eth0")
	allocs := testing.AllocsPerRun(1000, func() {
		l.Allow(addrB, "someone")
		l.Allow(addr6, "someone-else")
	})
	if allocs != 0 {
		t.Fatalf("Allow allocates %v times per call pair, want 0", allocs)
	}
}
