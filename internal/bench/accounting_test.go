package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHeader(t *testing.T) {
	b := newPayload(64)
	want := Header{Publisher: 7, Seq: 1<<40 + 3, SentNanos: -5}
	PutHeader(b, want)
	got, ok := ParseHeader(b)
	if !ok || got != want {
		t.Errorf("ParseHeader = %+v, %v; want %+v", got, ok, want)
	}
	if b[HeaderLen] != 'a'+HeaderLen%26 || b[63] != 'a'+63%26 {
		t.Errorf("filler %q", b[HeaderLen:])
	}
	if _, ok := ParseHeader(b[:HeaderLen-1]); ok {
		t.Error("ParseHeader accepted 23 bytes")
	}
	if len(newPayload(3)) != HeaderLen {
		t.Error("a payload is never shorter than its header")
	}
}

// TestSeqSet checks the set against a map, with numbers at word and page
// boundaries, out of order, repeated, and far apart (page table growth).
func TestSeqSet(t *testing.T) {
	var s SeqSet
	ref := map[uint64]bool{}
	add := func(seq uint64) {
		t.Helper()
		if got, want := s.Add(seq), !ref[seq]; got != want {
			t.Fatalf("Add(%d) = %v, want %v", seq, got, want)
		}
		ref[seq] = true
	}
	for _, seq := range []uint64{65536, 65535, 64, 63, 0, 1, 63, 64, 65536, 1 << 20, 3*65536 + 1, 131071, 131072} {
		add(seq)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		add(r.Uint64N(300000))
	}
	for i := range uint64(1000) { // descending
		add(299999 - i)
	}
	if s.Len() != uint64(len(ref)) {
		t.Errorf("Len %d, want %d", s.Len(), len(ref))
	}
	if top, ok := s.Max(); !ok || top != 1<<20 {
		t.Errorf("Max %d %v", top, ok)
	}
	for _, n := range []uint64{0, 1, 63, 64, 65, 65535, 65536, 65537, 131072, 200001, 1 << 20, 1<<20 + 1, 1 << 30} {
		var want uint64
		for seq := range ref {
			if seq < n {
				want++
			}
		}
		if got := s.CountBelow(n); got != want {
			t.Errorf("CountBelow(%d) = %d, want %d", n, got, want)
		}
	}
	for seq := range uint64(300000) {
		if s.Has(seq) != ref[seq] {
			t.Fatalf("Has(%d) = %v", seq, s.Has(seq))
		}
	}
	if s.Has(MaxSeq - 1) {
		t.Error("Has beyond the pages")
	}
	if !s.Add(MaxSeq - 1) {
		t.Error("Add(MaxSeq-1)")
	}
	var empty SeqSet
	if _, ok := empty.Max(); ok || empty.CountBelow(10) != 0 {
		t.Error("empty set")
	}
}

