package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/zchaos/zchaos/zinit"
)

// fakeSpawner records spawns and signals; tests deliver exits themselves.
type fakeSpawner struct {
	next    int
	spawned []fakeProc
	signals []fakeSignal
	fail    bool
}

type fakeProc struct {
	pid  int
	spec SpawnSpec
}

type fakeSignal struct {
	pgid int
	sig  syscall.Signal
}

func (f *fakeSpawner) Spawn(spec SpawnSpec) (int, error) {
	if f.fail {
		return 0, syscall.ENOENT
	}
	f.next++
	pid := 1000 + f.next
	f.spawned = append(f.spawned, fakeProc{pid: pid, spec: spec})
	return pid, nil
}

func (f *fakeSpawner) SignalGroup(pgid int, sig syscall.Signal) error {
	f.signals = append(f.signals, fakeSignal{pgid, sig})
	return nil
}

func (f *fakeSpawner) Exits() <-chan Exit { return nil }

func (f *fakeSpawner) Release(any) {}

func (f *fakeSpawner) signalled(pgid int, sig syscall.Signal) bool {
	for _, s := range f.signals {
		if s.pgid == pgid && s.sig == sig {
			return true
		}
	}
	return false
}

// rig is an engine on a fake clock and a fake spawner.
type rig struct {
	t      *testing.T
	clk    *clocktesting.FakeClock
	sp     *fakeSpawner
	e      *Engine
	events []Event
}

var t0 = time.Date(2026, 3, 13, 12, 0, 0, 0, time.UTC)

func newRig(t *testing.T, mod ...func(*Options)) *rig {
	r := &rig{t: t, clk: clocktesting.NewFakeClock(t0), sp: &fakeSpawner{}}
	o := Options{Clock: r.clk, Spawner: r.sp, Env: []string{"BASE=1"}, Observe: func(ev Event) { r.events = append(r.events, ev) }}
	for _, m := range mod {
		m(&o)
	}
	r.e = NewEngine(o)
	return r
}

func (r *rig) step(d time.Duration) {
	r.clk.Step(d)
	r.e.FireTimers()
}

func (r *rig) exit(pid, code int) { r.e.HandleExit(Exit{PID: pid, Code: code, At: r.clk.Now()}) }
func (r *rig) killed(pid int, sig syscall.Signal) {
	r.e.HandleExit(Exit{PID: pid, Signal: sig, At: r.clk.Now()})
}

func (r *rig) status(name string) zinit.ServiceStatus {
	st, err := r.e.Status(name)
	require.NoError(r.t, err)
	return st
}

func (r *rig) pid(name string) int {
	st := r.status(name)
	require.NotNil(r.t, st.PID, "service %s has no pid (state %s)", name, st.State)
	return *st.PID
}

func (r *rig) add(name string, jobs ...*zinit.JobBuilder) {
	require.NoError(r.t, r.e.AddService(zinit.Service{Name: name}))
	for _, b := range jobs {
		j, err := b.Build()
		require.NoError(r.t, err)
		_, err = r.e.AddJob(j)
		require.NoError(r.t, err)
	}
}

func (r *rig) spawnsOf(name string) []Event {
	var out []Event
	for _, ev := range r.events {
		if ev.Kind == EventSpawn && ev.Service == name {
			out = append(out, ev)
		}
	}
	return out
}

func (r *rig) checkStarts(name string) []Event {
	var out []Event
	for _, ev := range r.events {
		if ev.Kind == EventCheckStart && ev.Service == name {
			out = append(out, ev)
		}
	}
	return out
}

func mainJob(svc string, p zinit.RestartPolicy, d time.Duration, n int) *zinit.JobBuilder {
	return zinit.NewJob(svc, "main").Exec("serve").Trigger(zinit.TriggerStart).Restart(p).RestartDelay(d).MaxRestarts(n)
}

