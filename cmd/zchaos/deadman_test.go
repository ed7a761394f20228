package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ory/dockertest/v3/docker"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/chaostest"
	"github.com/zchaos/zchaos/chaos/runtime"
)

// killRunsEnv is how many runs TestDockerKilledRunLeavesNoContainers kills
// (default 1; `make soak-kill` sets 20).
const killRunsEnv = "ZCHAOS_KILL_RUNS"

func killRuns(t *testing.T) int {
	t.Helper()
	v := os.Getenv(killRunsEnv)
	if v == "" {
		return 1
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "%s=%q", killRunsEnv, v)
	require.Positive(t, n, "%s=%q", killRunsEnv, v)
	return n
}

var runHeader = regexp.MustCompile(`, run (\S+)\n`)

// killedRun is a `zchaos` process started to be killed.
type killedRun struct {
	cmd    *exec.Cmd
	runID  string
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{} // stderr read to its end
}

// startKilledRun starts `zchaos args…` and returns once it has printed its
// run ID.
func startKilledRun(t *testing.T, bin string, args ...string) *killedRun {
	t.Helper()
	r := &killedRun{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	errPipe, err := r.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, r.cmd.Start())
	t.Cleanup(func() { _ = r.cmd.Process.Kill(); <-r.done; _ = r.cmd.Wait() })
	ids := make(chan string, 1)
	go func() {
		defer close(r.done)
		br := bufio.NewReader(errPipe)
		for {
			line, err := br.ReadString('\n')
			r.mu.Lock()
			r.stderr.WriteString(line)
			r.mu.Unlock()
			if m := runHeader.FindStringSubmatch(line); m != nil {
				select {
				case ids <- m[1]:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case r.runID = <-ids:
	case <-r.done:
		t.Fatalf("zchaos %s ended before it named its run:\n%s", strings.Join(args, " "), r.output())
	case <-time.After(3 * time.Minute):
		t.Fatalf("zchaos %s named no run:\n%s", strings.Join(args, " "), r.output())
	}
	return r
}

func (r *killedRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stderr.String()
}

// kill SIGKILLs zchaos and returns when it is dead.
func (r *killedRun) kill(t *testing.T) time.Time {
	t.Helper()
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGKILL))
	_ = r.cmd.Wait()
	return time.Now()
}

// runContainers lists the containers labelled with runID, running or not.
func runContainers(ctx context.Context, cl *docker.Client, runID string) ([]docker.APIContainers, error) {
	return cl.ListContainers(docker.ListContainersOptions{All: true, Context: ctx,
		Filters: map[string][]string{"label": {runtime.LabelRun + "=" + runID}}})
}

// armed says whether the container's dead-man switch runs.
func armed(ctx context.Context, cl *docker.Client, id string) bool {
	ex, err := cl.CreateExec(docker.CreateExecOptions{Container: id, Cmd: []string{"pgrep", "-f", "agent deadman"},
		AttachStdout: true, Context: ctx})
	if err != nil {
		return false
	}
	var out bytes.Buffer
	if err := cl.StartExec(ex.ID, docker.StartExecOptions{OutputStream: &out, ErrorStream: &out, Context: ctx}); err != nil {
		return false
	}
	return len(bytes.TrimSpace(out.Bytes())) > 0
}

// TestDockerKilledRunLeavesNoContainers starts real `zchaos run`s (the
// built binary), waits until their containers run with their dead-man
// switches armed, SIGKILLs zchaos at a point that varies from run to run,
// and asserts that every container of the run is gone within the grace
// plus 10 s. It logs each death → removal time, and a summary line
// (`make soak-kill` runs it 20 times: ZCHAOS_KILL_RUNS).
//
// What it does not cover: a harness killed between the engine starting a
// container and its switch being armed (tens of milliseconds per
// container) leaves that container to `zchaos cleanup`.
func TestDockerKilledRunLeavesNoContainers(t *testing.T) {
	rt := chaostest.Docker(t)
	img := chaostest.Image(t)
	n := killRuns(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute+time.Duration(n)*2*time.Minute)
	defer cancel()
	bins, err := runtime.BuildBinaries(ctx, chaostest.ModuleRoot(t), t.TempDir())
	require.NoError(t, err)
	cl := rt.Client()
	bound := agent.DeadmanGrace + 10*time.Second

	var times []time.Duration
	left := 0
	for i := 0; i < n; i++ {
		// Two containers at once (migrated and legacy), or a supervisor
		// restart (the switch dies with the old init and is re-armed).
		args := []string{"run", "crash-restart", "--legacy", "--parallel", "2"}
		if i%2 == 1 {
			args = []string{"run", "supervisor-restart-restores"}
		}
		args = append(args, "--image", img, "--time-scale", "1", "--seed", strconv.Itoa(7+i), "--out", t.TempDir())
		want := 2 - i%2
		r := startKilledRun(t, bins.Agent, args...)
		t.Cleanup(func() { // whatever a failure left
			cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
			defer ccancel()
			_, _ = rt.Cleanup(cctx, r.runID)
		})
		require.Eventually(t, func() bool {
			cs, err := runContainers(ctx, cl, r.runID)
			if err != nil || len(cs) < want {
				return false
			}
			for _, c := range cs {
				if c.State != "running" || !armed(ctx, cl, c.ID) {
					return false
				}
			}
			return true
		}, 3*time.Minute, 100*time.Millisecond, "run %d: %d containers running and armed:\n%s", i, want, r.output())
		// Vary the moment of the kill from run to run: 0 to 1.5 s after
		// the switches were armed (this chooses a moment; it waits for
		// nothing).
		delay := time.Duration(i%4) * 500 * time.Millisecond
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		before, err := runContainers(ctx, cl, r.runID)
		require.NoError(t, err)
		dead := r.kill(t)

		var cs []docker.APIContainers
		gone := assert.Eventually(t, func() bool {
			cs, err = runContainers(ctx, cl, r.runID)
			return err == nil && len(cs) == 0
		}, bound, 50*time.Millisecond, "run %d (%s): every container of the run removes itself", i, r.runID)
		took := time.Since(dead)
		if !gone {
			left += len(cs)
			t.Logf("run %d: %d container(s) left after %v: %v\nzchaos stderr:\n%s", i, len(cs), bound, containerNames(cs), r.output())
			continue
		}
		times = append(times, took)
		t.Logf("run %d (%s, %d containers, killed %v after armed): death → removal %v", i, r.runID, len(before), delay, took.Round(10*time.Millisecond))
	}
	t.Logf("kill soak: %d runs, containers left %d, death→removal %s (grace %v)", n, left, spread(times), agent.DeadmanGrace)
}

func containerNames(cs []docker.APIContainers) []string {
	var out []string
	for _, c := range cs {
		out = append(out, strings.Join(c.Names, ","))
	}
	return out
}

// spread is "min … median … max …" of ds.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none measured"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Millisecond) }
	return fmt.Sprintf("min %v median %v max %v", r(s[0]), r(s[len(s)/2]), r(s[len(s)-1]))
}

