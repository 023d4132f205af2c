package broker

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"testing"
)

func TestZZServerMem(t *testing.T) {
	_, ln := startTCPServer(t, quietOptions())
	const n = 5000
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cmd := exec.Command("python3", "/tmp/memx/clients.py", ln.Addr().String(), fmt.Sprint(n))
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Start()
	bufio.NewReader(out).ReadString('\n')
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	d := func(a, b uint64) float64 { return float64(int64(b)-int64(a)) / n }
	t.Logf("per conn: heapinuse %.0f stackinuse %.0f mspan %.0f other %.0f sys %.0f objects %.1f", d(m0.HeapInuse, m1.HeapInuse), d(m0.StackInuse, m1.StackInuse), d(m0.MSpanInuse, m1.MSpanInuse), d(m0.OtherSys, m1.OtherSys), d(m0.Sys, m1.Sys), d(m0.HeapObjects, m1.HeapObjects))
	f, _ := os.Create("/tmp/memx/heap.prof")
	pprof.WriteHeapProfile(f)
	f.Close()
	in.Write([]byte("\n"))
	cmd.Wait()
}
