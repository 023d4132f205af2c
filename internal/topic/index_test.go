package topic

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

type sub struct{ id string } // stands for the broker's *session

func plainOf(m *Matches[*sub, int]) []string {
	var out []string
	for _, e := range m.Plain {
		out = append(out, fmt.Sprintf("%s %s %d", e.Subscriber.id, e.Filter, e.Options))
	}
	slices.Sort(out)
	return out
}

// checkAdjacent fails if one subscriber's entries in Plain are not adjacent.
func checkAdjacent[S comparable, O any](t *testing.T, m *Matches[S, O]) {
	t.Helper()
	seen := map[S]bool{}
	for i, e := range m.Plain {
		if i > 0 && m.Plain[i-1].Subscriber == e.Subscriber {
			continue
		}
		if seen[e.Subscriber] {
			t.Fatalf("entries of subscriber %v are not adjacent in %v", e.Subscriber, m.Plain)
		}
		seen[e.Subscriber] = true
	}
}

func TestIndexOverlappingAdjacent(t *testing.T) {
	x := NewIndex[*sub, int]()
	a, b, c := &sub{"a"}, &sub{"b"}, &sub{"c"}
	// Interleave subscribers across several matching filters.
	for i, f := range []string{"a/b/c", "a/+/c", "a/#", "+/b/c", "#", "a/b/+"} {
		x.Subscribe(a, f, i)
		x.Subscribe(b, f, i)
		if i%2 == 0 {
			x.Subscribe(c, f, i)
		}
	}
	m := x.Match("a/b/c")
	if len(m.Plain) != 15 {
		t.Fatalf("got %d entries, want 15: %v", len(m.Plain), plainOf(m))
	}
	checkAdjacent(t, m)

	// The map-based grouping for many entries.
	y := NewIndex[int, int]()
	for s := range 50 {
		for _, f := range []string{"x/y", "x/+", "+/y", "#"} {
			y.Subscribe(s, f, 0)
		}
	}
	m2 := y.Match("x/y")
	if len(m2.Plain) != 200 {
		t.Fatalf("got %d entries, want 200", len(m2.Plain))
	}
	checkAdjacent(t, m2)
}

func TestIndexReplace(t *testing.T) {
	x := NewIndex[*sub, int]()
	a := &sub{"a"}
	if x.Subscribe(a, "a/+", 1) {
		t.Fatal("first Subscribe reported a replacement")
	}
	if !x.Subscribe(a, "a/+", 2) {
		t.Fatal("second Subscribe to the same filter did not report a replacement")
	}
	if x.Subscribe(a, "a/#", 3) {
		t.Fatal("Subscribe to a different filter reported a replacement")
	}
	if got, want := plainOf(x.Match("a/b")), []string{"a a/# 3", "a a/+ 2"}; !slices.Equal(got, want) {
		t.Fatalf("Match = %v, want %v", got, want)
	}
	if x.Len() != 2 {
		t.Fatalf("Len = %d, want 2", x.Len())
	}
	// A shared subscription to the same inner filter is a different one.
	if x.Subscribe(a, "$share/g/a/+", 4) {
		t.Fatal("shared Subscribe reported a replacement of a plain one")
	}
	if !x.Subscribe(a, "$share/g/a/+", 5) {
		t.Fatal("second shared Subscribe did not report a replacement")
	}
	m := x.Match("a/b")
	if len(m.Groups) != 1 || len(m.Groups[0].Members) != 1 || m.Groups[0].Members[0].Options != 5 {
		t.Fatalf("Groups = %+v", m.Groups)
	}
	if x.Len() != 3 {
		t.Fatalf("Len = %d, want 3", x.Len())
	}
}

func TestIndexUnsubscribe(t *testing.T) {
	x := NewIndex[*sub, int]()
	a, b := &sub{"a"}, &sub{"b"}
	x.Subscribe(a, "a/+", 0)
	x.Subscribe(b, "a/+", 0)
	x.Subscribe(a, "a/#", 0)
	if x.Unsubscribe(a, "a/b") {
		t.Fatal("Unsubscribe of an unknown filter reported success")
	}
	if x.Unsubscribe(a, "a/+/c") {
		t.Fatal("Unsubscribe below an existing node reported success")
	}
	if x.Unsubscribe(&sub{"c"}, "a/+") {
		t.Fatal("Unsubscribe of an unknown subscriber reported success")
	}
	if !x.Unsubscribe(a, "a/+") {
		t.Fatal("Unsubscribe failed")
	}
	if x.Unsubscribe(a, "a/+") {
		t.Fatal("second Unsubscribe reported success")
	}
	if got, want := plainOf(x.Match("a/x")), []string{"a a/# 0", "b a/+ 0"}; !slices.Equal(got, want) {
		t.Fatalf("Match = %v, want %v", got, want)
	}
	if x.Len() != 2 {
		t.Fatalf("Len = %d, want 2", x.Len())
	}
}

