package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/zinit"
	"github.com/zchaos/zchaos/zinit/zinittest"
)

const seedHealthExec = `echo '{"jsonrpc":"2.0","method":"server.health","id":1}'     | socat - UNIX-CONNECT:/root/hero/var/sockets/hero_embedder_server.sock`

var (
	seedMainJob = zinit.Job{
		Service: "user.hero_embedder_server", Name: "main", Exec: "/root/hero/bin/hero_embedder_server serve",
		Trigger: zinit.TriggerStart, Restart: zinit.RestartOnFailure, RestartDelay: 5 * time.Second, MaxRestarts: 20,
	}
	seedCheckJob = zinit.Job{
		Service: "user.hero_embedder_server", Name: "check", Exec: seedHealthExec,
		Trigger: zinit.TriggerCheck, Interval: 60 * time.Second, Timeout: 30 * time.Second,
	}
)

// jobsSent decodes every job.add the daemon received.
func jobsSent(t *testing.T, d *zinittest.FakeDaemon) []zinit.Job {
	t.Helper()
	var jobs []zinit.Job
	for _, c := range d.Requests() {
		if c.Method != zinit.MethodJobAdd {
			continue
		}
		var j zinit.Job
		require.NoError(t, json.Unmarshal(c.Params, &j))
		jobs = append(jobs, j)
	}
	return jobs
}

// TestSeedLinesVerbatim: the seed's command lines, split by a real shell,
// parse and reach the daemon as the jobs they describe.
func TestSeedLinesVerbatim(t *testing.T) {
	d := startFakeDaemon(t, nil)
	for _, argv := range seedArgv(t) {
		r := runCLI(t, daemonEnv(d), argv...)
		require.Equal(t, 0, r.code, "zinit %q: %s", argv, r.errOut)
		assert.Empty(t, r.errOut)
		assert.Empty(t, r.out)
	}
	calls := d.Requests()
	require.Len(t, calls, 3)
	assert.Equal(t, zinit.MethodServiceAdd, calls[0].Method)
	assert.JSONEq(t, `{"name":"user.hero_embedder_server"}`, string(calls[0].Params))
	assert.Equal(t, []zinit.Job{seedMainJob, seedCheckJob}, jobsSent(t, d))
}

// TestAddJobArgOrder: flags and positionals in any order, both flag
// spellings, and the SDK's own rendering all give the same job.
func TestAddJobArgOrder(t *testing.T) {
	orders := [][]string{
		{"add", "job", "user.hero_embedder_server", "main", "--exec", "/root/hero/bin/hero_embedder_server serve",
			"--trigger", "start", "--restart", "on-failure", "--restart-delay", "5000", "--max-restarts", "20"},
		{"add", "job", "--max-restarts", "20", "user.hero_embedder_server", "--restart=on-failure",
			"--exec=/root/hero/bin/hero_embedder_server serve", "main", "--restart-delay=5000", "--trigger", "start"},
		{"--socket", "SOCKET", "add", "job", "--trigger", "start", "user.hero_embedder_server",
			"--exec", "/root/hero/bin/hero_embedder_server serve", "--restart", "on-failure", "main",
			"--max-restarts", "20", "--restart-delay", "5000"},
		seedMainJob.Argv()[1:],
	}
	for i, args := range orders {
		d := startFakeDaemon(t, nil)
		for k, a := range args {
			if a == "SOCKET" {
				args[k] = d.Socket
			}
		}
		r := runCLI(t, daemonEnv(d), args...)
		require.Equal(t, 0, r.code, "order %d: %s", i, r.errOut)
		assert.Equal(t, []zinit.Job{seedMainJob}, jobsSent(t, d), "order %d", i)
	}
}

func TestAddJobEveryFlagRoundTrips(t *testing.T) {
	j := zinit.Job{Service: "svc", Name: "probe", Exec: "curl -fsS http://127.0.0.1:8080/ || exit 1",
		Trigger: zinit.TriggerCheck, Interval: 2 * time.Second, Timeout: time.Second,
		Env: map[string]string{"A": "1", "B": "with space", "C": "x=y"}, Persist: true}
	d := startFakeDaemon(t, nil)
	r := runCLI(t, daemonEnv(d), j.Argv()[1:]...)
	require.Equal(t, 0, r.code, r.errOut)
	assert.Equal(t, []zinit.Job{j}, jobsSent(t, d))
}

