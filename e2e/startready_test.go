//go:build load

// Start to ready (docs/benchmarks.md#start-to-ready): the built binary started on a fresh database, again and again,
// timed from exec to its first 200 from /healthz. Not part of `make test`: run it with `make bench-start`.

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/klavi-demo/portal/internal/logbuf"
)

// startReadyGoal is the goal for the median start (docs/benchmarks.md#start-to-ready).
const startReadyGoal = 150 * time.Millisecond

func TestStartToReady(t *testing.T) {
	runs := loadEnvInt(t, "START_RUNS", 10, 1, 100)
	dir := t.TempDir()
	bin := filepath.Join(dir, "portal")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "..") // as make build does
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	loadBefore := loadAvg1()
	var took []time.Duration
	for i := range runs {
		d, err := startOnce(filepath.Join(dir, strconv.Itoa(i)), bin)
		if err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		took = append(took, d)
		t.Logf("run %2d: %s", i+1, ms(d))
	}
	slices.Sort(took)
	median := took[len(took)/2]
	if len(took)%2 == 0 {
		median = (took[len(took)/2-1] + took[len(took)/2]) / 2
	}
	t.Logf("exec → first 200 from /healthz, fresh database each time, %d runs: median %s, min %s, max %s "+
		"(goal: median ≤ %s); load average (1 min) %s → %s", runs, ms(median), ms(took[0]), ms(took[len(took)-1]),
		ms(startReadyGoal), loadBefore, loadAvg1())
	if median > startReadyGoal {
		t.Errorf("median start %s is above the goal of %s", ms(median), ms(startReadyGoal))
	}
}

// startOnce starts bin with a fresh database under dir, as a first start is (no SESSION_KEY: it is generated and
// kept beside the database), times exec to the first 200 from /healthz, then stops it with SIGTERM.
func startOnce(dir, bin string) (time.Duration, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return 0, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"ADDR=" + addr, "SANDBOX_ADDR=127.0.0.1:" + strconv.Itoa(ports[1]),
		"METRICS_ADDR=127.0.0.1:" + strconv.Itoa(ports[2]), "DATABASE_PATH=" + filepath.Join(dir, "portal.db")}
	logs := &logbuf.Buffer{Max: 1 << 20}
	cmd.Stdout, cmd.Stderr = io.Discard, logs
	// One connection per try and a short timeout: a refused connect (not listening yet) is retried at once, an
	// accepted one waits for the server to answer.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	var waitErr error
	exited := make(chan struct{}) // closed once the process has exited; waitErr is then its exit error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // a process that already exited is reported by the wait below
		select {
		case <-exited:
		case <-time.After(25 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
		if err != nil {
			return 0, err
		}
		res, err := hc.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		select {
		case <-exited:
			return 0, fmt.Errorf("the portal exited before it was ready: %v\n%s", waitErr, logs.String())
		case <-ctx.Done():
			return 0, fmt.Errorf("not ready within 30 s: %v\n%s", err, logs.String())
		case <-time.After(time.Millisecond):
		}
	}
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close() // only reserved them
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