func checkJob(svc string, interval, timeout time.Duration) *zinit.JobBuilder {
	b := zinit.NewJob(svc, "check").Exec("probe").Trigger(zinit.TriggerCheck).Interval(interval)
	if timeout > 0 {
		b.Timeout(timeout)
	}
	return b
}

const d = 5 * time.Second

func TestRestartPolicyMatrix(t *testing.T) {
	cases := []struct {
		name      string
		policy    zinit.RestartPolicy
		code      int
		signal    syscall.Signal
		wantState zinit.State
		respawn   bool
	}{
		{"on-failure after exit 0", zinit.RestartOnFailure, 0, 0, zinit.StateInactive, false},
		{"on-failure after exit 1", zinit.RestartOnFailure, 1, 0, zinit.StateRestarting, true},
		{"on-failure after SIGKILL", zinit.RestartOnFailure, 0, syscall.SIGKILL, zinit.StateRestarting, true},
		{"always after exit 0", zinit.RestartAlways, 0, 0, zinit.StateRestarting, true},
		{"always after exit 1", zinit.RestartAlways, 1, 0, zinit.StateRestarting, true},
		{"always after SIGTERM", zinit.RestartAlways, 0, syscall.SIGTERM, zinit.StateRestarting, true},
		{"never after exit 1", zinit.RestartNever, 1, 0, zinit.StateInactive, false},
		{"never after SIGKILL", zinit.RestartNever, 0, syscall.SIGKILL, zinit.StateInactive, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			r.add("svc", mainJob("svc", tc.policy, d, 0))
			require.NoError(t, r.e.Start("svc"))
			pid := r.pid("svc")
			r.step(time.Second)
			r.e.HandleExit(Exit{PID: pid, Code: tc.code, Signal: tc.signal, At: r.clk.Now()})
			exitAt := r.clk.Now()
			assert.Equal(t, tc.wantState, r.status("svc").State)

			r.step(d - time.Millisecond)
			assert.Len(t, r.spawnsOf("svc"), 1, "no respawn before the delay")
			r.step(time.Millisecond)
			if !tc.respawn {
				r.step(time.Minute) // quiet window
				assert.Len(t, r.spawnsOf("svc"), 1)
				assert.Equal(t, tc.wantState, r.status("svc").State)
				return
			}
			spawns := r.spawnsOf("svc")
			require.Len(t, spawns, 2)
			assert.Equal(t, exitAt.Add(d), spawns[1].At, "spawn at exactly exit + d")
			st := r.status("svc")
			assert.Equal(t, zinit.StateRunning, st.State)
			assert.Equal(t, 1, st.Restarts)
		})
	}
}

func TestRestartLimitIsExact(t *testing.T) {
	const n = 3
	r := newRig(t)
	r.add("svc", mainJob("svc", zinit.RestartOnFailure, d, n))
	require.NoError(t, r.e.Start("svc"))
	for i := 0; i < n; i++ {
		r.exit(r.pid("svc"), 1)
		require.Equal(t, zinit.StateRestarting, r.status("svc").State, "exit %d", i+1)
		r.step(d)
		require.Equal(t, zinit.StateRunning, r.status("svc").State)
	}
	r.exit(r.pid("svc"), 1) // the exit that would need restart N+1
	st := r.status("svc")
	assert.Equal(t, zinit.StateFailed, st.State)
	require.NotNil(t, st.Reason)
	assert.Equal(t, zinit.ReasonRestartLimit, *st.Reason)
	assert.Equal(t, n, st.Restarts)
	r.step(10 * d)
	assert.Len(t, r.spawnsOf("svc"), 1+n, "exactly 1 + N spawns")
	assert.Equal(t, zinit.StateFailed, r.status("svc").State, "failed is sticky")

	// A manual start gives N fresh restarts.
	require.NoError(t, r.e.Start("svc"))
	st = r.status("svc")
	assert.Equal(t, zinit.StateRunning, st.State)
	assert.Nil(t, st.Reason)
	for i := 0; i < n; i++ {
		r.exit(r.pid("svc"), 1)
		require.Equal(t, zinit.StateRestarting, r.status("svc").State, "fresh restart %d", i+1)
		r.step(d)
	}
	r.exit(r.pid("svc"), 1)
	assert.Equal(t, zinit.StateFailed, r.status("svc").State)
	assert.Len(t, r.spawnsOf("svc"), 2*(1+n))
	assert.Equal(t, 2*n, r.status("svc").Restarts, "reported restarts never decrease")
}

