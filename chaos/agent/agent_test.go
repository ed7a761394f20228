package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

func TestExecMatcher(t *testing.T) {
	exec := `/usr/local/bin/herosim serve --name a --socket /s/a.sock`
	m := newExecMatcher(exec)
	assert.True(t, m.match([]string{"sh", "-c", exec}), "zinit runs sh -c <exec>")
	assert.True(t, m.match([]string{"/bin/sh", "-c", exec}))
	assert.True(t, m.match(strings.Fields(exec)), "the shell exec'd the command")
	assert.False(t, m.match([]string{"sh", "-c", exec + " --crash-loop"}))
	assert.False(t, m.match([]string{"/usr/local/bin/herosim", "serve", "--name", "b", "--socket", "/s/a.sock"}))
	assert.False(t, m.match(nil))

	q := newExecMatcher(`herosim serve --name 'x y' --flag "a\"b"`)
	assert.True(t, q.match([]string{"/usr/local/bin/herosim", "serve", "--name", "x y", "--flag", `a"b`}),
		"quotes are split as the shell does, and argv[0] may be resolved through PATH")
	assert.False(t, q.match([]string{"/usr/local/bin/other", "serve", "--name", "x y", "--flag", `a"b`}))

	check := `echo '{"jsonrpc":"2.0","method":"server.health","id":1}' | socat - UNIX-CONNECT:/s/a.sock`
	c := newExecMatcher(check)
	assert.True(t, c.match([]string{"sh", "-c", check}))
	assert.False(t, c.match([]string{"socat", "-", "UNIX-CONNECT:/s/a.sock"}), "a pipeline's member is not the job")
}

// fakeProc is a fake /proc tree: <root>/<pid>/{stat,cmdline}.
type fakeProc struct {
	t    *testing.T
	root string
}

func newFakeProc(t *testing.T) *fakeProc { return &fakeProc{t: t, root: t.TempDir()} }

// set writes a process; exit is the wait status shown by a zombie (-1: none).
func (f *fakeProc) set(pid, ppid, pgid int, state byte, start uint64, exit int, argv ...string) {
	f.t.Helper()
	dir := filepath.Join(f.root, strconv.Itoa(pid))
	require.NoError(f.t, os.MkdirAll(dir, 0o755))
	rest := make([]string, 47) // fields 6..52
	for i := range rest {
		rest[i] = "0"
	}
	rest[16] = strconv.FormatUint(start, 10) // field 22
	if exit >= 0 {
		rest[46] = strconv.Itoa(exit) // field 52
	}
	comm := "x"
	if len(argv) > 0 {
		comm = filepath.Base(argv[0])
	}
	stat := fmt.Sprintf("%d (%s) %c %d %d %s\n", pid, comm, state, ppid, pgid, strings.Join(rest, " "))
	require.NoError(f.t, os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644))
	require.NoError(f.t, os.WriteFile(filepath.Join(dir, "cmdline"), []byte(strings.Join(argv, "\x00")+"\x00"), 0o644))
}

func (f *fakeProc) remove(pid int) {
	require.NoError(f.t, os.RemoveAll(filepath.Join(f.root, strconv.Itoa(pid))))
}

const (
	mainExec  = "/usr/local/bin/herosim serve --name svc --socket /s/svc.sock"
	checkExec = "echo x | socat - UNIX-CONNECT:/s/svc.sock"
	ms1       = int64(time.Millisecond)
)

func scannerFor(root string) *procScanner {
	return newProcScanner(Spec{Proc: root, ZombieAfterMs: 1000, StrayAfterMs: 500, Jobs: []Job{
		{Service: "svc", Job: "main", Trigger: "start", Exec: mainExec},
		{Service: "svc", Job: "check", Trigger: "check", Exec: checkExec},
	}})
}

func kinds(evs []scenarios.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s:%d", e.Kind, e.PID))
	}
	return out
}

