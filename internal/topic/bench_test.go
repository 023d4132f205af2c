package topic

import (
	"fmt"
	"testing"
)

// benchIndex builds an index of about n subscriptions mixing exact filters,
// '+' and '#', as a fleet of meters would.
func benchIndex(n int) *Index[int, int] {
	x := NewIndex[int, int]()
	for i := 0; x.Len() < n; i++ {
		site, meter := i/10, i%10
		x.Subscribe(i, fmt.Sprintf("site/%d/meter/%d/power", site, meter), 0)
		x.Subscribe(i, fmt.Sprintf("site/%d/meter/%d/+", site, meter), 0)
		if meter == 0 {
			x.Subscribe(i, fmt.Sprintf("site/%d/#", site), 0)
			x.Subscribe(i, fmt.Sprintf("+/%d/status", site), 0)
			x.Subscribe(i, fmt.Sprintf("$share/workers/site/%d/meter/+/power", site), 0)
		}
	}
	return x
}

// benchTopics returns count distinct topic names, most of them matching
// several subscriptions (meters 0-9 have exact and '+' subscriptions, the
// others only the site's '#' and the shared group).
func benchTopics(sites, count int) []string {
	topics := make([]string, count)
	for i := range topics {
		site := (i * 7919) % sites
		switch meter := i / sites; {
		case i%8 == 7:
			topics[i] = fmt.Sprintf("site/%d/status/%d", site, meter)
		default:
			topics[i] = fmt.Sprintf("site/%d/meter/%d/power", site, meter)
		}
	}
	return topics
}

func BenchmarkIndexMatch(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		x := benchIndex(n)
		sites := n / 24
		for _, c := range []struct {
			name   string
			topics int
		}{
			{"hit", 100},            // fits in the cache
			{"miss", 16 * maxCache}, // far more distinct names than the cache holds
		} {
			topics := benchTopics(sites, c.topics)
			b.Run(fmt.Sprintf("subs=%d/%s", n, c.name), func(b *testing.B) {
				b.ReportAllocs()
				matched := 0
				i := 0
				for b.Loop() {
					m := x.Match(topics[i%len(topics)])
					matched += len(m.Plain) + len(m.Groups)
					i++
				}
				if matched == 0 {
					b.Fatal("nothing matched")
				}
			})
		}
		topics := benchTopics(sites, 100)
		b.Run(fmt.Sprintf("subs=%d/hit-parallel", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					x.Match(topics[i%len(topics)])
					i++
				}
			})
		})
	}
}

func BenchmarkIndexSubscribe(b *testing.B) {
	b.ReportAllocs()
	x := benchIndex(10_000)
	filters := make([]string, 4096)
	for i := range filters {
		filters[i] = fmt.Sprintf("site/%d/meter/%d/+", i/10, i%10)
	}
	i := 0
	for b.Loop() {
		f := filters[i%len(filters)]
		x.Subscribe(-1, f, 0)
		x.Unsubscribe(-1, f)
		i++
	}
}

func BenchmarkRetainedMatch(b *testing.B) {
	r := NewRetained[int]()
	for site := range 1000 {
		for meter := range 10 {
			r.Set(fmt.Sprintf("site/%d/meter/%d/power", site, meter), site)
			r.Set(fmt.Sprintf("site/%d/meter/%d/voltage", site, meter), site)
		}
		r.Set(fmt.Sprintf("site/%d/status", site), site)
	}
	for _, filter := range []string{"site/42/meter/7/power", "site/42/#", "site/+/meter/3/power", "site/42/meter/+/+"} {
		b.Run(filter, func(b *testing.B) {
			b.ReportAllocs()
			fn := func(string, int) bool { return true }
			for b.Loop() {
				r.Match(filter, fn)
			}
		})
	}
}