// Removing every subscription leaves an empty root: no unbounded growth.
func TestIndexPrune(t *testing.T) {
	x := NewIndex[int, int]()
	filters := []string{"a/b/c", "a/b", "a/+/c", "a/#", "#", "+", "/", "//", "$SYS/#", "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s"}
	for s := range 40 { // more than posThreshold subscribers per node
		for _, f := range filters {
			x.Subscribe(s, f, 0)
			x.Subscribe(s, "$share/g"+fmt.Sprint(s%3)+"/"+f, 0)
		}
	}
	for s := range 40 {
		for _, f := range filters {
			if !x.Unsubscribe(s, f) || !x.Unsubscribe(s, "$share/g"+fmt.Sprint(s%3)+"/"+f) {
				t.Fatalf("Unsubscribe(%d, %q) failed", s, f)
			}
		}
	}
	if x.Len() != 0 || !x.root.empty() {
		t.Fatalf("after removing all: Len = %d, root = %+v", x.Len(), x.root)
	}
	if m := x.Match("a/b/c"); len(m.Plain) != 0 || len(m.Groups) != 0 {
		t.Fatalf("Match after removing all = %+v", m)
	}
}

func TestIndexSharedGroups(t *testing.T) {
	x := NewIndex[*sub, int]()
	a, b, c := &sub{"a"}, &sub{"b"}, &sub{"c"}
	x.Subscribe(a, "$share/g1/s/+", 1)
	x.Subscribe(b, "$share/g1/s/+", 2)
	x.Subscribe(c, "$share/g2/s/+", 3) // other group, same filter
	x.Subscribe(c, "$share/g1/s/#", 4) // same group name, other filter
	x.Subscribe(c, "s/+", 5)           // plain subscription to the same filter

	m := x.Match("s/x")
	if len(m.Plain) != 1 || m.Plain[0].Filter != "s/+" {
		t.Fatalf("Plain = %+v", m.Plain)
	}
	if len(m.Groups) != 3 {
		t.Fatalf("got %d groups, want 3", len(m.Groups))
	}
	byKey := map[string]*Group[*sub, int]{}
	for _, g := range m.Groups {
		byKey[g.Name+" "+g.Filter] = g
	}
	g1 := byKey["g1 s/+"]
	if g1 == nil || len(g1.Members) != 2 || byKey["g2 s/+"] == nil || byKey["g1 s/#"] == nil {
		t.Fatalf("groups = %v", byKey)
	}
	if g1.Members[0].Filter != "$share/g1/s/+" {
		t.Fatalf("member filter = %q, want the full filter", g1.Members[0].Filter)
	}

	// Snapshot immutability: joins, leaves and option changes leave a held
	// snapshot alone.
	held := slices.Clone(g1.Members)
	x.Subscribe(a, "$share/g1/s/+", 9) // replace in place would show here
	x.Subscribe(c, "$share/g1/s/+", 6)
	mid := x.Match("s/x")
	heldMid := map[*Group[*sub, int]][]Entry[*sub, int]{}
	for _, g := range mid.Groups {
		heldMid[g] = slices.Clone(g.Members)
	}
	x.Unsubscribe(a, "$share/g1/s/+")
	x.Subscribe(a, "$share/g1/s/+", 7)
	x.Subscribe(b, "$share/g1/s/+", 8)
	if !slices.Equal(held, g1.Members) {
		t.Fatalf("held snapshot changed: %v, was %v", g1.Members, held)
	}
	for g, members := range heldMid {
		if !slices.Equal(members, g.Members) {
			t.Fatalf("held snapshot of %s %s changed: %v, was %v", g.Name, g.Filter, g.Members, members)
		}
	}
	var g1now *Group[*sub, int]
	for _, g := range x.Match("s/x").Groups {
		if g.Name == "g1" && g.Filter == "s/+" {
			g1now = g
		}
	}
	if g1now == nil || len(g1now.Members) != 3 {
		t.Fatalf("current g1 = %+v", g1now)
	}

	// The round-robin counter is shared by every snapshot of the live group.
	start := g1.Next()
	if got := g1now.Next(); got != start+1 {
		t.Fatalf("Next on the new snapshot = %d, want %d", got, start+1)
	}
	if got := g1.Next(); got != start+2 {
		t.Fatalf("Next on the old snapshot = %d, want %d", got, start+2)
	}
	counts := make([]int, len(g1now.Members))
	for range 300 {
		counts[g1now.Next()%uint32(len(g1now.Members))]++
	}
	for i, n := range counts {
		if n != 100 {
			t.Fatalf("member %d picked %d times of 300: %v", i, n, counts)
		}
	}
	if other := byKey["g2 s/+"]; other.Next() != 0 {
		t.Fatal("groups share a counter")
	}

	// The last member leaving removes the group.
	x.Unsubscribe(c, "$share/g2/s/+")
	for _, g := range x.Match("s/x").Groups {
		if g.Name == "g2" {
			t.Fatal("empty group still matched")
		}
	}
	if x.Len() != 5 {
		t.Fatalf("Len = %d, want 5", x.Len())
	}
}

