package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sebdah/goldie/v2"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/zinit"
)

func golden(t *testing.T) *goldie.Goldie {
	return goldie.New(t, goldie.WithFixtureDir("testdata"), goldie.WithNameSuffix(".golden"))
}

// TestHelpGolden pins the --help of the main commands (run with -update to
// rewrite the files after a deliberate change).
func TestHelpGolden(t *testing.T) {
	for _, args := range [][]string{
		{}, {"init"}, {"add"}, {"add", "service"}, {"add", "job"}, {"remove", "job"}, {"list"},
		{"status"}, {"kill"}, {"logs"}, {"reload"}, {"persist", "resume"},
	} {
		name := "help_" + strings.Join(append([]string{"zinit"}, args...), "_")
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, nil, append(args, "--help")...)
			require.Equal(t, 0, r.code, r.errOut)
			require.Empty(t, r.errOut)
			golden(t).Assert(t, name, []byte(r.out))
		})
	}
}

func ptr[T any](v T) *T { return &v }

// Fixed times (Unix ms) so the rendering is reproducible.
const (
	t0 = int64(1773405622000) // 2026-03-13T12:40:22Z
	t1 = t0 + 65_432
)

func fullStatus() zinit.ServiceStatus {
	return zinit.ServiceStatus{
		Name: "user.hero_embedder_server", State: zinit.StateRunning, PID: ptr(4242), Restarts: 3,
		LastExit:    &zinit.ExitStatus{Signal: ptr("SIGKILL"), AtMs: t0},
		StartedAtMs: ptr(t0 + 5000), Persist: true, After: []string{"user.hero_db", "user.hero_auth"},
		Jobs: []zinit.JobStatus{
			{
				Name: "main", Trigger: zinit.TriggerStart, Exec: "/root/hero/bin/hero_embedder_server serve",
				Env:     map[string]string{"RUST_LOG": "info", "HOME": "/root"},
				Restart: ptr(zinit.RestartOnFailure), RestartDelayMs: ptr(int64(5000)), MaxRestarts: ptr(20),
				Persist: true, PID: ptr(4242), Restarts: 3,
			},
			{
				Name: "check", Trigger: zinit.TriggerCheck,
				Exec:       "echo '{\"jsonrpc\":\"2.0\",\"method\":\"server.health\",\"id\":1}' \\\n    | socat - UNIX-CONNECT:/root/hero/var/sockets/hero_embedder_server.sock",
				IntervalMs: ptr(int64(60000)), TimeoutMs: ptr(int64(30000)),
				LastCheck: &zinit.CheckResult{OK: false, AtMs: t1, DurationMs: 30001, Error: ptr("timed out after 30000 ms")},
			},
			{
				Name: "drain", Trigger: zinit.TriggerStop, Exec: "curl -X POST localhost/drain",
				TimeoutMs: ptr(int64(10000)),
			},
		},
	}
}

func TestStatusGolden(t *testing.T) {
	cases := map[string]zinit.ServiceStatus{
		"status_full": fullStatus(),
		"status_failed": {
			Name: "user.hero_books_server", State: zinit.StateFailed, Restarts: 20, Reason: ptr(zinit.ReasonRestartLimit),
			LastExit: &zinit.ExitStatus{Code: ptr(1), AtMs: t1}, StartedAtMs: ptr(t0),
			Jobs: []zinit.JobStatus{{Name: "main", Trigger: zinit.TriggerStart, Exec: "false",
				Restart: ptr(zinit.RestartAlways), RestartDelayMs: ptr(int64(1000)), MaxRestarts: ptr(20), Restarts: 20}},
		},
		"status_legacy_empty": {Name: "user.hero_legacy", State: zinit.StateInactive, Legacy: true},
		"status_check_ok": {
			Name: "svc", State: zinit.StateRunning, PID: ptr(7),
			Jobs: []zinit.JobStatus{{Name: "check", Trigger: zinit.TriggerCheck, Exec: "true",
				IntervalMs: ptr(int64(1000)), LastCheck: &zinit.CheckResult{OK: true, AtMs: t0, DurationMs: 3}}},
		},
	}
	for name, st := range cases {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, writeStatus(&buf, st))
			golden(t).Assert(t, name, buf.Bytes())
		})
	}
}