func TestProcScannerSpawnExitAndCodes(t *testing.T) {
	fp := newFakeProc(t)
	fp.set(1, 0, 1, 'S', 1, -1, "/usr/local/bin/zinit", "init")
	fp.set(10, 1, 10, 'S', 5, -1, "sh", "-c", mainExec)
	s := scannerFor(fp.root)

	evs := s.step(1000 * ms1)
	require.Equal(t, []string{"spawn:10"}, kinds(evs))
	assert.Equal(t, "present at agent start", evs[0].Detail)
	assert.Equal(t, "main", evs[0].Job)
	assert.Equal(t, 10, evs[0].PGID)

	// Nothing changes: nothing reported.
	assert.Empty(t, s.step(1002*ms1))

	// The leader becomes a zombie with exit code 3: exit with its code,
	// at the poll that saw it, with the poll period as error.
	fp.set(10, 1, 10, 'Z', 5, 3<<8)
	evs = s.step(1004 * ms1)
	require.Equal(t, []string{"exit:10"}, kinds(evs))
	require.NotNil(t, evs[0].Code)
	assert.Equal(t, 3, *evs[0].Code)
	assert.Equal(t, 1004*ms1, evs[0].TNs)
	assert.Equal(t, 2*ms1, evs[0].ErrNs)
	// Reaped: no second exit.
	fp.remove(10)
	assert.Empty(t, s.step(1006*ms1))

	// A new incarnation, killed by a signal and reaped between two polls.
	fp.set(11, 1, 11, 'S', 7, -1, "/usr/local/bin/herosim", "serve", "--name", "svc", "--socket", "/s/svc.sock")
	evs = s.step(1008 * ms1)
	require.Equal(t, []string{"spawn:11"}, kinds(evs))
	assert.Equal(t, 1008*ms1, evs[0].TNs)
	assert.Equal(t, 2*ms1, evs[0].ErrNs)
	fp.set(11, 1, 11, 'Z', 7, int(syscall.SIGKILL))
	evs = s.step(1010 * ms1)
	require.Equal(t, []string{"exit:11"}, kinds(evs))
	assert.Equal(t, "SIGKILL", evs[0].Signal)
	assert.Nil(t, evs[0].Code)
	fp.remove(11)

	// Vanished without being seen as a zombie: exit with no code.
	fp.set(12, 1, 12, 'S', 9, -1, "sh", "-c", mainExec)
	require.Equal(t, []string{"spawn:12"}, kinds(s.step(1012*ms1)))
	fp.remove(12)
	evs = s.step(1015 * ms1)
	require.Equal(t, []string{"exit:12"}, kinds(evs))
	assert.Nil(t, evs[0].Code)
	assert.Empty(t, evs[0].Signal)
	assert.Equal(t, 3*ms1, evs[0].ErrNs)
}

