package ratelimit

import (
	"fmt"
	"net/netip"
	"testing"
)

// The path every CONNECT with a password takes: a client the limiter has never seen.
func BenchmarkAllowUnknown(b *testing.B) {
	l := New(Config{})
	b.ReportAllocs()
	for b.Loop() {
		l.Allow(addrA, "alice")
	}
}

// A key with a record that is waiting: the path of a guesser being refused.
func BenchmarkAllowRefused(b *testing.B) {
	l := New(Config{Free: 1})
	l.Failed(addrA, "alice")
	b.ReportAllocs()
	for b.Loop() {
		l.Allow(addrA, "alice")
	}
}

// Failures from ever new usernames and addresses at the MaxKeys bound: insertion, sweep and
// eviction.
func BenchmarkFailedSpray(b *testing.B) {
	l := New(Config{MaxKeys: 4096})
	users := make([]string, 1<<16)
	for i := range users {
		users[i] = fmt.Sprint("user", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.Failed(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), users[i%len(users)])
		i++
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	l := New(Config{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow(addrA, "alice")
		}
	})
}
