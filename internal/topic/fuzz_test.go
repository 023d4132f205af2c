package topic

import (
	"strings"
	"testing"
)

// FuzzMatch checks the subscription trie and the retained tree against the
// reference matcher Match. filters holds several filters separated by '\n';
// each is subscribed by two subscribers (one of them twice, under different
// filters) so overlapping and shared subscriptions are exercised.
func FuzzMatch(f *testing.F) {
	for _, tt := range matchTests {
		f.Add(tt.filter, tt.name)
	}
	f.Add("a/+\na/#\n$share/g/a/b\n+/b\n#", "a/b")
	f.Fuzz(func(t *testing.T, filters, name string) {
		if ValidateName([]byte(name)) != nil {
			return
		}
		x := NewIndex[int, int]()
		r := NewRetained[int]()
		r.Set(name, 1)
		type sub struct {
			s      int
			filter string
		}
		var subs []sub
		for i, filter := range strings.Split(filters, "\n") {
			if ValidateFilter(filter) != nil {
				continue
			}
			subs = append(subs, sub{i % 3, filter}, sub{3, filter})
			x.Subscribe(i%3, filter, i)
			x.Subscribe(3, filter, i)

			_, inner, shared, _ := ParseShared(filter)
			if !shared {
				got := false
				r.Match(filter, func(n string, v int) bool {
					if n != name || v != 1 {
						t.Fatalf("Retained.Match(%q) gave %q=%d", filter, n, v)
					}
					got = true
					return true
				})
				if want := Match(inner, name); got != want {
					t.Fatalf("Retained.Match(%q) with %q: %v, want %v", filter, name, got, want)
				}
			}
		}

		// Expected counts by brute force.
		wantPlain, wantMembers := 0, 0
		seen := map[sub]bool{}
		for _, s := range subs {
			if seen[s] {
				continue
			}
			seen[s] = true
			_, inner, shared, _ := ParseShared(s.filter)
			if Match(inner, name) {
				if shared {
					wantMembers++
				} else {
					wantPlain++
				}
			}
		}
		for range 2 { // the second answer comes from the cache
			m := x.Match(name)
			checkAdjacent(t, m)
			gotMembers := 0
			for _, g := range m.Groups {
				gotMembers += len(g.Members)
				if !Match(g.Filter, name) {
					t.Fatalf("group %q %q does not match %q", g.Name, g.Filter, name)
				}
			}
			for _, e := range m.Plain {
				if !Match(e.Filter, name) {
					t.Fatalf("entry %q does not match %q", e.Filter, name)
				}
			}
			if len(m.Plain) != wantPlain || gotMembers != wantMembers {
				t.Fatalf("Index.Match(%q) with %q: %d plain, %d shared; want %d, %d",
					name, filters, len(m.Plain), gotMembers, wantPlain, wantMembers)
			}
		}

		for _, s := range subs {
			x.Unsubscribe(s.s, s.filter)
		}
		if x.Len() != 0 || !x.root.empty() {
			t.Fatalf("not empty after unsubscribing all: %d", x.Len())
		}
		if !r.Delete(name) || len(r.root.children) != 0 {
			t.Fatal("retained tree not pruned")
		}
	})
}