func TestStopDuringDelayCancelsRestart(t *testing.T) {
	r := newRig(t)
	r.add("svc", mainJob("svc", zinit.RestartAlways, d, 0))
	require.NoError(t, r.e.Start("svc"))
	r.exit(r.pid("svc"), 1)
	r.step(d / 2)
	var stopped bool
	r.e.Stop("svc", func(err error) { require.NoError(t, err); stopped = true })
	assert.True(t, stopped, "nothing to wait for")
	assert.Equal(t, zinit.StateInactive, r.status("svc").State)
	r.step(10 * d)
	assert.Len(t, r.spawnsOf("svc"), 1, "the pending restart was cancelled")
	assert.Equal(t, 0, r.status("svc").Restarts, "a cancelled restart is not reported (C1)")
}

func TestStopSequence(t *testing.T) {
	r := newRig(t)
	r.add("svc", mainJob("svc", zinit.RestartAlways, d, 0),
		zinit.NewJob("svc", "drain").Exec("drain").Trigger(zinit.TriggerStop).Timeout(2*time.Second))
	require.NoError(t, r.e.Start("svc"))
	pid := r.pid("svc")
	var stopped bool
	r.e.Stop("svc", func(err error) { stopped = true })
	assert.Equal(t, zinit.StateStopping, r.status("svc").State)
	require.Len(t, r.sp.spawned, 2, "the stop job runs first")
	stopJob := r.sp.spawned[1]
	assert.Contains(t, stopJob.spec.Env, "ZINIT_SERVICE=svc")
	assert.False(t, r.sp.signalled(pid, syscall.SIGTERM), "no SIGTERM while the stop job runs")

	r.step(2 * time.Second) // stop job times out: killed, then SIGTERM
	assert.True(t, r.sp.signalled(stopJob.pid, syscall.SIGKILL))
	assert.True(t, r.sp.signalled(pid, syscall.SIGTERM))
	assert.False(t, r.sp.signalled(pid, syscall.SIGKILL))
	r.step(zinit.StopTimeout - time.Millisecond)
	assert.False(t, r.sp.signalled(pid, syscall.SIGKILL), "SIGKILL not before StopTimeout")
	r.step(time.Millisecond)
	assert.True(t, r.sp.signalled(pid, syscall.SIGKILL))
	assert.False(t, stopped)
	r.killed(pid, syscall.SIGKILL)
	r.exit(stopJob.pid, 0)
	assert.True(t, stopped)
	st := r.status("svc")
	assert.Equal(t, zinit.StateInactive, st.State, "a stop is not a failure")
	assert.Equal(t, 0, st.Restarts)
	r.step(10 * d)
	assert.Len(t, r.spawnsOf("svc"), 1)
}

