package topic

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func retainedMatch(r *Retained[int], filter string) []string {
	var out []string
	r.Match(filter, func(name string, v int) bool {
		out = append(out, fmt.Sprintf("%s=%d", name, v))
		return true
	})
	slices.Sort(out)
	return out
}

func TestRetainedSetGetDelete(t *testing.T) {
	r := NewRetained[int]()
	r.Set("a/b", 1)
	r.Set("a/b", 2) // replace
	r.Set("a", 3)
	r.Set("a/b/c", 4)
	if r.Len() != 3 {
		t.Fatalf("Len = %d, want 3", r.Len())
	}
	if v, ok := r.Get("a/b"); !ok || v != 2 {
		t.Fatalf("Get(a/b) = %d, %v", v, ok)
	}
	for _, name := range []string{"a/b/c/d", "a/", "b", "/a"} {
		if _, ok := r.Get(name); ok {
			t.Fatalf("Get(%q) found a message", name)
		}
	}
	if r.Delete("a/x") || r.Delete("a/b/c/d") {
		t.Fatal("Delete of an absent name reported success")
	}
	if !r.Delete("a/b") || r.Delete("a/b") {
		t.Fatal("Delete(a/b) did not report success exactly once")
	}
	if _, ok := r.Get("a/b"); ok {
		t.Fatal("deleted message still there")
	}
	if v, ok := r.Get("a/b/c"); !ok || v != 4 {
		t.Fatal("Delete removed a message below it")
	}
	if r.Len() != 2 {
		t.Fatalf("Len = %d, want 2", r.Len())
	}
}

func TestRetainedMatch(t *testing.T) {
	r := NewRetained[int]()
	for i, name := range []string{"sport", "sport/tennis", "sport/tennis/player1", "sport/golf", "/", "/x", "$SYS/load", "$SYS", "a/$b"} {
		r.Set(name, i)
	}
	tests := []struct {
		filter string
		want   []string
	}{
		{"sport/#", []string{"sport/golf=3", "sport/tennis/player1=2", "sport/tennis=1", "sport=0"}},
		{"sport/+", []string{"sport/golf=3", "sport/tennis=1"}},
		{"sport/+/+", []string{"sport/tennis/player1=2"}},
		{"sport", []string{"sport=0"}},
		{"sport/tennis/player1/#", []string{"sport/tennis/player1=2"}},
		{"+", []string{"sport=0"}},                                                   // not "$SYS" [MQTT-4.7.2-1]
		{"+/+", []string{"/=4", "/x=5", "a/$b=8", "sport/golf=3", "sport/tennis=1"}}, // "/" has levels "" and ""
		{"#", []string{"/=4", "/x=5", "a/$b=8", "sport/golf=3", "sport/tennis/player1=2", "sport/tennis=1", "sport=0"}},
		{"$SYS/#", []string{"$SYS/load=6", "$SYS=7"}},
		{"$SYS/+", []string{"$SYS/load=6"}},
		{"+/load", nil},
		{"a/+", []string{"a/$b=8"}},
		{"nothing/#", nil},
	}
	for _, tt := range tests {
		want := slices.Clone(tt.want)
		slices.Sort(want)
		if got := retainedMatch(r, tt.filter); !slices.Equal(got, want) {
			t.Errorf("Match(%q) = %v, want %v", tt.filter, got, want)
		}
	}
}

func TestRetainedMatchStop(t *testing.T) {
	r := NewRetained[int]()
	for i := range 100 {
		r.Set(fmt.Sprintf("a/%d/c", i), i)
	}
	for _, filter := range []string{"#", "a/#", "a/+/c", "+/+/+"} {
		calls := 0
		r.Match(filter, func(string, int) bool { calls++; return calls < 3 })
		if calls != 3 {
			t.Errorf("Match(%q) called fn %d times after it returned false, want 3", filter, calls)
		}
	}
}

func TestRetainedPrune(t *testing.T) {
	r := NewRetained[int]()
	names := []string{"a", "a/b", "a/b/c", "/", "//", "a//b", "$SYS/x/y/z/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17"}
	for i, n := range names {
		r.Set(n, i)
	}
	for _, n := range names {
		if !r.Delete(n) {
			t.Fatalf("Delete(%q) failed", n)
		}
	}
	if r.Len() != 0 || len(r.root.children) != 0 {
		t.Fatalf("not pruned: Len = %d, root children = %v", r.Len(), r.root.children)
	}
}

func TestRetainedRandomAgainstBruteForce(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	r := NewRetained[int]()
	ref := map[string]int{}
	for step := range 20000 {
		switch op := rnd.IntN(10); {
		case op < 4:
			name := randomName(rnd)
			r.Set(name, step)
			ref[name] = step
		case op < 6:
			name := randomName(rnd)
			_, had := ref[name]
			if got := r.Delete(name); got != had {
				t.Fatalf("Delete(%q) = %v, want %v", name, got, had)
			}
			delete(ref, name)
		default:
			filter := randomFilter(rnd)
			var want []string
			for name, v := range ref {
				if Match(filter, name) {
					want = append(want, fmt.Sprintf("%s=%d", name, v))
				}
			}
			slices.Sort(want)
			if got := retainedMatch(r, filter); !slices.Equal(got, want) {
				t.Fatalf("step %d Match(%q) = %v, want %v", step, filter, got, want)
			}
		}
		if r.Len() != len(ref) {
			t.Fatalf("Len = %d, want %d", r.Len(), len(ref))
		}
	}
	for name := range ref {
		r.Delete(name)
	}
	if len(r.root.children) != 0 {
		t.Fatal("not pruned after deleting everything")
	}
}

func TestRetainedConcurrent(t *testing.T) {
	r := NewRetained[int]()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), 5))
			for i := range 3000 {
				switch rnd.IntN(4) {
				case 0:
					r.Set(randomName(rnd), i)
				case 1:
					r.Delete(randomName(rnd))
				case 2:
					r.Get(randomName(rnd))
				default:
					r.Match(randomFilter(rnd), func(string, int) bool { return true })
				}
			}
		}()
	}
	wg.Wait()
}