// TestLocalRunKilledHarnessLeavesNoProcesses starts a real `zchaos run
// --runtime local`, waits until its container's zinit, service and
// dead-man switch run, SIGKILLs zchaos, and asserts that no process of the
// container is left within the grace plus 10 s.
func TestLocalRunKilledHarnessLeavesNoProcesses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bins, err := runtime.BuildBinaries(ctx, chaostest.ModuleRoot(t), t.TempDir())
	require.NoError(t, err)
	dir, err := os.MkdirTemp("", "zk") // short: socket paths
	require.NoError(t, err)
	t.Cleanup(func() {
		if lrt, err := runtime.NewLocalRuntime(dir); err == nil {
			_, _ = lrt.Cleanup(context.Background(), "")
		}
		_ = os.RemoveAll(dir)
	})
	r := startKilledRun(t, bins.Agent, "run", "crash-restart", "--runtime", "local", "--local-dir", dir,
		"--time-scale", "1", "--seed", "7", "--out", t.TempDir())

	var root string
	require.Eventually(t, func() bool {
		states, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		if len(states) != 1 {
			return false
		}
		root = strings.TrimSuffix(states[0], ".json")
		var hasSwitch, hasInit, hasService bool
		for _, p := range localRootProcs(root) {
			hasSwitch = hasSwitch || strings.Contains(p.cmdline, "agent deadman")
			hasInit = hasInit || strings.Contains(p.cmdline, "zinit init")
			hasService = hasService || strings.HasSuffix(strings.Fields(p.cmdline + " x")[0], "/herosim")
		}
		return hasSwitch && hasInit && hasService
	}, 3*time.Minute, 50*time.Millisecond, "the local container runs zinit, a service and its switch:\n%s", r.output())
	before := localRootProcs(root)

	dead := r.kill(t)
	require.Eventually(t, func() bool { return len(localRootProcs(root)) == 0 }, agent.DeadmanGrace+10*time.Second,
		20*time.Millisecond, "every process of the local container ends: %v left", localRootProcs(root))
	t.Logf("%d processes of the local container (%v); harness killed → none left: %v", len(before), before,
		time.Since(dead).Round(10*time.Millisecond))
}

