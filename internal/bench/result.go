package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Result is what a run measured. Its JSON form is the one object that
// `gridmq bench --json` prints, which comparison scripts parse.
type Result struct {
	Scenario    Scenario `json:"scenario"`
	Addr        string   `json:"addr"`
	Version     int      `json:"version"` // protocol level: 3, 4 or 5
	QoS         int      `json:"qos"`
	Payload     int      `json:"payload"` // bytes
	Publishers  int      `json:"publishers"`
	Subscribers int      `json:"subscribers"`
	Rate        float64  `json:"rate"` // per publisher, messages/s; 0 = unlimited
	Inflight    int      `json:"inflight"`
	// Persistent says the subscribers held persistent sessions.
	Persistent bool `json:"persistent"`

	// Sent counts the PUBLISHes the publishers handed to their clients.
	// Expected is the deliveries that should follow (see Expected; for
	// sub, inferred from the sequence numbers seen). Delivered counts the
	// distinct expected ones that arrived, so Lost = Expected - Delivered;
	// Duplicated counts the arrivals beyond the first.
	Sent       uint64 `json:"sent"`
	Expected   uint64 `json:"expected"`
	Delivered  uint64 `json:"delivered"`
	Lost       uint64 `json:"lost"`
	Duplicated uint64 `json:"duplicated"`

	// ElapsedS runs from the first publish to the last delivery; for pub,
	// to the end of publishing (the last message acknowledged, or written
	// at QoS 0); for sub, from the first delivery to the last; for conn,
	// from the first dial to the last CONNACK. SentPerSec divides Sent by
	// the publishing time, DeliveredPerSec divides Delivered by ElapsedS.
	ElapsedS        float64 `json:"elapsed_s"`
	SentPerSec      float64 `json:"sent_per_sec"`
	DeliveredPerSec float64 `json:"delivered_per_sec"`

	// LatencyUS is the delivery latency (send to receive) of the first
	// arrivals, in microseconds, within 0.4% (see Histogram); for conn,
	// the time from dial to CONNACK.
	LatencyUS Latency `json:"latency_us"`

	// Connections is the clients connected (for conn, those still
	// connected at the end of the hold); ConnectErrors the attempts that
	// failed; ConnectPerSec is for conn only.
	Connections   int     `json:"connections"`
	ConnectErrors int     `json:"connect_errors"`
	ConnectPerSec float64 `json:"connect_per_sec"`

	// Shown in the summary only.
	Unrecognised uint64        `json:"-"` // arrivals from no publisher of the run
	Samples      uint64        `json:"-"` // latency samples
	Publishing   time.Duration `json:"-"` // the publishing time
	Dropped      int           `json:"-"` // conn: connections lost during the hold
	Interrupted  bool          `json:"-"` // the run was cut short
	Errors       []string      `json:"-"` // the first errors of the run
	ErrorCount   int           `json:"-"` // all of them
}

// Latency holds quantiles in microseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func latencyOf(h *Histogram) Latency {
	us := func(ns int64) float64 { return round(float64(ns)/1e3, 1) }
	return Latency{P50: us(h.Quantile(0.50)), P90: us(h.Quantile(0.90)), P99: us(h.Quantile(0.99)), Max: us(h.Max())}
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func perSec(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return round(float64(n)/d.Seconds(), 1)
}

// WriteText writes the human-readable summary.
func (r *Result) WriteText(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s  MQTT %s", r.Scenario, r.Addr, versionName(byte(r.Version)))
	if r.Scenario != Conn {
		fmt.Fprintf(&b, "  QoS %d  payload %d B  %s", r.QoS, r.Payload, r.shape())
		if r.Rate > 0 {
			fmt.Fprintf(&b, "  %s msg/s each", num(r.Rate))
		}
		if r.QoS > 0 {
			fmt.Fprintf(&b, "  inflight %d", r.Inflight)
		}
		if r.Persistent {
			b.WriteString("  persistent sessions")
		}
	}
	if r.Interrupted {
		b.WriteString("  (interrupted)")
	}
	b.WriteString("\n")

	switch r.Scenario {
	case Conn:
		fmt.Fprintf(&b, "  connected    %s in %s  (%s conn/s)  errors %d", count(uint64(r.Connections+r.Dropped)),
			secs(r.ElapsedS), num(r.ConnectPerSec), r.ConnectErrors)
		if r.Dropped > 0 {
			fmt.Fprintf(&b, "  lost during the hold %d", r.Dropped)
		}
		b.WriteString("\n")
		fmt.Fprintf(&b, "  connect time p50 %s  p90 %s  p99 %s  max %s\n",
			usec(r.LatencyUS.P50), usec(r.LatencyUS.P90), usec(r.LatencyUS.P99), usec(r.LatencyUS.Max))
	default:
		if r.Scenario != Sub {
			fmt.Fprintf(&b, "  sent       %s in %s  (%s msg/s)\n", count(r.Sent), secs(r.Publishing.Seconds()), num(r.SentPerSec))
		}
		if r.Scenario != Pub {
			fmt.Fprintf(&b, "  delivered  %s of %s in %s  (%s msg/s)  lost %s  duplicated %s",
				count(r.Delivered), count(r.Expected), secs(r.ElapsedS), num(r.DeliveredPerSec), count(r.Lost), count(r.Duplicated))
			if r.Unrecognised > 0 {
				fmt.Fprintf(&b, "  unrecognised %s", count(r.Unrecognised))
			}
			b.WriteString("\n")
			if r.Samples > 0 {
				fmt.Fprintf(&b, "  latency    p50 %s  p90 %s  p99 %s  max %s\n",
					usec(r.LatencyUS.P50), usec(r.LatencyUS.P90), usec(r.LatencyUS.P99), usec(r.LatencyUS.Max))
			}
		}
		fmt.Fprintf(&b, "  clients    %d connected, %d failed\n", r.Connections, r.ConnectErrors)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "  error: %s\n", e)
	}
	if more := r.ErrorCount - len(r.Errors); more > 0 {
		fmt.Fprintf(&b, "  and %d more errors\n", more)
	}
	io.WriteString(w, b.String())
}