func TestProcScannerChecksAndPreExecWindow(t *testing.T) {
	fp := newFakeProc(t)
	fp.set(1, 0, 1, 'S', 1, -1, "zinit", "init")
	s := scannerFor(fp.root)
	assert.Empty(t, s.step(100*ms1))

	// Between fork and exec the child shows zinit's cmdline; once it execs
	// it is matched, and its spawn is dated to when it was first seen.
	fp.set(20, 1, 1, 'R', 50, -1, "zinit", "init")
	assert.Empty(t, s.step(102*ms1))
	fp.set(20, 1, 20, 'S', 50, -1, "sh", "-c", checkExec)
	evs := s.step(104 * ms1)
	require.Equal(t, []string{"check_spawn:20"}, kinds(evs))
	assert.Equal(t, 102*ms1, evs[0].TNs)
	assert.Equal(t, "check", evs[0].Job)
	fp.remove(20)
	require.Equal(t, []string{"check_exit:20"}, kinds(s.step(106*ms1)))

	// Past the window, a process whose executable did not change (same
	// comm) is not re-read, even if its cmdline was rewritten in place.
	fp.set(30, 1, 30, 'S', 60, -1, "sh", "-c", "sleep 100")
	assert.Empty(t, s.step(108*ms1))
	fp.set(30, 1, 30, 'S', 60, -1, "sh", "-c", mainExec)
	assert.Empty(t, s.step(108*ms1+int64(recheckWindow)+ms1))
	assert.Empty(t, s.step(100*ms1+int64(fullScanPeriod)))

	// One that exec'd after the window (a loaded machine: fork and exec
	// far apart) is seen at the next full scan, dated to when it was
	// first seen (its fork).
	fp.set(40, 1, 40, 'R', 70, -1, "zinit", "init")
	assert.Empty(t, s.step(210*ms1))
	assert.Empty(t, s.step(210*ms1+int64(recheckWindow)+ms1))
	fp.set(40, 1, 40, 'S', 70, -1, "sh", "-c", mainExec)
	evs = s.step(210*ms1 + int64(fullScanPeriod))
	require.Equal(t, []string{"spawn:40"}, kinds(evs))
	assert.Equal(t, 210*ms1, evs[0].TNs)

	// Same, but its child shows up before the next full scan: the child
	// proves the parent exec'd, so the parent is the leader, not the child.
	fp.set(50, 1, 50, 'R', 80, -1, "zinit", "init")
	assert.Empty(t, s.step(320*ms1))
	assert.Empty(t, s.step(320*ms1+int64(recheckWindow)+ms1))
	fp.set(50, 1, 50, 'S', 80, -1, "sh", "-c", mainExec)
	fp.set(51, 50, 50, 'S', 81, -1, strings.Fields(mainExec)...)
	evs = s.step(320*ms1 + int64(recheckWindow) + 2*ms1)
	require.Equal(t, []string{"spawn:50"}, kinds(evs))
	assert.Equal(t, 320*ms1, evs[0].TNs)
}

func TestProcScannerZombiesAndStrays(t *testing.T) {
	fp := newFakeProc(t)
	fp.set(1, 0, 1, 'S', 1, -1, "zinit", "init")
	fp.set(10, 1, 10, 'S', 5, -1, "sh", "-c", mainExec)
	fp.set(11, 10, 10, 'S', 6, -1, "helper", "--child")
	fp.set(40, 1, 40, 'Z', 7, 0, "orphan")
	s := scannerFor(fp.root)
	t0 := 10_000 * ms1
	require.Equal(t, []string{"spawn:10"}, kinds(s.step(t0)))

	// The leader dies; its child stays in the group.
	fp.remove(10)
	require.Equal(t, []string{"exit:10"}, kinds(s.step(t0+2*ms1)))
	var strays, zombies []scenarios.Event
	for now := t0 + 4*ms1; now <= t0+1500*ms1; now += 2 * ms1 {
		for _, e := range s.step(now) {
			switch e.Kind {
			case scenarios.EventStray:
				strays = append(strays, e)
			case scenarios.EventZombie:
				zombies = append(zombies, e)
			default:
				t.Fatalf("unexpected %s", e.Kind)
			}
		}
	}
	require.Len(t, strays, 1, "a stray is reported once")
	assert.Equal(t, 11, strays[0].PID)
	assert.Equal(t, 10, strays[0].PGID)
	assert.Equal(t, "svc", strays[0].Service)
	assert.GreaterOrEqual(t, strays[0].TNs-(t0+2*ms1), 500*ms1, "not before stray_after")
	assert.LessOrEqual(t, strays[0].TNs-(t0+2*ms1), 500*ms1+int64(fullScanPeriod)+2*ms1)

	require.Len(t, zombies, 1, "a zombie older than 1 s is reported, once by 1.5 s")
	assert.Equal(t, 40, zombies[0].PID)
	assert.GreaterOrEqual(t, zombies[0].TNs-t0, 1000*ms1)
	assert.GreaterOrEqual(t, zombies[0].ZombieMs, int64(1000), "its age travels as a field")

	// Never reaped, it is reported again each time its age doubles.
	zombies = nil
	for now := t0 + 1502*ms1; now <= t0+5000*ms1; now += 100 * ms1 {
		for _, e := range s.step(now) {
			if e.Kind == scenarios.EventZombie {
				zombies = append(zombies, e)
			}
		}
	}
	require.Len(t, zombies, 2, "at about 2 s and 4 s of age")
	assert.GreaterOrEqual(t, zombies[0].ZombieMs, int64(2000))
	assert.GreaterOrEqual(t, zombies[1].ZombieMs, int64(4000))
	assert.Equal(t, 40, zombies[1].PID)
}

