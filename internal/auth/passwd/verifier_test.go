package passwd

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestVerifierCache(t *testing.T) {
	f := New()
	for _, u := range []string{"alice", "bob"} {
		if err := f.Set(u, u+"-pw", cheap); err != nil {
			t.Fatal(err)
		}
	}
	v := NewVerifier(f, 0)

	steps := []struct {
		name, user, password string
		want                 bool
		wantCached           int
	}{
		{"miss then stored", "alice", "alice-pw", true, 1},
		{"hit", "alice", "alice-pw", true, 1},
		{"failure not cached", "alice", "wrong", false, 1},
		{"other user's password", "bob", "alice-pw", false, 1},
		{"unknown user", "carol", "alice-pw", false, 1},
		{"second user", "bob", "bob-pw", true, 2},
	}
	for _, s := range steps {
		if got := v.Verify(s.user, s.password); got != s.want {
			t.Fatalf("%s: Verify = %v, want %v", s.name, got, s.want)
		}
		if got := v.cached(); got != s.wantCached {
			t.Fatalf("%s: %d cached, want %d", s.name, got, s.wantCached)
		}
	}

	// A new file with alice's password changed: the old password must stop working at once.
	g := New()
	g.Set("alice", "alice-new", cheap)
	g.Set("bob", "bob-pw", cheap)
	v.Replace(g)
	if v.cached() != 0 {
		t.Fatal("Replace kept the cache")
	}
	if v.Verify("alice", "alice-pw") || !v.Verify("alice", "alice-new") {
		t.Fatal("changed password not honoured")
	}
}

// A stale cache entry, whose credentials verified against a hash the user no longer has, must
// not match even if the cache still holds it.
func TestVerifierStaleEntry(t *testing.T) {
	f := New()
	f.Set("alice", "old", cheap)
	v := NewVerifier(f, 0)
	if !v.Verify("alice", "old") {
		t.Fatal("refused")
	}
	v.mu.Lock()
	f.Set("alice", "new", cheap) // behind the Verifier's back, to leave the entry in place
	v.mu.Unlock()
	if v.Verify("alice", "old") {
		t.Fatal("stale cache entry accepted after the hash changed")
	}
}

func TestVerifierBound(t *testing.T) {
	f := New()
	users := []string{"a", "b", "c", "d", "e"}
	for _, u := range users {
		f.Set(u, "pw", cheap)
	}
	v := NewVerifier(f, 3)
	for _, u := range users {
		if !v.Verify(u, "pw") {
			t.Fatalf("%s refused", u)
		}
	}
	if n := v.cached(); n != 3 {
		t.Fatalf("%d cached, want the bound 3", n)
	}
	off := NewVerifier(f, -1)
	if !off.Verify("a", "pw") || off.cached() != 0 {
		t.Fatal("disabled cache stored an entry")
	}
}

func TestVerifierConcurrent(t *testing.T) {
	f := New()
	f.Set("alice", "pw", cheap)
	v := NewVerifier(f, 2)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				if i%4 == 0 && j == 10 {
					g := New()
					g.Set("alice", "pw", cheap)
					v.Replace(g)
				}
				if !v.Verify("alice", "pw") || v.Verify("alice", "nope") {
					t.Error("wrong answer under concurrency")
					return
				}
			}
		})
	}
	wg.Wait()
}

// An unknown user must cost about as much as a known one with the default hash, so that the
// response time does not reveal which usernames exist.
func TestUnknownUserCost(t *testing.T) {
	if testing.Short() {
		t.Skip("times the default hash")
	}
	if dummyHash().iterations != DefaultIterations {
		t.Fatalf("dummy hash has %d iterations, want %d", dummyHash().iterations, DefaultIterations)
	}
	f := New()
	if err := f.Set("alice", "pw", nil); err != nil {
		t.Fatal(err)
	}
	f.Verify("nobody", "pw") // build the dummy hash outside the timing
	timeOf := func(user string) time.Duration {
		best := time.Duration(1 << 62)
		for range 3 {
			start := time.Now()
			f.Verify(user, "wrong")
			best = min(best, time.Since(start))
		}
		return best
	}
	known, unknown := timeOf("alice"), timeOf("nobody")
	t.Logf("known user %v, unknown user %v", known, unknown)
	if unknown < known/2 || unknown > known*2 {
		t.Errorf("unknown user took %v, known user %v: not comparable", unknown, known)
	}
}

func BenchmarkVerify(b *testing.B) {
	f := New()
	if err := f.Set("alice", "correct horse", nil); err != nil {
		b.Fatal(err)
	}
	v := NewVerifier(f, -1)
	for b.Loop() {
		if !v.Verify("alice", "correct horse") {
			b.Fatal("refused")
		}
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	f := New()
	if err := f.Set("alice", "correct horse", nil); err != nil {
		b.Fatal(err)
	}
	v := NewVerifier(f, 0)
	v.Verify("alice", "correct horse")
	b.ReportAllocs()
	for b.Loop() {
		if !v.Verify("alice", "correct horse") {
			b.Fatal("refused")
		}
	}
}

// Clients connecting at once with the same credentials share one hash: the
// first computes it, the others wait for its answer, and later ones find the
// cache. A wrong password shares the refusal and is never cached.
func TestVerifierSharesConcurrentChecks(t *testing.T) {
	f := New()
	if err := f.Set("fleet", "right", PBKDF2{Iterations: 50000}); err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(f, 0)
	for _, tc := range []struct {
		password string
		want     bool
	}{{"right", true}, {"wrong", false}} {
		before := v.Hashed()
		start := make(chan struct{})
		var wg sync.WaitGroup
		var wrong atomic.Int32
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if _, ok := v.VerifyStamp("fleet", tc.password); ok != tc.want {
					wrong.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if wrong.Load() != 0 {
			t.Errorf("%s password: %d of 16 checks answered wrongly", tc.password, wrong.Load())
		}
		// A goroutine scheduled after the shared check ended hashes again only for a
		// wrong password, which is never cached; a right one finds the cache.
		if n := v.Hashed() - before; tc.want && n != 1 {
			t.Errorf("16 concurrent checks of the right password hashed %d times, want 1", n)
		}
	}
}
