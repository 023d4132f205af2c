package topic

import (
	"slices"
	"sync/atomic"
)

// Group is a shared subscription "$share/{Name}/{Filter}" as of one moment:
// Members is an immutable snapshot, replaced (never modified) when a member
// joins or leaves. Snapshots of one live group share its round-robin counter.
type Group[S comparable, O any] struct {
	Name    string        // ShareName
	Filter  string        // inner filter, without "$share/{Name}/"
	Members []Entry[S, O] // never empty; Entry.Filter is the full filter
	next    *atomic.Uint32
}

// Next returns where to start a round-robin pick among Members, so that the
// broker spreads messages over members and can skip offline ones:
// start := g.Next() % uint32(len(g.Members)). Each call advances the counter.
func (g *Group[S, O]) Next() uint32 {
	if g.next == nil {
		return 0
	}
	return g.next.Add(1) - 1
}

// joinGroup adds e to the group named name at n, or replaces the options of
// e.Subscriber's membership. It reports whether it replaced.
// Caller holds the index lock for writing.
func (n *node[S, O]) joinGroup(name, filter string, e Entry[S, O]) (replaced bool) {
	for gi, g := range n.groups {
		if g.Name != name {
			continue
		}
		members := make([]Entry[S, O], len(g.Members), len(g.Members)+1)
		copy(members, g.Members)
		replaced = false
		for i := range members {
			if members[i].Subscriber == e.Subscriber {
				members[i] = e
				replaced = true
				break
			}
		}
		if !replaced {
			members = append(members, e)
		}
		n.groups[gi] = &Group[S, O]{Name: g.Name, Filter: g.Filter, Members: members, next: g.next}
		return replaced
	}
	n.groups = append(n.groups, &Group[S, O]{
		Name: name, Filter: filter, Members: []Entry[S, O]{e}, next: new(atomic.Uint32),
	})
	return false
}

// leaveGroup removes sub from the group named name at n, and the group when
// it becomes empty. Caller holds the index lock for writing.
func (n *node[S, O]) leaveGroup(name string, sub S) bool {
	for gi, g := range n.groups {
		if g.Name != name {
			continue
		}
		for i := range g.Members {
			if g.Members[i].Subscriber != sub {
				continue
			}
			if len(g.Members) == 1 {
				// Matches hold copies of n.groups, so it can shrink in place.
				n.groups = slices.Delete(n.groups, gi, gi+1)
				if len(n.groups) == 0 {
					n.groups = nil
				}
				return true
			}
			members := make([]Entry[S, O], 0, len(g.Members)-1)
			members = append(members, g.Members[:i]...)
			members = append(members, g.Members[i+1:]...)
			n.groups[gi] = &Group[S, O]{Name: g.Name, Filter: g.Filter, Members: members, next: g.next}
			return true
		}
		return false
	}
	return false
}
