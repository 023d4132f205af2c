package topic

import (
	"strings"
	"sync"
)

// Cache bounds. A cache hit answers a PUBLISH without walking the trie and
// without allocating.
const (
	// maxCache is the number of topic names whose matches are remembered.
	// When full, a quarter of the entries are dropped (map iteration order
	// makes the choice effectively random).
	maxCache = 4096
	// maxCachedName keeps a client publishing on long distinct names from
	// pinning maxCache*MaxLen bytes of keys.
	maxCachedName = 512
)

// Entry is one subscription.
type Entry[S comparable, O any] struct {
	Subscriber S
	Filter     string // as subscribed, "$share/{group}/{filter}" for a shared one
	Options    O
}

// Matches is the answer of Index.Match. It is immutable and may be shared by
// callers and by the cache: never modify it or the slices it holds.
type Matches[S comparable, O any] struct {
	// Plain holds the matching non-shared subscriptions. All entries of one
	// Subscriber are adjacent, so overlapping subscriptions of one client can
	// be merged into one delivery by scanning runs (MQTT 5.0 section 4.8.1).
	Plain []Entry[S, O]
	// Groups holds each matching shared subscription, identified by group
	// name and inner filter. Each message goes to one member of each group.
	Groups []*Group[S, O]
}

// Index is the set of subscriptions of all sessions, keyed by topic filter.
// The zero value is not usable; call NewIndex. It is safe for concurrent use.
//
// S identifies a subscriber (the broker passes a pointer to its session); O is
// the subscription's options, opaque to this package.
type Index[S comparable, O any] struct {
	mu    sync.RWMutex // guards the fields below
	root  *node[S, O]
	count int    // subscriptions, shared ones included
	gen   uint64 // bumped by every change to the trie
	// cache maps a topic name to its matches, valid while the entry's gen is
	// the index's gen. Stale entries are replaced on their next miss or
	// dropped by eviction.
	cache map[string]cached[S, O]
	empty *Matches[S, O] // shared answer when nothing matches
}

type cached[S comparable, O any] struct {
	m   *Matches[S, O]
	gen uint64
}

// node is one level of the filter trie. The filter "a/+/#" is the path
// root -> children["a"] -> plus -> hash.
type node[S comparable, O any] struct {
	// Literal levels: a lone child sits in one/oneName, and children holds
	// them from the second on (one is then nil), since most nodes of a
	// site's topic tree have a single child and a map costs far more.
	one      *node[S, O]
	oneName  string
	children map[string]*node[S, O]
	plus     *node[S, O]    // '+' level
	hash     *node[S, O]    // '#' level; holds subscriptions only
	subs     []Entry[S, O]  // non-shared subscriptions ending here, one per subscriber
	pos      map[S]int      // index into subs; built once subs outgrows a linear scan
	groups   []*Group[S, O] // shared subscriptions ending here, current snapshots
}

// posThreshold is the size above which a node indexes its subscribers by map
// rather than scanning subs.
const posThreshold = 16

func (n *node[S, O]) empty() bool {
	return len(n.subs) == 0 && len(n.groups) == 0 && n.one == nil && len(n.children) == 0 && n.plus == nil && n.hash == nil
}

func (n *node[S, O]) find(sub S) int {
	if n.pos != nil {
		if i, ok := n.pos[sub]; ok {
			return i
		}
		return -1
	}
	for i := range n.subs {
		if n.subs[i].Subscriber == sub {
			return i
		}
	}
	return -1
}

func (n *node[S, O]) add(e Entry[S, O]) {
	n.subs = append(n.subs, e)
	if n.pos != nil {
		n.pos[e.Subscriber] = len(n.subs) - 1
	} else if len(n.subs) > posThreshold {
		n.pos = make(map[S]int, len(n.subs))
		for i := range n.subs {
			n.pos[n.subs[i].Subscriber] = i
		}
	}
}

// remove deletes subs[i] by moving the last entry into its place.
func (n *node[S, O]) remove(i int) {
	last := len(n.subs) - 1
	if n.pos != nil {
		delete(n.pos, n.subs[i].Subscriber)
		if i != last {
			n.pos[n.subs[last].Subscriber] = i
		}
	}
	n.subs[i] = n.subs[last]
	n.subs[last] = Entry[S, O]{} // drop references for the GC
	n.subs = n.subs[:last]
	if len(n.subs) == 0 {
		n.subs, n.pos = nil, nil
	}
}

// NewIndex returns an empty index.
func NewIndex[S comparable, O any]() *Index[S, O] {
	return &Index[S, O]{
		root:  &node[S, O]{},
		cache: make(map[string]cached[S, O]),
		empty: &Matches[S, O]{},
	}
}