func TestChecks(t *testing.T) {
	const interval, timeout = 10 * time.Second, 3 * time.Second
	r := newRig(t)
	r.add("svc", mainJob("svc", zinit.RestartOnFailure, d, 2), checkJob("svc", interval, timeout))
	require.NoError(t, r.e.Start("svc"))
	pid := r.pid("svc")
	spawnAt := r.clk.Now()

	r.step(interval - time.Millisecond)
	assert.Empty(t, r.checkStarts("svc"), "grace: no check before spawn + interval")
	r.step(time.Millisecond)
	checks := r.checkStarts("svc")
	require.Len(t, checks, 1)
	assert.Equal(t, spawnAt.Add(interval), checks[0].At)
	chk := r.sp.spawned[len(r.sp.spawned)-1]
	assert.Contains(t, chk.spec.Env, "ZINIT_SERVICE=svc")
	assert.Contains(t, chk.spec.Env, "ZINIT_PID="+itoa(pid))
	assert.Contains(t, chk.spec.Env, "BASE=1")

	// A passing run: the next one is interval after it ended.
	r.step(time.Second)
	r.exit(chk.pid, 0)
	endAt := r.clk.Now()
	st := r.status("svc")
	require.NotNil(t, st.Jobs[1].LastCheck)
	assert.True(t, st.Jobs[1].LastCheck.OK)
	assert.Equal(t, int64(1000), st.Jobs[1].LastCheck.DurationMs)
	r.step(interval)
	checks = r.checkStarts("svc")
	require.Len(t, checks, 2)
	assert.Equal(t, endAt.Add(interval), checks[1].At)

	// The second run hangs: at the timeout its group and the service's are SIGKILLed.
	chk = r.sp.spawned[len(r.sp.spawned)-1]
	r.step(timeout - time.Millisecond)
	assert.False(t, r.sp.signalled(chk.pid, syscall.SIGKILL))
	r.step(time.Millisecond)
	assert.True(t, r.sp.signalled(chk.pid, syscall.SIGKILL), "the check group is killed")
	assert.True(t, r.sp.signalled(pid, syscall.SIGKILL), "the service group is killed")
	st = r.status("svc")
	require.NotNil(t, st.Jobs[1].LastCheck)
	assert.False(t, st.Jobs[1].LastCheck.OK)
	require.NotNil(t, st.Jobs[1].LastCheck.Error)
	assert.Contains(t, *st.Jobs[1].LastCheck.Error, "timed out")

	// The service dies of the SIGKILL: a failure, restarted after d, counted.
	r.killed(pid, syscall.SIGKILL)
	exitAt := r.clk.Now()
	assert.Equal(t, zinit.StateRestarting, r.status("svc").State)
	r.exit(chk.pid, -1) // the killed check is reaped; its result is not a new verdict
	r.step(d)
	spawns := r.spawnsOf("svc")
	require.Len(t, spawns, 2)
	assert.Equal(t, exitAt.Add(d), spawns[1].At)
	assert.Equal(t, 1, r.status("svc").Restarts)

	// Fresh check state: first check of the new incarnation at its spawn + interval.
	n := len(r.checkStarts("svc"))
	r.step(interval - time.Millisecond)
	assert.Len(t, r.checkStarts("svc"), n)
	r.step(time.Millisecond)
	assert.Len(t, r.checkStarts("svc"), n+1)

	// A failing run (exit 1) counts too: restart 2, then the next is the limit.
	chk = r.sp.spawned[len(r.sp.spawned)-1]
	pid = r.pid("svc")
	r.exit(chk.pid, 1)
	assert.True(t, r.sp.signalled(pid, syscall.SIGKILL))
	r.killed(pid, syscall.SIGKILL)
	r.step(d)
	assert.Equal(t, 2, r.status("svc").Restarts)
	r.step(interval)
	chk = r.sp.spawned[len(r.sp.spawned)-1]
	pid = r.pid("svc")
	r.exit(chk.pid, 1)
	r.killed(pid, syscall.SIGKILL)
	st = r.status("svc")
	assert.Equal(t, zinit.StateFailed, st.State)
	assert.Equal(t, zinit.ReasonRestartLimit, *st.Reason)
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestCheckFailureWithNeverStaysDown(t *testing.T) {
	r := newRig(t)
	r.add("svc", mainJob("svc", zinit.RestartNever, d, 0), checkJob("svc", time.Second, time.Second))
	require.NoError(t, r.e.Start("svc"))
	pid := r.pid("svc")
	r.step(time.Second)
	chk := r.sp.spawned[len(r.sp.spawned)-1]
	r.exit(chk.pid, 2)
	assert.True(t, r.sp.signalled(pid, syscall.SIGKILL))
	r.killed(pid, syscall.SIGKILL)
	st := r.status("svc")
	// The kill was a failure, but `never` restarts nothing: inactive, no reason.
	assert.Equal(t, zinit.StateInactive, st.State)
	assert.Nil(t, st.Reason)
	r.step(time.Minute)
	assert.Len(t, r.spawnsOf("svc"), 1)
	assert.Len(t, r.checkStarts("svc"), 1, "no check runs while the service is down")
}

func TestOneCheckInFlight(t *testing.T) {
	const interval = time.Second
	r := newRig(t)
	r.add("svc", mainJob("svc", zinit.RestartAlways, 100*time.Millisecond, 0), checkJob("svc", interval, 500*time.Millisecond))
	require.NoError(t, r.e.Start("svc"))
	r.step(interval)
	chk := r.sp.spawned[len(r.sp.spawned)-1]
	pid := r.pid("svc")
	r.step(500 * time.Millisecond) // timeout: check and service killed
	r.killed(pid, syscall.SIGKILL)
	r.step(100 * time.Millisecond) // respawn; the killed check is still not reaped
	require.Equal(t, zinit.StateRunning, r.status("svc").State)
	n := len(r.checkStarts("svc"))
	r.step(interval)
	assert.Len(t, r.checkStarts("svc"), n, "the new run waits for the old one to be reaped")
	r.killed(chk.pid, syscall.SIGKILL)
	assert.Len(t, r.checkStarts("svc"), n+1, "and starts once it is")
}

func TestAfterDependenciesBlock(t *testing.T) {
	r := newRig(t)
	r.add("db", mainJob("db", zinit.RestartNever, d, 0))
	require.NoError(t, r.e.AddService(zinit.Service{Name: "app", After: []string{"db"}}))
	j, err := mainJob("app", zinit.RestartNever, d, 0).Build()
	require.NoError(t, err)
	_, err = r.e.AddJob(j)
	require.NoError(t, err)

	require.NoError(t, r.e.Start("app"))
	assert.Equal(t, zinit.StateBlocked, r.status("app").State)
	assert.Empty(t, r.spawnsOf("app"))
	require.NoError(t, r.e.Start("db"))
	assert.Equal(t, zinit.StateRunning, r.status("db").State)
	assert.Equal(t, zinit.StateRunning, r.status("app").State, "unblocked once db runs")

	// Shutdown stops app (the dependent) before db.
	r.e.BeginShutdown()
	assert.Equal(t, zinit.StateStopping, r.status("app").State)
	assert.Equal(t, zinit.StateRunning, r.status("db").State)
	r.killed(r.pid("app"), syscall.SIGTERM)
	assert.Equal(t, zinit.StateStopping, r.status("db").State)
	r.killed(r.pid("db"), syscall.SIGTERM)
	assert.True(t, r.e.ShutdownDone())
}

func TestNoStartJobGoesInactive(t *testing.T) {
	r := newRig(t)
	r.add("svc", checkJob("svc", time.Second, 0))
	require.NoError(t, r.e.Start("svc"))
	assert.Equal(t, zinit.StateInactive, r.status("svc").State)
}

func TestSpawnErrorFails(t *testing.T) {
	r := newRig(t)
	r.add("svc", mainJob("svc", zinit.RestartAlways, d, 0))
	r.sp.fail = true
	require.NoError(t, r.e.Start("svc"))
	st := r.status("svc")
	assert.Equal(t, zinit.StateFailed, st.State)
	assert.Equal(t, zinit.ReasonSpawnError, *st.Reason)
}

func TestRequestErrors(t *testing.T) {
	r := newRig(t)
	r.add("svc")
	assert.ErrorIs(t, r.e.AddService(zinit.Service{Name: "svc"}), zinit.ErrAlreadyExists)
	assert.ErrorIs(t, r.e.AddService(zinit.Service{Name: "bad name"}), zinit.ErrInvalid)
	_, err := r.e.AddJob(zinit.Job{Service: "nope", Name: "main", Exec: "x", Trigger: zinit.TriggerStart})
	assert.ErrorIs(t, err, zinit.ErrNotFound)
	_, err = r.e.AddJob(zinit.Job{Service: "svc", Name: "main", Exec: "x", Trigger: zinit.TriggerCheck})
	assert.ErrorIs(t, err, zinit.ErrInvalid)
	r.add("svc2", mainJob("svc2", zinit.RestartNever, d, 0))
	_, err = r.e.AddJob(zinit.Job{Service: "svc2", Name: "main", Exec: "x", Trigger: zinit.TriggerStart})
	assert.ErrorIs(t, err, zinit.ErrAlreadyExists)
	_, err = r.e.AddJob(zinit.Job{Service: "svc2", Name: "other", Exec: "x", Trigger: zinit.TriggerStart})
	assert.ErrorIs(t, err, zinit.ErrInvalid)
	assert.ErrorIs(t, r.e.Start("nope"), zinit.ErrNotFound)
	assert.ErrorIs(t, r.e.Kill("svc2", "SIGTERM"), zinit.ErrInvalid, "not running")
	require.NoError(t, r.e.Start("svc2"))
	assert.ErrorIs(t, r.e.Kill("svc2", "SIGNOPE"), zinit.ErrInvalid)
	require.NoError(t, r.e.Kill("svc2", "HUP"))
	assert.True(t, r.sp.signalled(r.pid("svc2"), syscall.SIGHUP))
}

func TestTransitionRejectsIllegalEdges(t *testing.T) {
	illegal := []struct {
		from zinit.State
		ev   eventKind
	}{
		{zinit.StateInactive, evExit},
		{zinit.StateInactive, evRestartDue},
		{zinit.StateFailed, evCheckFailed},
		{zinit.StateBlocked, evExit},
		{zinit.StateRestarting, evExit},
		{zinit.StateRunning, evRestartDue},
		{zinit.StateStopping, evRestartDue},
	}
	for _, tc := range illegal {
		_, _, err := transition(tc.from, event{kind: tc.ev}, t0)
		assert.ErrorIs(t, err, errIllegalTransition, "%s in %s", tc.ev, tc.from)
	}
}

func TestLegacyServicesAndReload(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	write("a.toml", "[service]\nname = \"user.a\"\nexec = \"serve a\"\noneshot = false\n")
	write("b.toml", "[service]\nexec = \"serve b\"\n[lifecycle]\nrestart = \"on-failure\"\nrestart_delay_ms = 200\nmax_restarts = 2\n")
	write("broken.toml", "[service]\nname = \"x\"\nexec = = \"oops\"\n")
	r := newRig(t, func(o *Options) { o.ConfigDir = dir })
	r.add("api", mainJob("api", zinit.RestartAlways, d, 0))
	require.NoError(t, r.e.Start("api"))
	r.e.Boot()

	a := r.status("user.a")
	assert.True(t, a.Legacy)
	assert.Equal(t, zinit.StateRunning, a.State, "legacy services start at boot")
	assert.Equal(t, zinit.RestartNever, *a.Jobs[0].Restart, "no [lifecycle] means never")
	b := r.status("b")
	assert.Equal(t, zinit.RestartOnFailure, *b.Jobs[0].Restart)
	assert.Equal(t, int64(200), *b.Jobs[0].RestartDelayMs)
	_, err := r.e.Status("x")
	assert.ErrorIs(t, err, zinit.ErrNotFound, "a malformed file is skipped")

	// job.add on a legacy service: accepted with a warning, changes nothing.
	j, err := checkJob("user.a", time.Second, 0).Build()
	require.NoError(t, err)
	res, err := r.e.AddJob(j)
	require.NoError(t, err)
	assert.Contains(t, res.Warning, "legacy")
	assert.Len(t, r.status("user.a").Jobs, 1)

	// Legacy crash with no lifecycle: inactive, nothing restarts it.
	r.exit(r.pid("user.a"), 1)
	assert.Equal(t, zinit.StateInactive, r.status("user.a").State)

	apiPID := r.pid("api")
	write("a.toml", "[service]\nname = \"user.a\"\nexec = \"serve a --v2\"\n")
	require.NoError(t, os.Remove(filepath.Join(dir, "b.toml")))
	write("c.toml", "[service]\nexec = \"serve c\"\n")
	write("api.toml", "[service]\nexec = \"hijack\"\n")
	bPID := r.pid("b")
	rr, err := r.e.Reload()
	require.NoError(t, err)
	assert.Equal(t, zinit.ReloadResult{Started: []string{"c"}, Stopped: []string{"b"}, Restarted: []string{"user.a"},
		Skipped: []zinit.SkippedFile{
			{File: filepath.Join(dir, "broken.toml"), Line: 3, Reason: "service.exec: malformed: toml: expected value but found '=' instead"},
			{File: filepath.Join(dir, "api.toml"), Reason: `service "api" already exists (created through the API): file not used`},
		}}, rr)
	assert.Equal(t, rr.Skipped, r.e.SystemStatus().ConfigSkipped, "the status keeps the last read's skips")
	assert.False(t, r.e.SystemStatus().Degraded, "a skipped config file does not degrade the daemon")
	assert.Equal(t, "serve a --v2", r.status("user.a").Jobs[0].Exec)
	assert.Equal(t, zinit.StateRunning, r.status("user.a").State)
	assert.True(t, r.sp.signalled(bPID, syscall.SIGTERM))
	r.killed(bPID, syscall.SIGTERM)
	_, err = r.e.Status("b")
	assert.ErrorIs(t, err, zinit.ErrNotFound)
	assert.Equal(t, zinit.StateRunning, r.status("c").State)
	api := r.status("api")
	assert.False(t, api.Legacy)
	assert.Equal(t, apiPID, *api.PID, "reload never touches API services")
	assert.Equal(t, "serve", api.Jobs[0].Exec)
}

func TestLoadLegacyErrors(t *testing.T) {
	_, _, err := loadLegacy("/etc/zinit/x.toml", []byte("[service]\nname = \"x\"\nexec = = 1\n"))
	var ce *zinit.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "/etc/zinit/x.toml", ce.File)
	assert.Equal(t, 3, ce.Line)

	_, _, err = loadLegacy("y.toml", []byte("[service]\nexec = \"a\"\n[lifecycle]\nrestart = \"sometimes\"\n"))
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 4, ce.Line)
	assert.Equal(t, "lifecycle.restart", ce.Key)

	_, _, err = loadLegacy("z.toml", []byte("[service]\nname = \"z\"\n"))
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "exec", ce.Key)
	assert.Equal(t, 1, ce.Line)

	def, _, err := loadLegacy("w.toml", []byte("[service]\nexec = \"a\"\noneshot = true\ndir = \"/srv\"\nenv = { A = \"1\" }\n[dependencies]\nafter = [\"q\"]\n"))
	require.NoError(t, err)
	assert.Equal(t, legacyDef{File: "w.toml", Name: "w", Exec: "a", Oneshot: true, Dir: "/srv",
		Env: map[string]string{"A": "1"}, After: []string{"q"}, Restart: zinit.RestartNever}, def)
}