// degradedStatus is a daemon that could not restore its state file in full.
func degradedStatus() zinit.SystemStatus {
	return zinit.SystemStatus{
		Version: zinit.Version, PID: 1, Degraded: true,
		Problems: []string{"persistence is read-only: /var/lib/zinit/services.json could not be restored in full at boot " +
			"(2 problem(s); moved to /var/lib/zinit/services.json.corrupt-20260313T124022Z): see `zinit status`, then run `zinit persist resume`"},
		Persistence: zinit.PersistStatus{
			Mode: zinit.PersistReadOnly, File: "/var/lib/zinit/services.json",
			MovedTo:  "/var/lib/zinit/services.json.corrupt-20260313T124022Z",
			Restored: []string{"user.hero_db", "user.hero_auth"},
			NotRestored: []zinit.StateProblem{
				{Entry: "file", Reason: "truncated or malformed at services[3]: unexpected EOF"},
				{Entry: `services[2] "user.hero_ui"`, Reason: "json: cannot unmarshal number into Go struct field Service.service.name of type string"},
			},
		},
		ConfigSkipped: []zinit.SkippedFile{
			{File: "/etc/zinit/broken.toml", Line: 3, Reason: "service.exec: malformed: toml: expected value but found '=' instead"},
			{File: "/etc/zinit/pipe.toml", Reason: "not a regular file (a FIFO)"},
		},
	}
}

func TestSystemStatusGolden(t *testing.T) {
	cases := map[string]zinit.SystemStatus{
		"system_status_degraded": degradedStatus(),
		"system_status_ok": {Version: zinit.Version, PID: 1, Problems: []string{},
			Persistence: zinit.PersistStatus{Mode: zinit.PersistOK, File: "/var/lib/zinit/services.json", Restored: []string{}, NotRestored: []zinit.StateProblem{}}},
	}
	for name, st := range cases {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, writeSystemStatus(&buf, st))
			golden(t).Assert(t, name, buf.Bytes())
		})
	}
}

func TestListTableGolden(t *testing.T) {
	list := []zinit.ServiceStatus{
		fullStatus(),
		{Name: "user.hero_books_server", State: zinit.StateFailed, Restarts: 20, Reason: ptr(zinit.ReasonRestartLimit)},
		{Name: "user.hero_auth", State: zinit.StateRestarting, Restarts: 1},
		{Name: "legacy.old", State: zinit.StateInactive, Legacy: true},
		{Name: "user.hero_ui", State: zinit.StateBlocked, Reason: ptr("waiting for\nuser.hero_auth")},
	}
	var buf bytes.Buffer
	require.NoError(t, writeTable(&buf, list))
	golden(t).Assert(t, "list_table", buf.Bytes())

	buf.Reset()
	require.NoError(t, writeTable(&buf, nil))
	golden(t).Assert(t, "list_table_empty", buf.Bytes())
}

// TestListAndStatusThroughDaemon: the commands print the daemon's answer
// as the table, the block, or JSON that decodes back to the same value.
func TestListAndStatusThroughDaemon(t *testing.T) {
	st := fullStatus()
	d := startFakeDaemon(t, map[string]func(zinit.Request) (any, error){
		zinit.MethodServiceList:   func(zinit.Request) (any, error) { return []zinit.ServiceStatus{st}, nil },
		zinit.MethodServiceStatus: func(zinit.Request) (any, error) { return st, nil },
	})
	var want bytes.Buffer
	require.NoError(t, writeTable(&want, []zinit.ServiceStatus{st}))
	r := runCLI(t, daemonEnv(d), "list")
	require.Equal(t, 0, r.code, r.errOut)
	require.Equal(t, want.String(), r.out)

	want.Reset()
	require.NoError(t, writeStatus(&want, st))
	r = runCLI(t, daemonEnv(d), "status", st.Name)
	require.Equal(t, 0, r.code, r.errOut)
	require.Equal(t, want.String(), r.out)

	r = runCLI(t, daemonEnv(d), "status", "--json", st.Name)
	require.Equal(t, 0, r.code, r.errOut)
	golden(t).Assert(t, "status_json", []byte(r.out))

	r = runCLI(t, daemonEnv(d), "list", "--json")
	require.Equal(t, 0, r.code, r.errOut)
	require.True(t, strings.HasPrefix(r.out, "[\n"), r.out)
}
