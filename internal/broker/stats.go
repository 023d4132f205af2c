package broker

import (
	"sync/atomic"

	"github.com/gridmq/gridmq/internal/session"
)

// stats are the broker's counters: plain atomics, read by the $SYS
// publisher (and any metrics view) when it reports.
type stats struct {
	clientsConnected atomic.Int64
	clientsMaximum   atomic.Int64
	connectsTotal    atomic.Uint64

	packetsReceived atomic.Uint64 // every control packet
	packetsSent     atomic.Uint64
	bytesReceived   atomic.Uint64
	bytesSent       atomic.Uint64
	publishReceived atomic.Uint64 // PUBLISH packets from clients
	publishSent     atomic.Uint64 // PUBLISH packets to clients
	publishDropped  atomic.Uint64 // deliveries dropped, all reasons

	drops [session.NumDropReasons]atomic.Uint64
	// protocolErrors counts connections closed for bad input.
	protocolErrors atomic.Uint64
	// authFailures counts CONNECTs refused by the Authenticator.
	authFailures atomic.Uint64
}

func (st *stats) drop(r session.DropReason, n uint64) {
	st.drops[r].Add(n)
	st.publishDropped.Add(n)
}

func (st *stats) connected() {
	n := st.clientsConnected.Add(1)
	for {
		m := st.clientsMaximum.Load()
		if n <= m || st.clientsMaximum.CompareAndSwap(m, n) {
			return
		}
	}
}

// Stats is a snapshot of the broker's counters.
type Stats struct {
	ClientsConnected int64
	ClientsMaximum   int64
	Sessions         int
	Subscriptions    int
	Retained         int
	PacketsReceived  uint64
	PacketsSent      uint64
	BytesReceived    uint64
	BytesSent        uint64
	PublishReceived  uint64
	PublishSent      uint64
	PublishDropped   uint64
	Drops            map[string]uint64 // by reason
	ProtocolErrors   uint64
	AuthFailures     uint64
}

// Stats returns the counters as they are now.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	sessions := len(s.sessions)
	s.mu.Unlock()
	out := Stats{
		ClientsConnected: s.stats.clientsConnected.Load(),
		ClientsMaximum:   s.stats.clientsMaximum.Load(),
		Sessions:         sessions,
		Subscriptions:    s.index.Len(),
		Retained:         s.retained.Len(),
		PacketsReceived:  s.stats.packetsReceived.Load(),
		PacketsSent:      s.stats.packetsSent.Load(),
		BytesReceived:    s.stats.bytesReceived.Load(),
		BytesSent:        s.stats.bytesSent.Load(),
		PublishReceived:  s.stats.publishReceived.Load(),
		PublishSent:      s.stats.publishSent.Load(),
		PublishDropped:   s.stats.publishDropped.Load(),
		ProtocolErrors:   s.stats.protocolErrors.Load(),
		AuthFailures:     s.stats.authFailures.Load(),
		Drops:            make(map[string]uint64, session.NumDropReasons),
	}
	for r := range session.NumDropReasons {
		out.Drops[r.String()] = s.stats.drops[r].Load()
	}
	return out
}