func TestIndexCacheInvalidation(t *testing.T) {
	x := NewIndex[*sub, int]()
	a, b := &sub{"a"}, &sub{"b"}
	x.Subscribe(a, "a/b", 1)
	m1 := x.Match("a/b")
	if m2 := x.Match("a/b"); m2 != m1 {
		t.Fatal("second Match did not come from the cache")
	}
	if m := x.Match("nothing"); len(m.Plain) != 0 || x.Match("nothing") != m {
		t.Fatal("empty answer not cached")
	}

	x.Subscribe(b, "a/+", 2)
	if got := plainOf(x.Match("a/b")); len(got) != 2 {
		t.Fatalf("Match after Subscribe = %v, want 2 entries", got)
	}
	if len(m1.Plain) != 1 {
		t.Fatal("cached Matches modified by Subscribe")
	}
	x.Subscribe(b, "a/+", 3) // replace: new options must be seen
	if got, want := plainOf(x.Match("a/b")), []string{"a a/b 1", "b a/+ 3"}; !slices.Equal(got, want) {
		t.Fatalf("Match after replace = %v, want %v", got, want)
	}
	x.Unsubscribe(a, "a/b")
	if got, want := plainOf(x.Match("a/b")), []string{"b a/+ 3"}; !slices.Equal(got, want) {
		t.Fatalf("Match after Unsubscribe = %v, want %v", got, want)
	}
	x.Subscribe(a, "$share/g/a/b", 4)
	if m := x.Match("a/b"); len(m.Groups) != 1 {
		t.Fatalf("Match after shared Subscribe = %+v", m)
	}
	x.Subscribe(b, "nothing", 5)
	if m := x.Match("nothing"); len(m.Plain) != 1 {
		t.Fatal("cached empty answer survived a Subscribe")
	}
}

func TestIndexCacheBounded(t *testing.T) {
	x := NewIndex[int, int]()
	x.Subscribe(1, "#", 0)
	for i := range 3 * maxCache {
		if m := x.Match(fmt.Sprintf("t/%d", i)); len(m.Plain) != 1 {
			t.Fatal("no match")
		}
	}
	if n := len(x.cache); n > maxCache {
		t.Fatalf("cache holds %d entries, bound is %d", n, maxCache)
	}
	long := string(make([]byte, maxCachedName+1))
	x.Match(long)
	if _, ok := x.cache[long]; ok {
		t.Fatal("long name cached")
	}
}