func TestPersistedServicesRestoredAtBoot(t *testing.T) {
	state := t.TempDir()
	r := newRig(t, func(o *Options) { o.StateDir = state })
	require.NoError(t, r.e.AddService(zinit.Service{Name: "kept", Persist: true}))
	require.NoError(t, r.e.AddService(zinit.Service{Name: "gone"}))
	for _, b := range []*zinit.JobBuilder{
		mainJob("kept", zinit.RestartOnFailure, d, 3).Persist().Env("K", "V"),
		checkJob("kept", time.Second, 0), // not persisted
		mainJob("gone", zinit.RestartAlways, d, 0).Persist(),
	} {
		j, err := b.Build()
		require.NoError(t, err)
		_, err = r.e.AddJob(j)
		require.NoError(t, err)
	}
	_, err := os.Stat(filepath.Join(state, StateFileName))
	require.NoError(t, err)

	r2 := newRig(t, func(o *Options) { o.StateDir = state })
	r2.e.Boot()
	list := r2.e.List()
	require.Len(t, list, 1)
	st := list[0]
	assert.Equal(t, "kept", st.Name)
	assert.True(t, st.Persist)
	assert.Equal(t, zinit.StateRunning, st.State, "restored and started at boot")
	require.Len(t, st.Jobs, 1)
	assert.Equal(t, map[string]string{"K": "V"}, st.Jobs[0].Env)
	assert.Equal(t, 3, *st.Jobs[0].MaxRestarts)

	// Removing it rewrites the file.
	var removed bool
	r2.e.RemoveService("kept", func(err error) { require.NoError(t, err); removed = true })
	r2.killed(*st.PID, syscall.SIGTERM)
	require.True(t, removed)
	r3 := newRig(t, func(o *Options) { o.StateDir = state })
	r3.e.Boot()
	assert.Empty(t, r3.e.List())
}

