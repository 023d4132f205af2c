package broker

import (
	"math"
	"strconv"
	"time"

	"github.com/gridmq/gridmq/internal/session"
)

// publishSysLoop publishes the $SYS/broker topics, retained, every
// SysInterval, with Mosquitto's names so existing dashboards keep working.
func (s *Server) publishSysLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.SysInterval)
	defer t.Stop()
	var load sysLoad
	s.publishSys(&load)
	for {
		select {
		case <-t.C:
			s.publishSys(&load)
		case <-s.done:
			return
		}
	}
}

// sysLoad keeps exponentially weighted per-minute rates, like the load
// averages Mosquitto publishes under $SYS/broker/load.
type sysLoad struct {
	last     time.Time
	prev     [len(loadCounters)]uint64
	averages [len(loadCounters)][3]float64 // 1, 5, 15 minute windows
}

var loadCounters = [...]string{
	"messages/received", "messages/sent", "publish/received", "publish/sent",
	"bytes/received", "bytes/sent", "connections",
}

var loadWindows = [3]struct {
	name    string
	minutes float64
}{{"1min", 1}, {"5min", 5}, {"15min", 15}}

func (s *Server) loadValues() [len(loadCounters)]uint64 {
	return [...]uint64{
		s.stats.packetsReceived.Load(), s.stats.packetsSent.Load(),
		s.stats.publishReceived.Load(), s.stats.publishSent.Load(),
		s.stats.bytesReceived.Load(), s.stats.bytesSent.Load(),
		s.stats.connectsTotal.Load(),
	}
}

func (s *Server) publishSys(load *sysLoad) {
	now := time.Now()
	st := s.Stats()
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	topics := []struct{ name, value string }{
		{"version", "gridmq version " + s.opts.Version},
		{"uptime", strconv.FormatInt(int64(now.Sub(s.started)/time.Second), 10) + " seconds"},
		{"clients/connected", i(st.ClientsConnected)},
		{"clients/active", i(st.ClientsConnected)},
		{"clients/maximum", i(st.ClientsMaximum)},
		{"clients/total", strconv.Itoa(st.Sessions)},
		{"clients/disconnected", strconv.Itoa(max(st.Sessions-int(st.ClientsConnected), 0))},
		{"clients/inactive", strconv.Itoa(max(st.Sessions-int(st.ClientsConnected), 0))},
		{"messages/received", u(st.PacketsReceived)},
		{"messages/sent", u(st.PacketsSent)},
		{"publish/messages/received", u(st.PublishReceived)},
		{"publish/messages/sent", u(st.PublishSent)},
		{"publish/messages/dropped", u(st.PublishDropped)},
		{"bytes/received", u(st.BytesReceived)},
		{"bytes/sent", u(st.BytesSent)},
		{"retained messages/count", strconv.Itoa(st.Retained)},
		{"subscriptions/count", strconv.Itoa(st.Subscriptions)},
		{"store/messages/count", strconv.Itoa(st.Retained)},
		{"clients/auth_failures", u(st.AuthFailures)}, // gridmq's own
	}
	for reason, n := range st.Drops {
		topics = append(topics, struct{ name, value string }{"publish/messages/dropped/" + reason, u(n)})
	}

	values := s.loadValues()
	if !load.last.IsZero() {
		dt := now.Sub(load.last).Minutes()
		for k := range values {
			rate := float64(values[k]-load.prev[k]) / dt // per minute
			for w, win := range loadWindows {
				alpha := 1 - math.Exp(-dt/win.minutes)
				load.averages[k][w] += alpha * (rate - load.averages[k][w])
				topics = append(topics, struct{ name, value string }{
					"load/" + loadCounters[k] + "/" + win.name, strconv.FormatFloat(load.averages[k][w], 'f', 2, 64)})
			}
		}
	}
	load.last, load.prev = now, values

	for _, t := range topics {
		s.publish(&session.Message{Topic: "$SYS/broker/" + t.name, Payload: []byte(t.value), Retain: true}, nil)
	}
}