// TestHistogram compares quantiles with the nearest-rank value of the
// sorted samples, within the documented 1/256.
func TestHistogram(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var all, a, b Histogram
	var samples []int64
	for i := range 100000 {
		// Log-uniform from 1 ns to about 10 s, and some small exact values.
		v := int64(math.Exp(r.Float64() * math.Log(1e10)))
		if i%10 == 0 {
			v = int64(r.IntN(300))
		}
		samples = append(samples, v)
		all.Record(v)
		if i%2 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	a.Merge(&b)
	slices.Sort(samples)
	for _, q := range []float64{0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1} {
		rank := int(math.Ceil(q * float64(len(samples))))
		want := samples[rank-1]
		for _, h := range []*Histogram{&all, &a} {
			got := h.Quantile(q)
			tolerance := float64(want) / 256
			if want < exactBelow {
				tolerance = 0
			}
			if math.Abs(float64(got-want)) > tolerance {
				t.Errorf("Quantile(%v) = %d, want %d within %.1f", q, got, want, tolerance)
			}
		}
	}
	if all.Max() != samples[len(samples)-1] || all.Min() != samples[0] || all.Count() != uint64(len(samples)) {
		t.Errorf("min %d max %d count %d", all.Min(), all.Max(), all.Count())
	}
	if a.Max() != all.Max() || a.Count() != all.Count() || !slices.Equal(a.counts, all.counts) {
		t.Error("merged histogram differs from the one that recorded everything")
	}

	// A single-valued histogram answers that value at every quantile.
	var one Histogram
	one.Record(123456789)
	if one.Quantile(0.5) != 123456789 {
		t.Errorf("one value: %d", one.Quantile(0.5))
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 {
		t.Error("empty histogram")
	}
	var neg Histogram
	neg.Record(-5)
	if neg.Max() != 0 {
		t.Error("negative latency not clamped")
	}
	// Every bucket's range contains the values mapped to it.
	for _, v := range []uint64{0, 255, 256, 257, 511, 512, 1e6, 1<<40 + 12345, math.MaxInt64} {
		lower, width := bucketRange(bucketOf(v))
		if v < lower || v-lower >= width {
			t.Errorf("value %d outside its bucket [%d, +%d)", v, lower, width)
		}
	}
}

func TestExpected(t *testing.T) {
	sent := []uint64{10, 20, 30}
	for _, c := range []struct {
		sc   Scenario
		sent []uint64
		subs int
		want uint64
	}{
		{Fanin, sent, 1, 60},
		{Fanout, []uint64{10}, 5, 50},
		{P2P, sent, 3, 60},
		{Pub, sent, 0, 0},
		{Sub, sent, 2, 0},
		{Conn, nil, 0, 0},
	} {
		if got := Expected(c.sc, c.sent, c.subs); got != c.want {
			t.Errorf("Expected(%s, %v, %d) = %d, want %d", c.sc, c.sent, c.subs, got, c.want)
		}
	}
}

// deliver records publisher pub's message seq at subscriber t.
func deliver(t *Tally, pub, seq uint64) {
	b := newPayload(HeaderLen)
	PutHeader(b, Header{Publisher: pub, Seq: seq, SentNanos: 1000})
	t.Record(b, 1000+int64(seq))
}

// TestAccount counts loss and duplicates across publishers and
// subscribers, with arrivals out of order.
func TestAccount(t *testing.T) {
	t.Run("fanin", func(t *testing.T) {
		sent := []uint64{100, 70, 0}
		var sub Tally
		// Publisher 0: all 100, backwards, and 5 twice more.
		for i := range uint64(100) {
			deliver(&sub, 0, 99-i)
		}
		deliver(&sub, 0, 5)
		deliver(&sub, 0, 5)
		// Publisher 1: the 35 even numbers of 70, 4 twice, and 70, which it
		// did not send.
		for seq := uint64(0); seq < 70; seq += 2 {
			deliver(&sub, 1, seq)
		}
		deliver(&sub, 1, 4)
		deliver(&sub, 1, 70)
		// Publisher 3, which does not exist, and a payload without a header.
		deliver(&sub, 3, 0)
		sub.Record([]byte("short"), 2000)
		got := Account(Fanin, []*Tally{&sub}, sent)
		want := Totals{Expected: 170, Delivered: 135, Lost: 35, Duplicated: 3, Unrecognised: 3}
		if got != want {
			t.Errorf("Account = %+v, want %+v", got, want)
		}
		if n := sub.latency.Count(); n != 137 { // first arrivals with a header, the stray seq 70 and publisher 3 included
			t.Errorf("%d latency samples", n)
		}
		if sub.received.Load() != 141 {
			t.Errorf("received %d", sub.received.Load())
		}
	})
	t.Run("fanout", func(t *testing.T) {
		sent := []uint64{1000}
		subs := []*Tally{new(Tally), new(Tally), new(Tally)}
		r := rand.New(rand.NewPCG(5, 6))
		for seq := range uint64(1000) {
			deliver(subs[0], 0, seq)
		}
		for _, seq := range r.Perm(1000) { // shuffled, all
			deliver(subs[1], 0, uint64(seq))
		}
		for _, seq := range r.Perm(1000)[:900] { // shuffled, 100 lost, 50 twice
			deliver(subs[2], 0, uint64(seq))
		}
		for seq := range uint64(50) {
			if subs[2].sets[0].Has(seq) {
				deliver(subs[2], 0, seq)
			} else {
				deliver(subs[1], 0, seq) // a duplicate at another subscriber instead
			}
		}
		got := Account(Fanout, subs, sent)
		if got.Expected != 3000 || got.Delivered != 2900 || got.Lost != 100 || got.Duplicated != 50 || got.Unrecognised != 0 {
			t.Errorf("Account = %+v", got)
		}
	})
	t.Run("p2p", func(t *testing.T) {
		sent := []uint64{10, 10}
		subs := []*Tally{new(Tally), new(Tally)}
		for seq := range uint64(10) {
			deliver(subs[0], 0, seq)
			if seq != 3 {
				deliver(subs[1], 1, seq)
			}
		}
		deliver(subs[0], 1, 0) // the other pair's message: not expected here
		got := Account(P2P, subs, sent)
		want := Totals{Expected: 20, Delivered: 19, Lost: 1, Unrecognised: 1}
		if got != want {
			t.Errorf("Account = %+v, want %+v", got, want)
		}
	})
	t.Run("sub", func(t *testing.T) {
		var sub Tally
		for _, seq := range []uint64{0, 1, 2, 5, 9, 9} {
			deliver(&sub, 2, seq)
		}
		deliver(&sub, 0, 0)
		got := Infer([]*Tally{&sub})
		want := Totals{Expected: 11, Delivered: 6, Lost: 5, Duplicated: 1}
		if got != want {
			t.Errorf("Infer = %+v, want %+v", got, want)
		}
	})
}

func TestParse(t *testing.T) {
	for s, want := range map[string]byte{"3": 3, "3.1": 3, "4": 4, "3.1.1": 4, "5": 5, "5.0": 5} {
		if v, err := ParseVersion(s); err != nil || v != want {
			t.Errorf("ParseVersion(%q) = %d, %v", s, v, err)
		}
	}
	if _, err := ParseVersion("6"); err == nil {
		t.Error("ParseVersion(6) succeeded")
	}
	if _, err := ParseScenario("fanin"); err != nil {
		t.Error(err)
	}
	if _, err := ParseScenario("fan-in"); err == nil {
		t.Error("ParseScenario(fan-in) succeeded")
	}
	for _, sc := range Scenarios {
		c := DefaultConfig(sc)
		if err := c.Validate(); err != nil {
			t.Errorf("default %s: %v", sc, err)
		}
	}
	c := DefaultConfig(Fanout)
	c.Publishers = 2
	c.Payload = 10
	if err := c.Validate(); err == nil {
		t.Error("fanout with two publishers and a 10-byte payload validated")
	}
	for _, sc := range Scenarios {
		c := DefaultConfig(sc)
		c.Persistent = true
		err := c.Validate()
		if hasSubscribers := sc != Conn && sc != Pub; (err == nil) != hasSubscribers {
			t.Errorf("persistent %s: %v", sc, err)
		}
	}
}

// TestProgressLine keeps the progress line within 80 columns at large
// counts and rates.
func TestProgressLine(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 950: "950", 999.6: "1.00k", 12345: "12.3k", 4.56e6: "4.56M", 123.4e9: "123G"} {
		if got := short(v); got != want {
			t.Errorf("short(%v) = %q, want %q", v, got, want)
		}
	}
	var m ProgressMeter
	m.Line(Progress{Phase: "publishing", Elapsed: time.Second, Fraction: 0.1}, 10)
	for _, p := range []Progress{
		{Phase: "publishing", Elapsed: 2 * time.Second, Sent: 999e6, Delivered: 998e6, Fraction: 0.5},
		{Phase: "draining", Elapsed: 9999 * time.Second, Sent: 999e9, Delivered: 999e9, Fraction: 1},
		{Phase: "connecting", Elapsed: 10 * time.Second, Connected: 1000000, Failed: 1000000, Fraction: 1},
		{Phase: "receiving", Elapsed: 100 * time.Second, Delivered: 5, Fraction: -1},
	} {
		line := m.Line(p, 10)
		if len([]rune(line)) > 80 {
			t.Errorf("%d columns: %q", len([]rune(line)), line)
		}
		if p.Fraction >= 0 && !strings.HasPrefix(line, "[") || p.Fraction < 0 && strings.HasPrefix(line, "[") {
			t.Errorf("bar: %q", line)
		}
	}
}