// Len returns the number of subscriptions, shared ones included.
func (x *Index[S, O]) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.count
}

// Subscribe adds a subscription, or replaces the options of the subscription
// with the same subscriber and the same full filter [MQTT-3.8.4-3]. filter is
// the filter as the client sent it, possibly "$share/{group}/{filter}", and
// must have passed ValidateFilter. It reports whether a subscription was
// replaced.
func (x *Index[S, O]) Subscribe(sub S, filter string, opts O) (replaced bool) {
	group, inner, shared, err := ParseShared(filter)
	if err != nil {
		// Unreachable for a validated filter; store it literally so that
		// Unsubscribe with the same string still finds it.
		group, inner, shared = "", filter, false
	}
	e := Entry[S, O]{Subscriber: sub, Filter: filter, Options: opts}

	x.mu.Lock()
	defer x.mu.Unlock()
	n := x.root
	for i := 0; i <= len(inner); {
		var l string
		l, i = level(inner, i)
		n = n.child(l)
	}
	x.gen++
	if shared {
		replaced = n.joinGroup(group, inner, e)
	} else if i := n.find(sub); i >= 0 {
		n.subs[i] = e
		replaced = true
	} else {
		n.add(e)
	}
	if !replaced {
		x.count++
	}
	return replaced
}

// child returns the child of n for filter level l, creating it.
func (n *node[S, O]) child(l string) *node[S, O] {
	switch l {
	case "+":
		if n.plus == nil {
			n.plus = &node[S, O]{}
		}
		return n.plus
	case "#":
		if n.hash == nil {
			n.hash = &node[S, O]{}
		}
		return n.hash
	}
	if c := n.literal(l); c != nil {
		return c
	}
	c := &node[S, O]{}
	switch {
	case n.one == nil && n.children == nil:
		n.one, n.oneName = c, strings.Clone(l)
	default:
		if n.children == nil {
			n.children = map[string]*node[S, O]{n.oneName: n.one}
			n.one, n.oneName = nil, ""
		}
		n.children[strings.Clone(l)] = c
	}
	return c
}

// literal returns the child of n for the literal level l, or nil.
func (n *node[S, O]) literal(l string) *node[S, O] {
	if n.one != nil {
		if n.oneName == l {
			return n.one
		}
		return nil
	}
	return n.children[l]
}

// lookup returns the child of n for filter level l, or nil.
func (n *node[S, O]) lookup(l string) *node[S, O] {
	switch l {
	case "+":
		return n.plus
	case "#":
		return n.hash
	}
	return n.literal(l)
}

// unlink removes the empty child c reached from n by filter level l.
func (n *node[S, O]) unlink(l string) {
	switch l {
	case "+":
		n.plus = nil
	case "#":
		n.hash = nil
	default:
		if n.one != nil && n.oneName == l {
			n.one, n.oneName = nil, ""
			return
		}
		delete(n.children, l)
		if len(n.children) == 0 {
			n.children = nil
		}
	}
}

// Unsubscribe removes the subscription of sub to filter, the full filter as
// subscribed. It reports whether such a subscription existed. Nodes left
// without subscriptions or children are removed.
func (x *Index[S, O]) Unsubscribe(sub S, filter string) (existed bool) {
	group, inner, shared, err := ParseShared(filter)
	if err != nil {
		group, inner, shared = "", filter, false
	}

	x.mu.Lock()
	defer x.mu.Unlock()
	// path[k] is the parent of the node reached by the k-th level.
	var buf [16]*node[S, O]
	path := buf[:0]
	n := x.root
	for i := 0; i <= len(inner); {
		var l string
		l, i = level(inner, i)
		path = append(path, n)
		if n = n.lookup(l); n == nil {
			return false
		}
	}
	if shared {
		existed = n.leaveGroup(group, sub)
	} else if i := n.find(sub); i >= 0 {
		n.remove(i)
		existed = true
	}
	if !existed {
		return false
	}
	x.gen++
	x.count--
	// Prune from the leaf up, walking the levels backwards.
	end := len(inner)
	for k := len(path) - 1; k >= 0 && n.empty(); k-- {
		start := strings.LastIndexByte(inner[:end], '/') + 1
		path[k].unlink(inner[start:end])
		n, end = path[k], start-1
	}
	return true
}