// shape describes who publishes to whom.
func (r *Result) shape() string {
	plural := func(n int, what string) string {
		if n == 1 {
			return "1 " + what
		}
		return strconv.Itoa(n) + " " + what + "s"
	}
	switch r.Scenario {
	case Pub:
		return plural(r.Publishers, "publisher")
	case Sub:
		return plural(r.Subscribers, "subscriber")
	case P2P:
		return plural(r.Publishers, "pair")
	}
	return plural(r.Publishers, "publisher") + " -> " + plural(r.Subscribers, "subscriber")
}

// count formats an integer with thousands separators.
func count(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// num formats a rate: thousands separators, one decimal below 100.
func num(v float64) string {
	if v < 100 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return count(uint64(math.Round(v)))
}

func secs(s float64) string { return strconv.FormatFloat(s, 'f', 2, 64) + "s" }

// usec formats microseconds in the unit that suits them.
func usec(us float64) string {
	switch {
	case us >= 1e6:
		return strconv.FormatFloat(us/1e6, 'f', 2, 64) + "s"
	case us >= 1e4:
		return strconv.FormatFloat(us/1e3, 'f', 1, 64) + "ms"
	case us >= 1e3:
		return strconv.FormatFloat(us/1e3, 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(us, 'f', 0, 64) + "µs"
}

// Progress is a snapshot of a running run.
type Progress struct {
	Phase     string // connecting, publishing, draining, receiving, holding, closing
	Elapsed   time.Duration
	Sent      uint64
	Delivered uint64 // every arrival
	Expected  uint64 // the deliveries expected, when known
	Connected int
	Failed    int
	// Fraction of the run done, 0 to 1; negative when unknown (a sub run
	// without count or duration).
	Fraction float64
}

// ProgressMeter renders progress lines, with rates over the interval since
// the previous line.
type ProgressMeter struct {
	prev Progress
}

// Line renders p as one line with a bar of width cells; with a width of
// 10 it fits 80 columns.
func (m *ProgressMeter) Line(p Progress, width int) string {
	dt := (p.Elapsed - m.prev.Elapsed).Seconds()
	rate := func(now, before uint64) string {
		if dt <= 0 || now < before {
			return "-"
		}
		return short(float64(now-before) / dt)
	}
	var b strings.Builder
	if p.Fraction >= 0 {
		f := min(p.Fraction, 1)
		full := int(f * float64(width))
		b.WriteString("[" + strings.Repeat("=", full))
		if full < width {
			b.WriteString(">" + strings.Repeat(" ", width-full-1))
		}
		fmt.Fprintf(&b, "] %3.0f%% ", f*100)
	}
	fmt.Fprintf(&b, "%-10s %5.1fs", p.Phase, p.Elapsed.Seconds())
	switch {
	case p.Phase == "connecting" || p.Phase == "holding":
		fmt.Fprintf(&b, "  connected %d  failed %d", p.Connected, p.Failed)
	default:
		if p.Sent > 0 || m.prev.Sent > 0 {
			fmt.Fprintf(&b, "  sent %s %s/s", short(float64(p.Sent)), rate(p.Sent, m.prev.Sent))
		}
		if p.Delivered > 0 || m.prev.Delivered > 0 {
			fmt.Fprintf(&b, "  recv %s %s/s", short(float64(p.Delivered)), rate(p.Delivered, m.prev.Delivered))
		}
	}
	m.prev = p
	return b.String()
}

// short formats a count compactly, in three significant digits: 950,
// 12.3k, 4.56M.
func short(v float64) string {
	unit := ""
	for _, u := range []string{"k", "M", "G", "T"} {
		if v < 999.5 {
			break
		}
		v, unit = v/1000, u
	}
	digits := 0
	switch {
	case unit == "":
	case v < 9.995:
		digits = 2
	case v < 99.95:
		digits = 1
	}
	return strconv.FormatFloat(v, 'f', digits, 64) + unit
}