func TestProcScannerPidReuse(t *testing.T) {
	fp := newFakeProc(t)
	fp.set(10, 1, 10, 'S', 5, -1, "sh", "-c", mainExec)
	s := scannerFor(fp.root)
	require.Equal(t, []string{"spawn:10"}, kinds(s.step(1000*ms1)))
	// Same pid, a different start time: the old one exited, a new one runs.
	fp.set(10, 1, 10, 'S', 99, -1, "sh", "-c", mainExec)
	assert.Equal(t, []string{"exit:10", "spawn:10"}, kinds(s.step(1000*ms1+int64(fullScanPeriod))))
}

// TestProcScannerRealProcesses watches real children of the test.
func TestProcScannerRealProcesses(t *testing.T) {
	execLine := "sleep 30; echo zchaos-test-" + strconv.Itoa(os.Getpid())
	s := newProcScanner(Spec{Jobs: []Job{{Service: "svc", Job: "main", Trigger: "start", Exec: execLine}}})
	s.step(MonoNow())
	cmd := exec.Command("sh", "-c", execLine)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var spawn *scenarios.Event
	for i := 0; i < 2000 && spawn == nil; i++ {
		for _, e := range s.step(MonoNow()) {
			if e.Kind == scenarios.EventSpawn && e.PID == cmd.Process.Pid {
				spawn = &e
			}
		}
	}
	require.NotNil(t, spawn, "the child is seen")
	assert.Equal(t, cmd.Process.Pid, spawn.PGID)

	require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL))
	var exit *scenarios.Event
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = zinit.PollUntil(ctx, clock.RealClock{}, time.Millisecond, func(context.Context) (bool, error) {
		for _, e := range s.step(MonoNow()) {
			if e.Kind == scenarios.EventExit && e.PID == cmd.Process.Pid {
				exit = &e
			}
		}
		return exit != nil, nil
	})
	require.NotNil(t, exit, "the kill is seen")
	// Not reaped yet: the zombie's stat tells how it died.
	assert.Equal(t, "SIGKILL", exit.Signal)
}

func TestStatusPollerReportsChangesOnly(t *testing.T) {
	answers := []string{
		`{"name":"svc","state":"running","pid":10,"restarts":0,"reason":null}`,
		`{"name":"svc","state":"running","pid":10,"restarts":0,"reason":null}`,
		`{"name":"svc","state":"restarting","pid":null,"restarts":0,"reason":null}`,
		`{"name":"svc","state":"failed","pid":null,"restarts":3,"reason":"restart_limit"}`,
	}
	i := 0
	var argv []string
	mono := int64(0)
	sp := &statusPoller{cli: "/bin/zinit", services: []string{"svc"}, last: map[string]statusKey{},
		mono: func() int64 { mono += 10; return mono },
		exec: func(_ context.Context, a []string) ([]byte, error) { argv = a; i++; return []byte(answers[i-1]), nil }}
	var got []string
	for range answers {
		for _, e := range sp.step(context.Background(), time.Second) {
			got = append(got, fmt.Sprintf("%s/%d/%s", e.State, *e.Restarts, e.Reason))
		}
	}
	assert.Equal(t, []string{"running/0/", "restarting/0/", "failed/3/restart_limit"}, got)
	assert.Equal(t, []string{"/bin/zinit", "status", "svc", "--json"}, argv)
}