// Match returns every subscription whose filter matches the topic name. The
// name must have passed ValidateName. The result is immutable and may be
// shared with other callers: never modify it. Match may keep a copy of name
// as a cache key.
func (x *Index[S, O]) Match(name string) *Matches[S, O] {
	x.mu.RLock()
	if c, ok := x.cache[name]; ok && c.gen == x.gen {
		x.mu.RUnlock()
		return c.m
	}
	gen := x.gen
	m := x.collect(name)
	x.mu.RUnlock()

	if len(name) > maxCachedName {
		return m
	}
	x.mu.Lock()
	// A change since the walk makes m stale for the cache, though it is a
	// valid answer for a PUBLISH that raced with that SUBSCRIBE.
	if x.gen == gen {
		if _, ok := x.cache[name]; ok {
			x.cache[name] = cached[S, O]{m: m, gen: gen} // keeps the existing key
		} else {
			if len(x.cache) >= maxCache {
				x.evict()
			}
			x.cache[strings.Clone(name)] = cached[S, O]{m: m, gen: gen}
		}
	}
	x.mu.Unlock()
	return m
}

// evict drops a quarter of the cache, stale entries first when seen.
// Caller holds x.mu for writing.
func (x *Index[S, O]) evict() {
	drop := len(x.cache) / 4
	for k, c := range x.cache {
		if c.gen != x.gen || drop > 0 {
			delete(x.cache, k)
			drop--
		}
	}
}

// collect walks the trie for name. Caller holds x.mu (read or write).
func (x *Index[S, O]) collect(name string) *Matches[S, O] {
	var buf [32]*node[S, O]
	w := walker[S, O]{nodes: buf[:0]}
	if len(name) > 0 && name[0] == '$' {
		// Filters starting with a wildcard do not match names starting
		// with '$' [MQTT-4.7.2-1]: follow only the literal first level.
		l, next := level(name, 0)
		if c := x.root.literal(l); c != nil {
			w.walk(c, name, next)
		}
	} else {
		w.walk(x.root, name, 0)
	}
	if len(w.nodes) == 0 {
		return x.empty
	}

	var plain, groups, plainNodes int
	for _, n := range w.nodes {
		plain += len(n.subs)
		groups += len(n.groups)
		if len(n.subs) > 0 {
			plainNodes++
		}
	}
	if plain == 0 && groups == 0 {
		return x.empty
	}
	m := &Matches[S, O]{}
	if plain > 0 {
		m.Plain = make([]Entry[S, O], 0, plain)
	}
	if groups > 0 {
		m.Groups = make([]*Group[S, O], 0, groups)
	}
	for _, n := range w.nodes {
		m.Plain = append(m.Plain, n.subs...)
		m.Groups = append(m.Groups, n.groups...)
	}
	// Within one node a subscriber appears once, so only entries gathered
	// from several nodes can need grouping.
	if plainNodes > 1 {
		groupBySubscriber(m.Plain)
	}
	return m
}

// walker gathers the trie nodes whose filters match a name.
type walker[S comparable, O any] struct {
	nodes []*node[S, O]
}

// walk matches the levels of name from byte offset i against n's subtree; i
// is len(name)+1 when all levels are consumed.
func (w *walker[S, O]) walk(n *node[S, O], name string, i int) {
	for {
		if n.hash != nil {
			// '#' matches the remaining levels, and also none: "sport/#"
			// matches "sport" [MQTT-4.7.1-2].
			w.nodes = append(w.nodes, n.hash)
		}
		if i > len(name) {
			w.nodes = append(w.nodes, n)
			return
		}
		l, next := level(name, i)
		if n.plus != nil {
			w.walk(n.plus, name, next)
		}
		c := n.literal(l)
		if c == nil {
			return
		}
		n, i = c, next
	}
}

// groupBySubscriber reorders entries so that all entries of one subscriber
// are adjacent, keeping the order of first appearance.
func groupBySubscriber[S comparable, O any](es []Entry[S, O]) {
	if len(es) <= 32 {
		// Stable in place; quadratic, but cheaper than a map when small.
		for i := 0; i < len(es); {
			s := es[i].Subscriber
			k := i + 1
			for j := k; j < len(es); j++ {
				if es[j].Subscriber == s {
					if j != k {
						e := es[j]
						copy(es[k+1:j+1], es[k:j])
						es[k] = e
					}
					k++
				}
			}
			i = k
		}
		return
	}
	// Counting sort by order of first appearance.
	rank := make(map[S]int, len(es))
	ranks := make([]int, len(es))
	var counts []int
	for i := range es {
		r, ok := rank[es[i].Subscriber]
		if !ok {
			r = len(counts)
			rank[es[i].Subscriber] = r
			counts = append(counts, 0)
		}
		ranks[i] = r
		counts[r]++
	}
	if len(counts) == len(es) {
		return // all distinct
	}
	start := 0
	for r, c := range counts {
		counts[r] = start
		start += c
	}
	sorted := make([]Entry[S, O], len(es))
	for i := range es {
		sorted[counts[ranks[i]]] = es[i]
		counts[ranks[i]]++
	}
	copy(es, sorted)
}