func TestStatusFields(t *testing.T) {
	r := newRig(t)
	r.add("dep", mainJob("dep", zinit.RestartNever, d, 0))
	require.NoError(t, r.e.AddService(zinit.Service{Name: "svc", After: []string{"dep"}}))
	j, _ := mainJob("svc", zinit.RestartAlways, 250*time.Millisecond, 4).Env("A", "b").Build()
	_, err := r.e.AddJob(j)
	require.NoError(t, err)
	j, _ = checkJob("svc", 2*time.Second, 0).Build()
	_, err = r.e.AddJob(j)
	require.NoError(t, err)
	require.NoError(t, r.e.Start("dep"))
	require.NoError(t, r.e.Start("svc"))
	pid := r.pid("svc")
	r.step(time.Second)
	r.exit(pid, 3)
	exitMs := r.clk.Now().UnixMilli()
	r.step(250 * time.Millisecond)
	newPID := r.pid("svc")
	startMs := r.clk.Now().UnixMilli()

	st := r.status("svc")
	restart, delay, maxR := zinit.RestartAlways, int64(250), 4
	interval := int64(2000)
	code := 3
	assert.Equal(t, zinit.ServiceStatus{
		Name: "svc", State: zinit.StateRunning, PID: &newPID, Restarts: 1,
		LastExit: &zinit.ExitStatus{Code: &code, AtMs: exitMs}, StartedAtMs: &startMs,
		After: []string{"dep"},
		Jobs: []zinit.JobStatus{
			{Name: "main", Trigger: zinit.TriggerStart, Exec: "serve", Env: map[string]string{"A": "b"},
				Restart: &restart, RestartDelayMs: &delay, MaxRestarts: &maxR, PID: &newPID, Restarts: 1},
			{Name: "check", Trigger: zinit.TriggerCheck, Exec: "probe", Env: map[string]string{},
				IntervalMs: &interval, TimeoutMs: &interval},
		},
	}, st)
	lines, mono, err := r.e.Logs("svc", 0)
	require.NoError(t, err)
	assert.NotEmpty(t, lines)
	assert.Len(t, mono, len(lines), "every line carries its capture instant")
}

func TestLogRingTimestampsAndTail(t *testing.T) {
	r := newLogRing()
	now := int64(0)
	r.mono = func() int64 { now += 1000; return now }
	for i := 0; i < LogRingLines+3; i++ {
		r.add(fmt.Sprint("line ", i))
	}
	lines, mono := r.tail(2)
	assert.Equal(t, []string{fmt.Sprint("line ", LogRingLines+1), fmt.Sprint("line ", LogRingLines+2)}, lines)
	assert.Equal(t, []int64{int64(LogRingLines+2) * 1000, int64(LogRingLines+3) * 1000}, mono)
	all, allMono := r.tail(0)
	assert.Len(t, all, LogRingLines)
	assert.Equal(t, "line 3", all[0], "the oldest kept line first")
	assert.Equal(t, int64(4000), allMono[0])
}