// BenchmarkProcScannerStep measures one /proc poll on this machine's real
// /proc (with a job to match), and the CPU share that costs at the default
// 5 ms period (on the host /proc, which lists far more processes than a container).
func BenchmarkProcScannerStep(b *testing.B) {
	s := newProcScanner(Spec{Jobs: []Job{{Service: "svc", Job: "main", Trigger: "start", Exec: mainExec}}})
	s.step(MonoNow())
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.step(MonoNow())
	}
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) / time.Duration(b.N)
	pids, _ := s.listPids()
	b.ReportMetric(float64(cpu.Microseconds()), "cpu-us/step")
	b.ReportMetric(100*float64(cpu)/float64(5*time.Millisecond), "cpu%@5ms")
	b.ReportMetric(float64(len(pids)), "procs")
}

func TestStatusPollerUsesListForMany(t *testing.T) {
	var argvs [][]string
	sp := &statusPoller{cli: "zinit", services: []string{"a", "b", "c"}, last: map[string]statusKey{},
		mono: func() int64 { return 1 },
		exec: func(_ context.Context, a []string) ([]byte, error) {
			argvs = append(argvs, a)
			return []byte(`[{"name":"a","state":"running","restarts":0},{"name":"b","state":"failed","restarts":3,"reason":"restart_limit"}]`), nil
		}}
	evs := sp.step(context.Background(), time.Second)
	assert.Equal(t, [][]string{{"zinit", "list", "--json"}}, argvs, "one list call for many services")
	require.Len(t, evs, 3)
	assert.Equal(t, "running", evs[0].State)
	assert.Equal(t, "restart_limit", evs[1].Reason)
	assert.Contains(t, evs[2].Reason, "not in zinit list")
}

func TestInjectExitCodeThroughControlFile(t *testing.T) {
	fp := newFakeProc(t)
	ctl := filepath.Join(t.TempDir(), "ctl", "svc")
	execLine := mainExec + " --control " + ctl
	argv := strings.Fields(execLine)
	fp.set(50, 1, 50, 'S', 777, -1, argv...)
	spec := Spec{Proc: fp.root, Jobs: []Job{{Service: "svc", Job: "main", Trigger: "start", Exec: execLine}}}
	mono := int64(0)
	env := InjectEnv{Mono: func() int64 { mono += ms1; return mono },
		Exec: func(context.Context, []string) ([]byte, error) { return nil, errors.New("no zinit here") }}

	// The fake herosim obeys the command: it exits with the code written.
	obey, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // owner: this test; stop: stop(); waiter: <-done
		defer close(done)
		_ = zinit.PollUntil(obey, clock.RealClock{}, time.Millisecond, func(context.Context) (bool, error) {
			if b, err := os.ReadFile(ctl); err == nil && strings.TrimSpace(string(b)) == "exit 3" {
				_ = os.Remove(ctl)
				fp.set(50, 1, 50, 'Z', 777, 3<<8, argv...)
				return true, nil
			}
			return false, nil
		})
	}()
	var out bytes.Buffer
	err := RunInject(context.Background(), InjectOptions{Kind: scenarios.FaultExit, Service: "svc", Code: 3, Spec: spec,
		EffectTimeout: 5 * time.Second}, &out, env)
	stop()
	<-done
	require.NoError(t, err)
	var evs []scenarios.Event
	require.NoError(t, ReadEvents(&out, func(e scenarios.Event) { evs = append(evs, e) }))
	require.Len(t, evs, 2)
	assert.Equal(t, scenarios.EventFault, evs[0].Kind)
	require.NotNil(t, evs[0].Code)
	assert.Equal(t, 3, *evs[0].Code)
	assert.Empty(t, evs[0].Signal, "no signal involved")
	assert.Contains(t, evs[0].Detail, "mechanism=control")
	assert.Equal(t, scenarios.MechanismControl, evs[0].Mechanism)
	assert.NotEmpty(t, evs[0].Control)
	assert.Equal(t, scenarios.EventEffect, evs[1].Kind)
	require.NotNil(t, evs[1].OK)
	assert.True(t, *evs[1].OK, evs[1].Detail)

	// No control file: unsupported, and said so.
	fp.set(60, 1, 60, 'S', 888, -1, strings.Fields(mainExec)...)
	spec.Jobs[0].Exec = mainExec
	out.Reset()
	err = RunInject(context.Background(), InjectOptions{Kind: scenarios.FaultExit, Service: "svc", Code: 3, Spec: spec,
		EffectTimeout: time.Second}, &out, env)
	require.ErrorIs(t, err, ErrUnsupportedFault)
	evs = nil
	require.NoError(t, ReadEvents(&out, func(e scenarios.Event) { evs = append(evs, e) }))
	require.Len(t, evs, 2)
	assert.False(t, *evs[1].OK)
	assert.Contains(t, evs[1].Detail, "no knob")
}