func TestAddServiceFlags(t *testing.T) {
	d := startFakeDaemon(t, nil)
	r := runCLI(t, daemonEnv(d), "add", "service", "--after", "a", "b", "--persist", "--after", "c")
	require.Equal(t, 0, r.code, r.errOut)
	calls := d.Requests()
	require.Len(t, calls, 1)
	assert.JSONEq(t, `{"name":"b","after":["a","c"],"persist":true}`, string(calls[0].Params))
}

// TestBadInputExit2: every bad command line exits 2 with exactly one line
// on stderr, nothing on stdout, and sends nothing to the daemon.
func TestBadInputExit2(t *testing.T) {
	job := func(extra ...string) []string {
		return append([]string{"add", "job", "svc", "main", "--exec", "run"}, extra...)
	}
	cases := map[string]struct {
		args []string
		want string // a fragment of the message
	}{
		"negative delay":        {job("--trigger", "start", "--restart-delay", "-5"), "--restart-delay -5: must be > 0"},
		"zero delay":            {job("--trigger", "start", "--restart-delay", "0"), "--restart-delay 0: must be > 0"},
		"non-numeric delay":     {job("--trigger", "start", "--restart-delay", "5s"), `--restart-delay "5s": want a whole number`},
		"float interval":        {job("--trigger", "check", "--interval-ms", "1.5"), `--interval-ms "1.5": want a whole number`},
		"huge interval":         {job("--trigger", "check", "--interval-ms", "99999999999999999999"), "want a whole number"},
		"overflowing duration":  {job("--trigger", "check", "--interval-ms", "9223372036854775"), "must be <="},
		"negative max-restarts": {job("--trigger", "start", "--max-restarts", "-1"), "--max-restarts -1: must be >= 0"},
		"negative timeout":      {job("--trigger", "check", "--interval-ms", "10", "--timeout-ms", "-1"), "--timeout-ms -1: must be > 0"},
		"interval on start":     {job("--trigger", "start", "--interval-ms", "1000"), "--interval-ms only fits --trigger check"},
		"timeout on start":      {job("--trigger", "start", "--timeout-ms", "1000"), "--timeout-ms only fits"},
		"restart on check":      {job("--trigger", "check", "--interval-ms", "10", "--restart", "always"), "only fit --trigger start"},
		"delay on stop":         {job("--trigger", "stop", "--restart-delay", "10"), "only fit --trigger start"},
		"check w/o interval":    {job("--trigger", "check"), "--interval-ms is required"},
		"no trigger":            {job(), "--trigger is required"},
		"bad trigger":           {job("--trigger", "boot"), `invalid trigger "boot"`},
		"bad restart":           {job("--trigger", "start", "--restart", "sometimes"), `invalid restart policy "sometimes"`},
		"no exec":               {[]string{"add", "job", "svc", "main", "--trigger", "start"}, "--exec is required"},
		"env without =":         {job("--trigger", "start", "-e", "FOO"), `-e "FOO": want KEY=VALUE`},
		"env bad key":           {job("--trigger", "start", "-e", "1X=2"), `env key "1X"`},
		"env twice":             {job("--trigger", "start", "-e", "A=1", "-e", "A=2"), "-e A: given twice"},
		"bad service name":      {[]string{"add", "job", "bad name", "main", "--exec", "x", "--trigger", "start"}, `name "bad name"`},
		"one positional":        {[]string{"add", "job", "svc", "--exec", "x", "--trigger", "start"}, "takes <service> <job_name>, got 1"},
		"three positionals":     {job("extra", "--trigger", "start"), "got 3 argument(s)"},
		"unknown flag":          {job("--trigger", "start", "--retries", "3"), "unknown flag: --retries"},
		"flag without value":    {[]string{"add", "job", "svc", "main", "--trigger", "start", "--exec"}, "flag needs an argument"},
		"bad service":           {[]string{"add", "service", "a/b"}, `name "a/b"`},
		"after itself":          {[]string{"add", "service", "a", "--after", "a"}, "cannot start after itself"},
		"add what":              {[]string{"add", "thing", "x"}, `unknown subcommand "thing"`},
		"add nothing":           {[]string{"add"}, "no subcommand"},
		"remove what":           {[]string{"remove", "thing"}, `unknown subcommand "thing"`},
		"unknown command":       {[]string{"statsu", "x"}, `unknown command "statsu"`},
		"status two args":       {[]string{"status", "a", "b"}, `zinit status takes at most [<service>], got 2 argument(s): "a" "b"`},
		"kill no signal":        {[]string{"kill", "svc"}, "takes <service> <SIGNAL>"},
		"logs negative":         {[]string{"logs", "svc", "-n", "-3"}, "-n -3: must be >= 0"},
		"list extra":            {[]string{"list", "x"}, "takes no arguments"},
		"negative timeout flag": {[]string{"start", "svc", "--timeout", "-1s"}, "--timeout -1s: must be >= 0"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d := startFakeDaemon(t, nil)
			r := runCLI(t, daemonEnv(d), c.args...)
			assert.Equal(t, 2, r.code)
			assert.Empty(t, r.out)
			assert.Equal(t, 1, strings.Count(r.errOut, "\n"), "one line: %q", r.errOut)
			assert.True(t, strings.HasPrefix(r.errOut, "zinit: "), r.errOut)
			assert.Contains(t, r.errOut, c.want)
			assert.Empty(t, d.Requests(), "nothing sent to the daemon")
		})
	}
}

