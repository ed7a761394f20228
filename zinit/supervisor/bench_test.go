package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/zinit"
)

// eventLog collects engine events from the engine goroutine.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(ev Event) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

func (l *eventLog) count(kind EventKind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ev := range l.events {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

func (l *eventLog) snapshot() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

func percentile(ms []float64, p float64) float64 {
	s := append([]float64(nil), ms...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	i := int(p * float64(len(s)-1))
	return s[i]
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkRestartOvershoot measures t_spawn(k+1) − t_exit(k) − d over 200
// policy restarts of a real crashing process (exit seen by the reaper,
// spawn after the fork returned), d = 20 ms.
func BenchmarkRestartOvershoot(b *testing.B) {
	const restarts, delay = 200, 20 * time.Millisecond
	for i := 0; i < b.N; i++ {
		var log eventLog
		d := startDaemon(b, Config{observe: log.add})
		d.addService(b, zinit.Service{Name: "crash"},
			zinit.NewJob("crash", "main").Exec("exit 1").Trigger(zinit.TriggerStart).
				Restart(zinit.RestartAlways).RestartDelay(delay))
		require.NoError(b, d.c.Start(ctxT(b), "crash"))
		waitFor(b, 60*time.Second, "200 restarts", func() (bool, error) {
			n := log.count(EventSpawn)
			return n >= restarts+1, fmt.Errorf("%d spawns", n)
		})
		require.NoError(b, d.c.Stop(ctxT(b), "crash"))
		d.stop(b)
		var over []float64
		var lastExit time.Time
		for _, ev := range log.snapshot() {
			switch ev.Kind {
			case EventExit:
				lastExit = ev.At
			case EventSpawn:
				if !lastExit.IsZero() && len(over) < restarts {
					over = append(over, msOf(ev.At.Sub(lastExit)-delay))
				}
			}
		}
		require.Len(b, over, restarts)
		for _, o := range over {
			require.GreaterOrEqual(b, o, 0.0, "the delay is a floor (R1)")
		}
		b.ReportMetric(percentile(over, 0.5), "median-overshoot-ms")
		b.ReportMetric(percentile(over, 0.99), "p99-overshoot-ms")
		b.ReportMetric(percentile(over, 1), "max-overshoot-ms")
	}
}

// BenchmarkCheckJitter measures how late check runs start against their
// schedule (previous end + interval), interval 20 ms, 200 runs.
func BenchmarkCheckJitter(b *testing.B) {
	const runs, interval = 200, 20 * time.Millisecond
	for i := 0; i < b.N; i++ {
		var log eventLog
		d := startDaemon(b, Config{observe: log.add})
		d.addService(b, zinit.Service{Name: "svc"},
			zinit.NewJob("svc", "main").Exec("exec sleep 1000").Trigger(zinit.TriggerStart),
			zinit.NewJob("svc", "check").Exec("true").Trigger(zinit.TriggerCheck).Interval(interval).Timeout(5*time.Second))
		require.NoError(b, d.c.Start(ctxT(b), "svc"))
		waitFor(b, 60*time.Second, "200 check runs", func() (bool, error) {
			n := log.count(EventCheckStart)
			return n >= runs, fmt.Errorf("%d check runs", n)
		})
		d.stop(b)
		var late []float64
		for _, ev := range log.snapshot() {
			if ev.Kind == EventCheckStart && len(late) < runs {
				late = append(late, msOf(ev.At.Sub(ev.Due)))
			}
		}
		b.ReportMetric(percentile(late, 0.5), "median-jitter-ms")
		b.ReportMetric(percentile(late, 0.99), "p99-jitter-ms")
	}
}

// procCPU is the CPU time pid's threads have used: the sum of
// /proc/<pid>/task/*/schedstat (nanosecond precision, unlike the tick
// sampled utime/stime of /proc/<pid>/stat).
func procCPU(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no tasks for pid %d: %v", pid, err)
	}
	var total int64
	for _, p := range tasks {
		data, err := os.ReadFile(p)
		if err != nil {
			continue // a thread that just exited
		}
		ns, err := strconv.ParseInt(strings.Fields(string(data))[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s: %w", p, err)
		}
		total += ns
	}
	return time.Duration(total), nil
}

func procRSSKiB(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			return strconv.ParseInt(strings.Fields(line)[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// buildZinit builds cmd/zinit into a temp dir and returns the binary, or ""
// (the benchmark then runs this test binary in daemon mode, a bigger
// process: its RSS is an upper bound). No in-process daemon runs meanwhile,
// so this exec's wait cannot race a reaper.
func buildZinit(b *testing.B) string {
	bin := filepath.Join(shortTempDir(b), "zinit")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/zchaos/zchaos/cmd/zinit").CombinedOutput()
	if err != nil {
		b.Logf("cmd/zinit does not build (%v): measuring the test binary instead\n%s", err, out)
		return ""
	}
	return bin
}

// BenchmarkIdle29Services runs the daemon out of process (cmd/zinit, or
// this test binary in daemon mode), with 29 services idling (`sleep` start jobs, a check
// every second each), and reports its RSS and CPU over a 6 s window.
func BenchmarkIdle29Services(b *testing.B) {
	const n, window = 29, 6 * time.Second
	for i := 0; i < b.N; i++ {
		sock := filepath.Join(shortTempDir(b), "z.sock")
		var stderr bytes.Buffer
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), envTestDaemon+"="+sock)
		if bin := buildZinit(b); bin != "" {
			cmd = exec.Command(bin, "init", "--socket", sock, "--config-dir", shortTempDir(b), "--state-dir", shortTempDir(b))
		}
		cmd.Stderr = &stderr
		require.NoError(b, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		ctx := ctxT(b)
		var c *zinit.Client
		waitFor(b, 10*time.Second, "the daemon", func() (bool, error) {
			var err error
			c, err = zinit.Dial(ctx, sock)
			return err == nil, err
		})
		for k := 0; k < n; k++ {
			name := fmt.Sprintf("user.hero_%02d", k)
			require.NoError(b, c.AddService(ctx, zinit.Service{Name: name}))
			for _, jb := range []*zinit.JobBuilder{
				zinit.NewJob(name, "main").Exec("exec sleep 1000").Trigger(zinit.TriggerStart).Restart(zinit.RestartOnFailure),
				zinit.NewJob(name, "check").Exec("true").Trigger(zinit.TriggerCheck).Interval(time.Second),
			} {
				j, err := jb.Build()
				require.NoError(b, err)
				_, err = c.AddJob(ctx, j)
				require.NoError(b, err)
			}
			require.NoError(b, c.Start(ctx, name))
		}
		waitFor(b, 10*time.Second, "every check passed once", func() (bool, error) {
			list, err := c.List(ctx)
			if err != nil {
				return false, err
			}
			for _, st := range list {
				if st.State != zinit.StateRunning || st.Jobs[1].LastCheck == nil {
					return false, nil
				}
			}
			return len(list) == n, nil
		})
		pid := cmd.Process.Pid
		cpu0, err := procCPU(pid)
		require.NoError(b, err)
		start := time.Now()
		<-clock.RealClock{}.After(window) // the measurement window itself
		cpu1, err := procCPU(pid)
		require.NoError(b, err)
		elapsed := time.Since(start)
		rss, err := procRSSKiB(pid)
		require.NoError(b, err)
		c.Close()
		require.NoError(b, cmd.Process.Signal(syscall.SIGTERM))
		select {
		case err := <-done:
			require.NoError(b, err, "daemon stderr:\n%s", stderr.String())
		case <-time.After(zinit.ShutdownTimeout + 5*time.Second):
			cmd.Process.Kill()
			b.Fatal("daemon did not shut down")
		}
		cpu := float64(cpu1-cpu0) / float64(elapsed) * 100
		b.ReportMetric(float64(rss)/1024, "RSS-MiB")
		b.ReportMetric(cpu, "CPU-%")
	}
}

// BenchmarkList1000 times service.list over the socket with 1,000 services
// (a start and a check job each).
func BenchmarkList1000(b *testing.B) {
	d := startDaemon(b, Config{})
	ctx := context.Background()
	for k := 0; k < 1000; k++ {
		name := fmt.Sprintf("svc-%04d", k)
		d.addService(b, zinit.Service{Name: name},
			zinit.NewJob(name, "main").Exec("exec sleep 1000").Trigger(zinit.TriggerStart).Restart(zinit.RestartAlways),
			zinit.NewJob(name, "check").Exec("true").Trigger(zinit.TriggerCheck).Interval(time.Minute))
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		list, err := d.c.List(ctx)
		if err != nil || len(list) != 1000 {
			b.Fatalf("list: %d services, %v", len(list), err)
		}
	}
	b.ReportMetric(msOf(time.Since(start))/float64(b.N), "ms/list")
}

// BenchmarkIdleConns runs the daemon out of process (this test binary in
// daemon mode, request deadline 2 s, the default cap), opens 5,000
// connections that never send a byte, and reports the daemon's RSS before,
// with them open (after a ping on a new connection has been answered: every
// one was accepted by then) and once the daemon has closed all of them at
// their deadline.
func BenchmarkIdleConns(b *testing.B) {
	const n, timeout = 5000, 2 * time.Second
	for i := 0; i < b.N; i++ {
		sock := filepath.Join(shortTempDir(b), "z.sock")
		cmd, done := startTestDaemon(b, sock, envTestRequestTimeout+"="+timeout.String())
		pid := cmd.Process.Pid
		rss0, err := procRSSKiB(pid)
		require.NoError(b, err)
		conns := dialMany(b, sock, n)
		c, err := zinit.Dial(ctxT(b), sock)
		require.NoError(b, err)
		_, err = c.Ping(ctxT(b))
		require.NoError(b, err)
		c.Close()
		rssOpen, err := procRSSKiB(pid)
		require.NoError(b, err)
		start := time.Now()
		for _, c := range conns {
			c.SetReadDeadline(time.Now().Add(2 * timeout))
			_, err := c.Read(make([]byte, 1))
			require.ErrorIs(b, err, io.EOF, "closed by the daemon at its deadline")
		}
		closedIn := time.Since(start)
		rssAfter, err := procRSSKiB(pid)
		require.NoError(b, err)
		require.NoError(b, cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(b, <-done)
		b.ReportMetric(float64(rss0)/1024, "RSS-before-MiB")
		b.ReportMetric(float64(rssOpen)/1024, "RSS-open-MiB")
		b.ReportMetric(float64(rssAfter)/1024, "RSS-after-deadline-MiB")
		b.ReportMetric(msOf(closedIn), "all-closed-after-ms")
	}
}