func TestStatusPollerCheckEventsFromLastCheck(t *testing.T) {
	// zinit's wall clock reads 1_000_000 ms when the agent's monotonic
	// clock reads 50 s; queries end at 49.90, 49.95, 50.00 and 50.05 s and
	// take 2 ms each.
	answers := []string{
		`{"name":"svc","state":"running","pid":10,"restarts":0,"jobs":[{"name":"check","trigger":"check","last_check":null}]}`,
		`{"name":"svc","state":"running","pid":10,"restarts":0,"jobs":[{"name":"main","trigger":"start","last_check":null},` +
			`{"name":"check","trigger":"check","last_check":{"ok":false,"at_ms":999900,"duration_ms":1,"error":"exit code 1"}}]}`,
		`{"name":"svc","state":"restarting","pid":null,"restarts":0,"jobs":[{"name":"check","trigger":"check","last_check":{"ok":false,"at_ms":999900,"duration_ms":1,"error":"exit code 1"}}]}`,
		`{"name":"svc","state":"running","pid":11,"restarts":1,"jobs":[{"name":"check","trigger":"check","last_check":{"ok":true,"at_ms":1000010,"duration_ms":5,"error":null}}]}`,
	}
	i := 0
	var mono int64
	sp := &statusPoller{cli: "zinit", services: []string{"svc"}, last: map[string]statusKey{},
		mono: func() int64 { mono += ms1; return mono },
		wall: func() time.Time { return time.UnixMilli(1_000_000).Add(time.Duration(mono - 50_000*ms1)) },
		exec: func(context.Context, []string) ([]byte, error) { i++; return []byte(answers[i-1]), nil }}
	var checks []scenarios.Event
	for k := range answers {
		mono = 49_900*ms1 + int64(k)*50*ms1 - 2*ms1
		for _, e := range sp.step(context.Background(), time.Second) {
			if e.Kind == scenarios.EventCheckExit {
				checks = append(checks, e)
			}
		}
	}
	require.Len(t, checks, 2, "one event per new last_check")
	f := checks[0]
	assert.Equal(t, 0, f.PID)
	assert.Equal(t, "check", f.Job)
	require.NotNil(t, f.OK)
	assert.False(t, *f.OK)
	require.NotNil(t, f.Code)
	assert.Equal(t, 1, *f.Code)
	// It ended at wall 999_901 ms = 49.901 s, known to the truncated
	// millisecond of both values: [49.901, 49.903).
	assert.Equal(t, 49_902*ms1, f.TNs)
	assert.Equal(t, ms1, f.ErrNs)
	assert.Equal(t, ms1, f.DurNs)
	assert.True(t, strings.HasPrefix(f.Detail, lastCheckDetail), f.Detail)
	assert.Equal(t, scenarios.SourceZinitLastCheck, f.Source)
	assert.Equal(t, int64(999900), f.LastCheckAtMs)
	p := checks[1]
	require.NotNil(t, p.Code)
	assert.Equal(t, 0, *p.Code)
	assert.Equal(t, 50_016*ms1, p.TNs)
}

