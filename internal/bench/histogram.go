package bench

import (
	"math"
	"math/bits"
)

// Histogram records latencies in nanoseconds in log-linear buckets, as
// HdrHistogram does: values below 256 each have their own bucket; above,
// every power of two is split into 128 buckets, so a bucket is at most
// 1/128 of its lower bound wide. Quantile answers with the middle of the
// bucket, which is within 1/256 (0.4%) of the exact sample at that rank;
// Min and Max are exact. Counts grow only up to the largest bucket used
// (about 18 KiB for latencies up to a second). A Histogram is not safe for
// concurrent use; Merge per-subscriber histograms at the end of a run.
type Histogram struct {
	counts   []uint64
	n        uint64
	min, max int64
}

const (
	subBucketBits = 7
	subBuckets    = 1 << subBucketBits // per power of two
	exactBelow    = 2 * subBuckets     // values below this have a bucket each
)

// bucketOf maps a value to its bucket index: v itself below exactBelow,
// otherwise shift*subBuckets + (v >> shift), where shift keeps the top
// eight bits of v (its mantissa, between 128 and 255).
func bucketOf(v uint64) int {
	if v < exactBelow {
		return int(v)
	}
	shift := bits.Len64(v) - (subBucketBits + 1)
	return shift*subBuckets + int(v>>shift)
}

// bucketRange returns the smallest value of bucket i and its width.
func bucketRange(i int) (lower, width uint64) {
	if i < exactBelow {
		return uint64(i), 1
	}
	shift := i/subBuckets - 1
	mantissa := uint64(i%subBuckets + subBuckets)
	return mantissa << shift, 1 << shift
}

// Record adds one value; a negative one (a clock step) counts as 0.
func (h *Histogram) Record(v int64) {
	v = max(v, 0)
	i := bucketOf(uint64(v))
	if i >= len(h.counts) {
		h.counts = append(h.counts, make([]uint64, i+1-len(h.counts))...)
	}
	h.counts[i]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if h.n == 0 || v > h.max {
		h.max = v
	}
	h.n++
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		h.counts = append(h.counts, make([]uint64, len(o.counts)-len(h.counts))...)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if h.n == 0 || o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max are the exact extremes; 0 when nothing was recorded.
func (h *Histogram) Min() int64 { return h.min }
func (h *Histogram) Max() int64 { return h.max }

// Quantile returns the value at quantile q (0 < q <= 1) by the nearest-rank
// definition: the ceil(q*n)-th smallest value, to the precision above. It
// returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	if rank == h.n {
		return h.max
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lower, width := bucketRange(i)
			v := int64(lower + width/2)
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}