func TestIndexCacheHitAllocs(t *testing.T) {
	x := NewIndex[int, int]()
	x.Subscribe(1, "a/+/c", 0)
	x.Subscribe(2, "a/#", 0)
	x.Subscribe(3, "$share/g/a/b/c", 0)
	x.Match("a/b/c")
	if n := testing.AllocsPerRun(100, func() { x.Match("a/b/c") }); n != 0 {
		t.Errorf("cache hit allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { x.Match("x/y") }); n != 0 {
		t.Errorf("cached empty answer allocates %v times", n)
	}
}

// randomFilter and randomName draw from a small alphabet so that matches,
// overlaps and the '$' rule are all common.
var levels = []string{"a", "b", "c", "", "$s"}

func randomName(r *rand.Rand) string {
	n := 1 + r.IntN(4)
	s := ""
	for i := range n {
		if i > 0 {
			s += "/"
		}
		s += levels[r.IntN(len(levels))]
	}
	if s == "" {
		return "/" // a valid name has at least one character [MQTT-4.7.3-1]
	}
	return s
}

func randomFilter(r *rand.Rand) string {
	n := 1 + r.IntN(4)
	s := ""
	for i := range n {
		if i > 0 {
			s += "/"
		}
		switch p := r.IntN(10); {
		case p < 2:
			s += "+"
		case p < 3 && i == n-1:
			s += "#"
		default:
			s += levels[r.IntN(len(levels))]
		}
	}
	if s == "" {
		return "//"
	}
	return s
}

type subscription struct {
	sub    int
	filter string
	opts   int
}

// bruteForce answers like Index.Match by scanning every subscription with
// the reference matcher.
func bruteForce(subs map[[2]any]subscription, name string) (plain []string, groups map[string][]string) {
	groups = map[string][]string{}
	for _, s := range subs {
		group, inner, shared, _ := ParseShared(s.filter)
		if !Match(inner, name) {
			continue
		}
		e := fmt.Sprintf("%d %s %d", s.sub, s.filter, s.opts)
		if shared {
			k := group + " " + inner
			groups[k] = append(groups[k], e)
		} else {
			plain = append(plain, e)
		}
	}
	slices.Sort(plain)
	for _, g := range groups {
		slices.Sort(g)
	}
	return plain, groups
}

func indexAnswer(t *testing.T, m *Matches[int, int]) (plain []string, groups map[string][]string) {
	t.Helper()
	checkAdjacent(t, m)
	for _, e := range m.Plain {
		plain = append(plain, fmt.Sprintf("%d %s %d", e.Subscriber, e.Filter, e.Options))
	}
	slices.Sort(plain)
	groups = map[string][]string{}
	for _, g := range m.Groups {
		k := g.Name + " " + g.Filter
		if _, dup := groups[k]; dup {
			t.Fatalf("group %q twice", k)
		}
		for _, e := range g.Members {
			groups[k] = append(groups[k], fmt.Sprintf("%d %s %d", e.Subscriber, e.Filter, e.Options))
		}
		slices.Sort(groups[k])
	}
	return plain, groups
}

func sameGroups(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestIndexRandomAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := NewIndex[int, int]()
	subs := map[[2]any]subscription{}
	for step := range 20000 {
		s := r.IntN(8)
		f := randomFilter(r)
		if r.IntN(4) == 0 {
			f = "$share/g" + fmt.Sprint(r.IntN(2)) + "/" + f
		}
		key := [2]any{s, f}
		switch op := r.IntN(10); {
		case op < 5:
			_, had := subs[key]
			if got := x.Subscribe(s, f, step); got != had {
				t.Fatalf("Subscribe(%d, %q) replaced = %v, want %v", s, f, got, had)
			}
			subs[key] = subscription{s, f, step}
		case op < 7:
			_, had := subs[key]
			if got := x.Unsubscribe(s, f); got != had {
				t.Fatalf("Unsubscribe(%d, %q) = %v, want %v", s, f, got, had)
			}
			delete(subs, key)
		default:
			name := randomName(r)
			wantPlain, wantGroups := bruteForce(subs, name)
			gotPlain, gotGroups := indexAnswer(t, x.Match(name))
			if !slices.Equal(gotPlain, wantPlain) || !sameGroups(gotGroups, wantGroups) {
				t.Fatalf("step %d Match(%q):\n got %v %v\nwant %v %v", step, name, gotPlain, gotGroups, wantPlain, wantGroups)
			}
		}
		if x.Len() != len(subs) {
			t.Fatalf("Len = %d, want %d", x.Len(), len(subs))
		}
	}
	for k := range subs {
		x.Unsubscribe(k[0].(int), k[1].(string))
	}
	if !x.root.empty() {
		t.Fatal("trie not pruned after removing every subscription")
	}
}

func TestIndexConcurrent(t *testing.T) {
	x := NewIndex[int, int]()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for i := range 3000 {
				f := randomFilter(r)
				if w%2 == 0 {
					f = "$share/g/" + f
				}
				switch r.IntN(3) {
				case 0:
					x.Subscribe(w, f, i)
				case 1:
					x.Unsubscribe(w, f)
				default:
					m := x.Match(randomName(r))
					for _, g := range m.Groups {
						_ = g.Members[g.Next()%uint32(len(g.Members))]
					}
					for _, e := range m.Plain {
						if !Match(e.Filter, e.Filter) && e.Subscriber < 0 {
							t.Error("unreachable")
						}
					}
				}
			}
			// Leave nothing behind.
			for _, f := range allFilters(x, w) {
				x.Unsubscribe(w, f)
			}
		}()
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				x.Match([]string{"a/b", "a", "$s/a", "b/c/a"}[i%4])
				_ = x.Len()
			}
		}()
	}
	wg.Wait()
	if x.Len() != 0 || !x.root.empty() {
		t.Fatalf("Len = %d after every worker unsubscribed", x.Len())
	}
}

// allFilters lists the filters of sub by walking the trie (test helper).
func allFilters(x *Index[int, int], sub int) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []string
	var walk func(n *node[int, int])
	walk = func(n *node[int, int]) {
		for _, e := range n.subs {
			if e.Subscriber == sub {
				out = append(out, e.Filter)
			}
		}
		for _, g := range n.groups {
			for _, e := range g.Members {
				if e.Subscriber == sub {
					out = append(out, e.Filter)
				}
			}
		}
		if n.one != nil {
			walk(n.one)
		}
		for _, c := range n.children {
			walk(c)
		}
		if n.plus != nil {
			walk(n.plus)
		}
		if n.hash != nil {
			walk(n.hash)
		}
	}
	walk(x.root)
	return out
}