func TestStatusPollerCheckEventClockStep(t *testing.T) {
	// A wall clock that jumped: the mapping falls outside the window the
	// queries give, so the window itself is the measurement.
	wall := time.UnixMilli(5_000_000)
	answers := []string{
		`{"name":"svc","state":"running","restarts":0,"jobs":[]}`,
		`{"name":"svc","state":"running","restarts":0,"jobs":[{"name":"check","last_check":{"ok":true,"at_ms":1000,"duration_ms":3}}]}`,
	}
	i := 0
	t0s := []int64{100 * ms1, 200 * ms1}
	calls := 0
	sp := &statusPoller{cli: "zinit", services: []string{"svc"}, last: map[string]statusKey{},
		mono: func() int64 { calls++; return t0s[(calls-1)/2] + int64((calls-1)%2)*ms1 },
		wall: func() time.Time { return wall },
		exec: func(context.Context, []string) ([]byte, error) { i++; return []byte(answers[i-1]), nil }}
	sp.step(context.Background(), time.Second)
	var got []scenarios.Event
	for _, e := range sp.step(context.Background(), time.Second) {
		if e.Kind == scenarios.EventCheckExit {
			got = append(got, e)
		}
	}
	require.Len(t, got, 1)
	assert.Equal(t, 201*ms1, got[0].TNs, "dated at the query that saw it")
	assert.Equal(t, 101*ms1, got[0].ErrNs, "back to the previous query's start")
}

// TestProcScannerScopeIgnoresOtherContainers: with a Scope (the local
// runtime), only the tree of the zinit serving that socket counts; the
// same exec under another zinit or on the host is neither matched nor
// reported as a zombie or stray, even after a supervisor restart or a
// reparenting.
func TestProcScannerScopeIgnoresOtherContainers(t *testing.T) {
	fp := newFakeProc(t)
	fp.set(1, 0, 1, 'S', 1, -1, "/sbin/init")
	fp.set(100, 1, 100, 'S', 2, -1, "/r/a/usr/local/bin/zinit", "init", "--socket", "/r/a/run/zinit.sock")
	fp.set(200, 1, 200, 'S', 2, -1, "/r/b/usr/local/bin/zinit", "init", "--socket", "/r/b/run/zinit.sock")
	fp.set(110, 100, 110, 'S', 5, -1, "sh", "-c", mainExec) // container a's incarnation
	fp.set(210, 200, 210, 'S', 5, -1, "sh", "-c", mainExec) // container b's
	fp.set(300, 1, 300, 'S', 5, -1, "sh", "-c", mainExec)   // the host's
	fp.set(301, 1, 301, 'Z', 5, 0, "host-zombie")
	s := newProcScanner(Spec{Proc: fp.root, ZombieAfterMs: 1, StrayAfterMs: 1, Scope: "/r/a/run/zinit.sock",
		Jobs: []Job{{Service: "svc", Job: "main", Trigger: "start", Exec: mainExec}}})
	t0 := 10_000 * ms1
	assert.Equal(t, []string{"spawn:110"}, kinds(s.step(t0)))

	// New incarnations everywhere: only a's is seen.
	fp.set(220, 200, 220, 'S', 9, -1, "sh", "-c", mainExec)
	fp.set(120, 100, 120, 'S', 9, -1, "sh", "-c", mainExec)
	fp.set(121, 120, 120, 'S', 9, -1, "helper")
	fp.set(221, 220, 220, 'S', 9, -1, "helper")
	assert.Equal(t, []string{"spawn:120"}, kinds(s.step(t0+2*ms1)))

	// Both leaders die, their helpers are reparented to init: only a's
	// helper is a stray; no host zombie is reported.
	fp.remove(120)
	fp.remove(220)
	fp.set(121, 1, 120, 'S', 9, -1, "helper")
	fp.set(221, 1, 220, 'S', 9, -1, "helper")
	var got []string
	for now := t0 + 4*ms1; now <= t0+400*ms1; now += 2 * ms1 {
		got = append(got, kinds(s.step(now))...)
	}
	assert.ElementsMatch(t, []string{"exit:120", "stray:121"}, got)

	// Supervisor restart: a's zinit is replaced; its new children count.
	fp.remove(100)
	fp.remove(110)
	fp.set(400, 1, 400, 'S', 20, -1, "/r/a/usr/local/bin/zinit", "init", "--socket", "/r/a/run/zinit.sock")
	fp.set(410, 400, 410, 'S', 21, -1, "sh", "-c", mainExec)
	assert.ElementsMatch(t, []string{"exit:110", "spawn:410"}, kinds(s.step(t0+500*ms1)))
}

