package bench

import "sync/atomic"

// maxPublisherIndex bounds the publisher indexes a subscriber keeps a
// SeqSet for; a message claiming a higher one is unrecognised.
const maxPublisherIndex = 1 << 20

// Tally is what one subscriber received. Record runs on the subscriber's
// reader goroutine; the progress display reads only the atomic counters,
// and everything else is read once the subscriber's connection has ended.
type Tally struct {
	received atomic.Uint64 // every message
	unique   atomic.Uint64 // first arrivals of a recognised (publisher, sequence number)

	sets         []*SeqSet // by publisher index; nil until one arrives
	latency      Histogram // nanoseconds, first arrivals only
	duplicates   uint64
	unrecognised uint64 // no header, or an index beyond the limits
	first, last  int64  // Unix nanoseconds of the first and last message
}

// Record counts one message received at now (Unix nanoseconds).
func (t *Tally) Record(payload []byte, now int64) {
	if t.received.Add(1) == 1 {
		t.first = now
	}
	t.last = now
	h, ok := ParseHeader(payload)
	if !ok || h.Publisher >= maxPublisherIndex || h.Seq >= MaxSeq {
		t.unrecognised++
		return
	}
	if h.Publisher >= uint64(len(t.sets)) {
		grown := make([]*SeqSet, max(h.Publisher+1, uint64(2*len(t.sets))))
		copy(grown, t.sets)
		t.sets = grown
	}
	s := t.sets[h.Publisher]
	if s == nil {
		s = new(SeqSet)
		t.sets[h.Publisher] = s
	}
	if !s.Add(h.Seq) {
		t.duplicates++
		return
	}
	t.unique.Add(1)
	t.latency.Record(now - h.SentNanos)
}

// set returns the SeqSet of publisher p, or nil.
func (t *Tally) set(p int) *SeqSet {
	if p < len(t.sets) {
		return t.sets[p]
	}
	return nil
}

// Totals are the end-to-end counts of a run.
type Totals struct {
	Expected     uint64 // deliveries that should have arrived
	Delivered    uint64 // distinct expected messages that arrived, per subscriber
	Lost         uint64 // Expected - Delivered
	Duplicated   uint64 // arrivals beyond the first of a (subscriber, publisher, sequence number)
	Unrecognised uint64 // arrivals that match no publisher of the run or no number it sent
}

// Account compares what the subscribers received with what the publishers
// sent: sent[p] messages, numbered 0 to sent[p]-1, by publisher p, each
// expected once by every subscriber that hears p (see Scenario.Hears).
func Account(sc Scenario, tallies []*Tally, sent []uint64) Totals {
	var t Totals
	for s, tally := range tallies {
		t.Duplicated += tally.duplicates
		t.Unrecognised += tally.unrecognised
		for p := range max(len(sent), len(tally.sets)) {
			set := tally.set(p)
			if p >= len(sent) || !sc.Hears(s, p) {
				if set != nil {
					t.Unrecognised += set.Len()
				}
				continue
			}
			t.Expected += sent[p]
			if set == nil {
				continue
			}
			got := set.CountBelow(sent[p])
			t.Delivered += got
			t.Unrecognised += set.Len() - got
		}
	}
	t.Lost = t.Expected - t.Delivered
	return t
}

// Infer is Account for the sub scenario, where the publishers are
// elsewhere: each publisher seen is taken to have sent the numbers from 0
// to the highest that arrived, so a gap is a loss but messages after the
// last one received are not counted.
func Infer(tallies []*Tally) Totals {
	var t Totals
	for _, tally := range tallies {
		t.Duplicated += tally.duplicates
		t.Unrecognised += tally.unrecognised
		for _, set := range tally.sets {
			if set == nil {
				continue
			}
			if top, ok := set.Max(); ok {
				t.Expected += top + 1
				t.Delivered += set.Len()
			}
		}
	}
	t.Lost = t.Expected - t.Delivered
	return t
}
