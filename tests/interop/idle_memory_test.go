package interop

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkIdleConnectionMemory opens many connections that each hold one
// subscription and then stay idle, and reports the broker's resident memory
// per connection, for gridmq and, side by side, for Mosquitto when it is
// installed. Run it once:
//
//	go test -run x -bench IdleConnectionMemory -benchtime 1x ./tests/interop
//
// GRIDMQ_IDLE_CONNS sets the number of connections (default 10,000; each
// process needs that many file descriptors).
func BenchmarkIdleConnectionMemory(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("GRIDMQ_IDLE_CONNS")); err == nil && v > 0 {
		n = v
	}
	b.Run("broker=gridmq", func(b *testing.B) {
		br := StartBroker(b)
		measureIdle(b, br.Addr, br.cmd.Process.Pid, n)
	})
	b.Run("broker=mosquitto", func(b *testing.B) {
		addr, pid := startMosquitto(b)
		measureIdle(b, addr, pid, n)
	})
}

func measureIdle(b *testing.B, addr string, pid, n int) {
	before := settledRSS(b, pid)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	buf := make([]byte, 64)
	for i := range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			b.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		id := fmt.Sprintf("idle-%06d", i)
		sub := wirePacket(0x82, wireU16(1), wireString("site/"+id+"/cmd"), []byte{1})
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(append(wireConnect311(id), sub...)); err != nil {
			b.Fatalf("connection %d: %v", i, err)
		}
		// CONNACK (4 bytes) and SUBACK (5 bytes).
		if _, err := io.ReadFull(c, buf[:9]); err != nil {
			b.Fatalf("connection %d: CONNACK/SUBACK: %v", i, err)
		}
		if buf[0] != 0x20 || buf[3] != 0 || buf[4] != 0x90 {
			b.Fatalf("connection %d: unexpected answer % x", i, buf[:9])
		}
	}
	after := settledRSS(b, pid)
	b.ReportMetric(float64(after-before)/float64(n), "bytes/conn")
	b.ReportMetric(float64(after)/(1<<20), "MiB-rss")
}

// settledRSS waits for the process's resident memory to stop falling (a Go
// runtime returns freed memory gradually) and returns its lowest value.
func settledRSS(b *testing.B, pid int) int64 {
	lowest := rssBytes(b, pid)
	for range 20 {
		time.Sleep(250 * time.Millisecond)
		lowest = min(lowest, rssBytes(b, pid))
	}
	return lowest
}

func rssBytes(b *testing.B, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// startMosquitto runs Debian's mosquitto on a free loopback port with
// anonymous access and no connection limit, or skips if it is not installed.
func startMosquitto(b *testing.B) (addr string, pid int) {
	path, err := exec.LookPath("mosquitto")
	if err != nil {
		if path, err = exec.LookPath("/usr/sbin/mosquitto"); err != nil {
			b.Skip("mosquitto is not installed (apt-get install mosquitto)")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := filepath.Join(b.TempDir(), "mosquitto.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nmax_connections -1\n", port)), 0o644)
	cmd := exec.Command("sh", "-c", "ulimit -n $(ulimit -Hn); exec "+path+" -c "+conf)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			b.Fatal("mosquitto did not start listening")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