// TestInjectRefusedCommand: a control-plane command the supervisor's CLI
// refuses took place (the effect is seen) and says it was refused; a CLI
// that cannot be run at all is an unseen effect.
func TestInjectRefusedCommand(t *testing.T) {
	run := func(cli string) []scenarios.Event {
		var out bytes.Buffer
		env := InjectEnv{Mono: MonoNow}
		err := RunInject(context.Background(), InjectOptions{Kind: scenarios.FaultStop, Service: "svc",
			Spec: Spec{ZinitCLI: cli}, EffectTimeout: time.Second}, &out, env)
		require.NoError(t, err)
		var evs []scenarios.Event
		require.NoError(t, ReadEvents(&out, func(e scenarios.Event) { evs = append(evs, e) }))
		require.Len(t, evs, 2)
		return evs
	}
	evs := run("false") // runs, exits 1: a refusal
	assert.True(t, *evs[1].OK)
	assert.True(t, evs[1].Refused)
	assert.Contains(t, evs[1].Detail, "zinit refused")
	evs = run("/nonexistent/zinit")
	assert.False(t, *evs[1].OK, "the command never reached a supervisor")
	assert.False(t, evs[1].Refused)
}

// TestProcScannerDatesByTheEndOfItsRead: a step that stalls between its
// start and its read of the tree (a loaded machine) dates what the read
// found by the read's end: a spawn or an exit it finds may have happened
// during the stall, never claimed before it.
func TestProcScannerDatesByTheEndOfItsRead(t *testing.T) {
	fp := newFakeProc(t)
	fp.set(1, 0, 1, 'S', 1, -1, "zinit", "init")
	s := newProcScanner(Spec{Proc: fp.root, Jobs: []Job{{Service: "svc", Job: "main", Trigger: "start", Exec: mainExec}}})
	assert.Empty(t, s.step(100*ms1))

	stalled := 350 * ms1
	s.after = func() int64 { return stalled }
	fp.set(50, 1, 50, 'S', 80, -1, "sh", "-c", mainExec)
	evs := s.step(200 * ms1) // begins at 200 ms, reads at 350 ms
	require.Equal(t, []string{"spawn:50"}, kinds(evs))
	assert.Equal(t, stalled, evs[0].TNs, "seen by the end of the read")
	assert.Equal(t, stalled-100*ms1, evs[0].ErrNs, "not there at the previous step")

	stalled = 700 * ms1
	fp.remove(50)
	evs = s.step(400 * ms1) // begins at 400 ms, reads at 700 ms
	require.Equal(t, []string{"exit:50"}, kinds(evs))
	assert.Equal(t, stalled, evs[0].TNs, "gone by the end of the read")
	assert.Equal(t, stalled-200*ms1, evs[0].ErrNs, "alive when the step that read it began")
}
