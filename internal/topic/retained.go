package topic

import (
	"strings"
	"sync"
)

// Retained holds the retained message of each topic name, in a trie keyed by
// topic level so that a new subscription's filter visits only the branches it
// can match. The zero value is not usable; call NewRetained. It is safe for
// concurrent use.
type Retained[V any] struct {
	mu    sync.RWMutex // guards the fields below
	root  *rnode[V]
	count int
}

type rnode[V any] struct {
	children map[string]*rnode[V]
	name     string // full topic name, set while has is true
	v        V
	has      bool
}

// NewRetained returns an empty store.
func NewRetained[V any]() *Retained[V] {
	return &Retained[V]{root: &rnode[V]{}}
}

// Len returns the number of retained messages.
func (r *Retained[V]) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.count
}

// Set stores v as the retained message of topic name, replacing any previous
// one (MQTT 5.0 section 3.3.1.3). name must have passed ValidateName; it is copied.
func (r *Retained[V]) Set(name string, v V) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.root
	for i := 0; i <= len(name); {
		var l string
		l, i = level(name, i)
		c := n.children[l]
		if c == nil {
			if n.children == nil {
				n.children = make(map[string]*rnode[V])
			}
			c = &rnode[V]{}
			n.children[strings.Clone(l)] = c
		}
		n = c
	}
	if !n.has {
		n.name = strings.Clone(name)
		n.has = true
		r.count++
	}
	n.v = v
}

// Get returns the retained message of topic name.
func (r *Retained[V]) Get(name string) (V, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := r.root
	for i := 0; i <= len(name); {
		var l string
		l, i = level(name, i)
		if n = n.children[l]; n == nil {
			var zero V
			return zero, false
		}
	}
	return n.v, n.has
}

// Delete removes the retained message of topic name, as a retained PUBLISH
// with an empty payload does (MQTT 5.0 section 3.3.1.3), and prunes the nodes left empty.
// It reports whether there was one.
func (r *Retained[V]) Delete(name string) (existed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var buf [16]*rnode[V]
	path := buf[:0] // path[k] is the parent of the node reached by level k
	n := r.root
	for i := 0; i <= len(name); {
		var l string
		l, i = level(name, i)
		path = append(path, n)
		if n = n.children[l]; n == nil {
			return false
		}
	}
	if !n.has {
		return false
	}
	var zero V
	n.v, n.name, n.has = zero, "", false
	r.count--
	end := len(name)
	for k := len(path) - 1; k >= 0 && !n.has && len(n.children) == 0; k-- {
		start := strings.LastIndexByte(name[:end], '/') + 1
		parent := path[k]
		delete(parent.children, name[start:end])
		if len(parent.children) == 0 {
			parent.children = nil
		}
		n, end = parent, start-1
	}
	return true
}

// Match calls fn for each retained message whose topic name matches filter,
// in no particular order, until fn returns false. filter is an ordinary
// filter that passed ValidateFilter, not a shared one: retained messages are
// not sent for a shared subscription (MQTT 5.0 section 4.8.2).
// Names starting with '$' are not matched by a filter starting with '+' or
// '#' [MQTT-4.7.2-1].
//
// fn runs with r's read lock held: it must not call back into r.
func (r *Retained[V]) Match(filter string, fn func(name string, v V) bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	r.root.match(filter, 0, true, fn)
}

// match visits the nodes below n matching filter from byte offset i; i is
// len(filter)+1 when all levels are consumed. It returns false once fn has
// asked to stop.
func (n *rnode[V]) match(filter string, i int, top bool, fn func(string, V) bool) bool {
	for {
		if i > len(filter) {
			return !n.has || fn(n.name, n.v)
		}
		l, next := level(filter, i)
		switch l {
		case "#":
			// The parent level itself: "sport/#" matches "sport" [MQTT-4.7.1-2].
			if !top && n.has && !fn(n.name, n.v) {
				return false
			}
			for cl, c := range n.children {
				if top && strings.HasPrefix(cl, "$") {
					continue // [MQTT-4.7.2-1]
				}
				if !c.all(fn) {
					return false
				}
			}
			return true
		case "+":
			for cl, c := range n.children {
				if top && strings.HasPrefix(cl, "$") {
					continue // [MQTT-4.7.2-1]
				}
				if !c.match(filter, next, false, fn) {
					return false
				}
			}
			return true
		}
		if n = n.children[l]; n == nil {
			return true
		}
		i, top = next, false
	}
}

// all visits n and its whole subtree.
func (n *rnode[V]) all(fn func(string, V) bool) bool {
	if n.has && !fn(n.name, n.v) {
		return false
	}
	for _, c := range n.children {
		if !c.all(fn) {
			return false
		}
	}
	return true
}