func TestDaemonErrorsExit2(t *testing.T) {
	notFound := func(req zinit.Request) (any, error) {
		var p zinit.NameParams
		if err := req.DecodeParams(&p); err != nil {
			return nil, err
		}
		return nil, &zinit.RPCError{Code: zinit.CodeNotFound, Message: fmt.Sprintf("service %q not found", p.Name)}
	}
	d := startFakeDaemon(t, map[string]func(zinit.Request) (any, error){
		zinit.MethodServiceStatus: notFound,
		zinit.MethodServiceStart:  notFound,
		zinit.MethodJobAdd: func(zinit.Request) (any, error) {
			return nil, &zinit.RPCError{Code: zinit.CodeNotFound, Message: `service "ghost" not found`}
		},
	})
	for _, args := range [][]string{
		{"status", "ghost"}, {"status", "ghost", "--json"}, {"start", "ghost"},
		{"add", "job", "ghost", "main", "--exec", "x", "--trigger", "start"},
	} {
		r := runCLI(t, daemonEnv(d), args...)
		assert.Equal(t, 2, r.code, "%q", args)
		assert.Empty(t, r.out)
		assert.Equal(t, "zinit: service \"ghost\" not found (code -32000)\n", r.errOut, "%q", args)
	}
}

func TestDaemonNotRunningNamesSocket(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "nobody.sock")
	for _, args := range [][]string{{"list"}, {"status", "x"}, {"shutdown"}} {
		r := runCLI(t, map[string]string{"ZINIT_SOCKET": socket}, args...)
		assert.Equal(t, 2, r.code)
		assert.Equal(t, 1, strings.Count(r.errOut, "\n"), r.errOut)
		assert.Contains(t, r.errOut, "daemon not running")
		assert.Contains(t, r.errOut, socket)
	}
	r := runCLI(t, nil, "list", "--socket", "/"+strings.Repeat("x", 120))
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.errOut, "socket path too long")
}

func TestHungDaemonTimeout(t *testing.T) {
	d := startFakeDaemon(t, map[string]func(zinit.Request) (any, error){zinit.MethodServiceList: nil})
	r := runCLI(t, daemonEnv(d), "list", "--timeout", "100ms")
	assert.Equal(t, 2, r.code)
	assert.Equal(t, 1, strings.Count(r.errOut, "\n"), r.errOut)
	assert.Contains(t, r.errOut, "context deadline exceeded")
	assert.Contains(t, r.errOut, d.Socket)
}

func TestAddJobWarning(t *testing.T) {
	d := startFakeDaemon(t, map[string]func(zinit.Request) (any, error){
		zinit.MethodJobAdd: func(zinit.Request) (any, error) {
			return zinit.JobAddResult{Warning: "service \"legacy\" comes from a TOML file: the job is accepted without effect"}, nil
		},
	})
	r := runCLI(t, daemonEnv(d), "add", "job", "legacy", "main", "--exec", "x", "--trigger", "start")
	assert.Equal(t, 0, r.code)
	assert.Empty(t, r.out)
	assert.Equal(t, "zinit: warning: service \"legacy\" comes from a TOML file: the job is accepted without effect\n", r.errOut)
}

