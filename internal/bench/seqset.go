package bench

import "math/bits"

// SeqSet is the set of sequence numbers one subscriber received from one
// publisher, so that loss and duplicates are counted exactly, whatever
// the order of arrival. It is a bitmap, one bit per number, in pages of
// 65,536 numbers (8 KiB) allocated when a number in them first arrives:
// a million messages take 128 KiB, and a stray large number costs one
// page. A SeqSet is not safe for concurrent use.
type SeqSet struct {
	pages []*seqPage // pages[i] holds numbers i<<pageBits up to (i+1)<<pageBits - 1; nil until used
	n     uint64     // numbers in the set
	max   uint64     // the highest, when n > 0
}

const (
	pageBits  = 16
	pageWords = 1 << pageBits / 64
)

type seqPage [pageWords]uint64

// MaxSeq bounds the sequence numbers a SeqSet takes (the page table of a
// set holding MaxSeq-1 is 512 KiB); a subscriber counts a higher one as
// unrecognised rather than recording it.
const MaxSeq = 1 << 32

// Add records seq, which must be below MaxSeq, and reports whether it was
// new.
func (s *SeqSet) Add(seq uint64) bool {
	pi := seq >> pageBits
	if pi >= uint64(len(s.pages)) {
		grown := make([]*seqPage, max(pi+1, 2*uint64(len(s.pages))))
		copy(grown, s.pages)
		s.pages = grown
	}
	p := s.pages[pi]
	if p == nil {
		p = new(seqPage)
		s.pages[pi] = p
	}
	w, bit := seq%(1<<pageBits)/64, uint64(1)<<(seq%64)
	if p[w]&bit != 0 {
		return false
	}
	p[w] |= bit
	if s.n == 0 || seq > s.max {
		s.max = seq
	}
	s.n++
	return true
}

// Has reports whether seq is in the set.
func (s *SeqSet) Has(seq uint64) bool {
	pi := seq >> pageBits
	if pi >= uint64(len(s.pages)) || s.pages[pi] == nil {
		return false
	}
	return s.pages[pi][seq%(1<<pageBits)/64]&(1<<(seq%64)) != 0
}

// Len is the number of distinct sequence numbers in the set.
func (s *SeqSet) Len() uint64 { return s.n }

// Max returns the highest number in the set; ok is false when it is empty.
func (s *SeqSet) Max() (seq uint64, ok bool) { return s.max, s.n > 0 }

// CountBelow is the number of distinct numbers in the set below n: those
// among the n a publisher sent.
func (s *SeqSet) CountBelow(n uint64) uint64 {
	if s.n > 0 && s.max < n {
		return s.n
	}
	var count uint64
	full := n >> pageBits
	for pi, p := range s.pages {
		if p == nil {
			continue
		}
		if uint64(pi) < full {
			for _, w := range p {
				count += uint64(bits.OnesCount64(w))
			}
			continue
		}
		if uint64(pi) == full {
			rest := n % (1 << pageBits)
			for wi := uint64(0); wi < rest/64; wi++ {
				count += uint64(bits.OnesCount64(p[wi]))
			}
			if r := rest % 64; r > 0 {
				count += uint64(bits.OnesCount64(p[rest/64] & (1<<r - 1)))
			}
		}
		break
	}
	return count
}