type localProc struct {
	pid     int
	cmdline string
}

func (p localProc) String() string {
	f := strings.Fields(p.cmdline)
	if len(f) > 2 {
		f = f[:2]
	}
	return fmt.Sprintf("%d %s", p.pid, filepath.Base(strings.Join(f, " ")))
}

// localRootProcs lists the live processes whose environment names root as
// their local container.
func localRootProcs(root string) []localProc {
	ents, _ := os.ReadDir("/proc")
	want := []byte("ZCHAOS_LOCAL_ROOT=" + root + "\x00")
	var out []localProc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// A zombie's environment reads empty: only live processes match.
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !(bytes.HasPrefix(env, want) || bytes.Contains(env, append([]byte{0}, want...))) {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		out = append(out, localProc{pid, strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))})
	}
	return out
}

// TestDockerReaperRemovesWhatNoSwitchGuards runs the host-side reaper
// (`zchaos agent reap`) over two containers of a run that have no dead-man
// switch, one of them kept: when its stream ends without a disarm, it
// removes the other one only.
func TestDockerReaperRemovesWhatNoSwitchGuards(t *testing.T) {
	rt := chaostest.Docker(t)
	img := chaostest.Image(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bins, err := runtime.BuildBinaries(ctx, chaostest.ModuleRoot(t), t.TempDir())
	require.NoError(t, err)
	runID := fmt.Sprintf("reaper-%d", os.Getpid())
	kept, err := rt.Start(ctx, runtime.StartOptions{Image: img, RunID: runID})
	require.NoError(t, err)
	_, err = rt.Start(ctx, runtime.StartOptions{Image: img, RunID: runID})
	require.NoError(t, err)

	reap := exec.Command(bins.Agent, "agent", "reap", "--run", runID, "--grace", "1s")
	in, err := reap.StdinPipe()
	require.NoError(t, err)
	out, err := reap.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, reap.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "armed\n", line)
	_, err = fmt.Fprintf(in, "keep %s\n", kept.ID())
	require.NoError(t, err)
	require.NoError(t, in.Close()) // as the harness's death would
	ended := time.Now()
	require.NoError(t, reap.Wait(), "the reaper removed what it had to and exited 0")
	t.Logf("stream ended → reaper done: %v", time.Since(ended).Round(10*time.Millisecond))

	cs, err := runContainers(ctx, rt.Client(), runID)
	require.NoError(t, err)
	require.Len(t, cs, 1, "one container left: %v", containerNames(cs))
	assert.Equal(t, kept.ID(), cs[0].ID, "the kept one")
}