func TestClientCommandsSendTheirRPC(t *testing.T) {
	d := startFakeDaemon(t, map[string]func(zinit.Request) (any, error){
		zinit.MethodLogsGet: func(zinit.Request) (any, error) {
			return zinit.LogsResult{Lines: []string{"one", "two"}, MonoNs: []int64{12_345_678_901, 12_400_000_000}}, nil
		},
		zinit.MethodSystemReload: func(zinit.Request) (any, error) {
			return zinit.ReloadResult{Started: []string{"a", "b"}, Restarted: []string{"c"}}, nil
		},
	})
	cases := []struct {
		args   []string
		method string
		params string
		out    string
	}{
		{[]string{"remove", "service", "svc"}, zinit.MethodServiceRemove, `{"name":"svc"}`, ""},
		{[]string{"remove", "job", "svc", "main"}, zinit.MethodJobRemove, `{"service":"svc","name":"main"}`, ""},
		{[]string{"start", "svc"}, zinit.MethodServiceStart, `{"name":"svc"}`, ""},
		{[]string{"stop", "svc"}, zinit.MethodServiceStop, `{"name":"svc"}`, ""},
		{[]string{"restart", "svc"}, zinit.MethodServiceRestart, `{"name":"svc"}`, ""},
		{[]string{"kill", "svc", "sigkill"}, zinit.MethodServiceKill, `{"name":"svc","signal":"SIGKILL"}`, ""},
		{[]string{"kill", "svc", "9"}, zinit.MethodServiceKill, `{"name":"svc","signal":"9"}`, ""},
		{[]string{"logs", "svc", "-n", "2"}, zinit.MethodLogsGet, `{"name":"svc","lines":2}`, "one\ntwo\n"},
		{[]string{"logs", "svc"}, zinit.MethodLogsGet, `{"name":"svc"}`, "one\ntwo\n"},
		{[]string{"logs", "svc", "--mono"}, zinit.MethodLogsGet, `{"name":"svc"}`, "[12.345678] one\n[12.400000] two\n"},
		{[]string{"reload"}, zinit.MethodSystemReload, `{}`, "started: a b\nrestarted: c\n"},
		{[]string{"shutdown"}, zinit.MethodSystemShutdown, `{}`, ""},
	}
	for i, c := range cases {
		r := runCLI(t, daemonEnv(d), c.args...)
		require.Equal(t, 0, r.code, "%q: %s", c.args, r.errOut)
		assert.Equal(t, c.out, r.out, "%q", c.args)
		calls := d.Requests()
		require.Len(t, calls, i+1)
		assert.Equal(t, c.method, calls[i].Method)
		assert.JSONEq(t, c.params, string(calls[i].Params), "%q", c.args)
	}
}

func TestSocketFlagBeatsEnv(t *testing.T) {
	d := startFakeDaemon(t, nil)
	r := runCLI(t, map[string]string{"ZINIT_SOCKET": "/nonexistent/env.sock"}, "start", "svc", "--socket", d.Socket)
	assert.Equal(t, 0, r.code, r.errOut)
	r = runCLI(t, map[string]string{"ZINIT_SOCKET": "/nonexistent/env.sock"}, "start", "svc")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.errOut, "/nonexistent/env.sock")
}

func TestInitConfig(t *testing.T) {
	var got []daemonConfig
	daemon := func(_ context.Context, cfg daemonConfig) error {
		cfg.Log = nil
		got = append(got, cfg)
		return nil
	}
	r := runCLIWith(t, nil, daemon, "init")
	require.Equal(t, 0, r.code, r.errOut)
	r = runCLIWith(t, map[string]string{"ZINIT_SOCKET": "/e/s", "ZINIT_CONFIG_DIR": "/e/c", "ZINIT_STATE_DIR": "/e/st"}, daemon, "init")
	require.Equal(t, 0, r.code, r.errOut)
	r = runCLIWith(t, map[string]string{"ZINIT_SOCKET": "/e/s", "ZINIT_CONFIG_DIR": "/e/c"}, daemon,
		"init", "--socket", "/f/s", "--config-dir", "/f/c", "--state-dir", "/f/st")
	require.Equal(t, 0, r.code, r.errOut)
	assert.Equal(t, []daemonConfig{
		{Socket: zinit.DefaultSocket, ConfigDir: zinit.DefaultConfigDir, StateDir: zinit.DefaultStateDir},
		{Socket: "/e/s", ConfigDir: "/e/c", StateDir: "/e/st"},
		{Socket: "/f/s", ConfigDir: "/f/c", StateDir: "/f/st"},
	}, got)

	r = runCLIWith(t, nil, func(context.Context, daemonConfig) error {
		return fmt.Errorf("listen on /run/zinit.sock: address already in use\nsecond line")
	}, "init")
	assert.Equal(t, 2, r.code)
	assert.Equal(t, "zinit: init: listen on /run/zinit.sock: address already in use; second line\n", r.errOut)
}

func TestVersion(t *testing.T) {
	r := runCLI(t, nil, "version")
	assert.Equal(t, 0, r.code)
	assert.Equal(t, "zinit "+zinit.Version+" (build dev)\n", r.out)
}
