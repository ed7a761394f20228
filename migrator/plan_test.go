package migrator_test

import (
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/zinit"
)

func fleetPlan(t testing.TB) *migrator.Plan {
	t.Helper()
	p, err := migrator.BuildPlan(loadFleet(t), migrator.DefaultPolicy())
	require.NoError(t, err)
	return p
}

func TestLintFleetFindsTheSeedProblems(t *testing.T) {
	inv := loadFleet(t)
	rep := migrator.Lint(inv, migrator.DefaultPolicy())
	require.Len(t, rep.Rows, migrator.FleetSize)
	codes := func(r migrator.LintRow) map[string]bool {
		m := map[string]bool{}
		for _, f := range r.Findings {
			m[f.Code] = true
			assert.Equal(t, r.Service, f.Service)
			assert.NotEmpty(t, f.File)
		}
		return m
	}
	oneshots := map[string]bool{}
	for _, l := range inv.Files {
		if l.Role == migrator.RoleService && l.Oneshot {
			oneshots[l.Name] = true
		}
	}
	for _, r := range rep.Rows {
		c := codes(r)
		require.Len(t, r.Health, 1, r.Service)
		if oneshots[r.Service] {
			assert.True(t, c[migrator.CodeCheckOnOneshot], r.Service)
			assert.False(t, c[migrator.CodeNoRestart], r.Service)
			continue
		}
		assert.True(t, c[migrator.CodeNoRestart], r.Service)
		assert.True(t, c[migrator.CodeHealthRunsOnce], r.Service)
		switch {
		case strings.HasSuffix(r.Service, "_ui"):
			assert.False(t, c[migrator.CodeHealthAlwaysPasses], "curl -f probe can fail: %s", r.Service)
		default:
			assert.True(t, c[migrator.CodeHealthAlwaysPasses], r.Service)
		}
	}
	s := rep.Summary
	assert.Equal(t, migrator.FleetSize, s.Services)
	assert.Equal(t, migrator.FleetSize, s.HealthFiles)
	assert.Equal(t, 2*migrator.FleetSize, s.Files)
	assert.Equal(t, len(rep.Findings()), s.Errors+s.Warnings+s.Infos)
	assert.Contains(t, s.String(), "29 services")
}

func TestLintMessyCases(t *testing.T) {
	cases := map[string][]string{
		"duplicate":    {migrator.CodeDuplicateName},
		"cycle":        {migrator.CodeCycle},
		"missing-dep":  {migrator.CodeUnknownDependency},
		"badname":      {migrator.CodeInvalidName},
		"longsocket":   {migrator.CodeSocketTooLong},
		"unknown-keys": {migrator.CodeUnknownKey},
		"quoting":      {migrator.CodeNeedsQuoting, migrator.CodeNameFromFile},
		"yaml":         {migrator.CodeHealthIgnoresAnswer, migrator.CodeNoHealthCheck},
	}
	for dir, want := range cases {
		t.Run(dir, func(t *testing.T) {
			rep := migrator.Lint(messy(t, dir), migrator.DefaultPolicy())
			got := map[string]bool{}
			for _, f := range rep.Findings() {
				got[f.Code] = true
			}
			for _, c := range want {
				assert.True(t, got[c], "want %s in %v", c, got)
			}
		})
	}
	t.Run("cycle path", func(t *testing.T) {
		rep := migrator.Lint(messy(t, "cycle"), migrator.DefaultPolicy())
		var msgs []string
		for _, f := range rep.Findings() {
			if f.Code == migrator.CodeCycle {
				msgs = append(msgs, f.Message)
			}
		}
		assert.Contains(t, msgs, "dependency cycle user.a → user.b → user.c → user.a")
		assert.Contains(t, msgs, "dependency cycle user.self → user.self")
	})
	t.Run("liveness only", func(t *testing.T) {
		off := false
		pol := migrator.DefaultPolicy()
		pol.DeriveSocket = &off
		rep := migrator.Lint(messy(t, "convention"), pol)
		require.Len(t, rep.Rows, 1)
		var codes []string
		for _, f := range rep.Rows[0].Findings {
			codes = append(codes, f.Code)
		}
		assert.Contains(t, codes, migrator.CodeLivenessOnly)
	})
}

func TestPlanRefusesWhatCannotBeMigrated(t *testing.T) {
	cases := map[string]error{
		"duplicate":      migrator.ErrDuplicateName,
		"cycle":          migrator.ErrCycle,
		"missing-dep":    migrator.ErrMissingDependency,
		"badname":        migrator.ErrInvalidName,
		"longsocket":     migrator.ErrUnsafeValue,
		"malformed-toml": zinit.ErrMalformed,
	}
	for dir, sentinel := range cases {
		t.Run(dir, func(t *testing.T) {
			p, err := migrator.BuildPlan(messy(t, dir), migrator.DefaultPolicy())
			require.Error(t, err)
			assert.Nil(t, p)
			assert.ErrorIs(t, err, sentinel)
			var ce *zinit.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.NotEmpty(t, ce.File)
			assert.Positive(t, ce.Line, "the line of the offending key")
			for _, line := range strings.Split(err.Error(), "\n") {
				assert.True(t, strings.HasPrefix(line, "testdata/messy/"+dir+"/"), "one clear line per problem: %q", line)
			}
		})
	}
}

func TestPlanFleetJobModel(t *testing.T) {
	p := fleetPlan(t)
	require.Len(t, p.Services, migrator.FleetSize)
	require.Len(t, p.Retired, migrator.FleetSize, "every health file is retired")
	require.Len(t, p.Files, 2*migrator.FleetSize)
	assert.Equal(t, float64(1), p.TimeScale)
	pos := map[string]int{}
	for i, n := range p.Names() {
		pos[n] = i
	}
	for _, sp := range p.Services {
		name := sp.Service.Name
		for _, d := range sp.Service.After {
			assert.Less(t, pos[d], pos[name], "%s starts after %s", name, d)
		}
		assert.True(t, sp.Service.Persist)
		main, ok := sp.Job("main")
		require.True(t, ok, name)
		require.NoError(t, main.Validate())
		assert.Equal(t, zinit.TriggerStart, main.Trigger)
		assert.True(t, main.Persist)
		if sp.Oneshot {
			assert.Equal(t, zinit.RestartNever, main.Restart)
			assert.Len(t, sp.Jobs, 1, "a oneshot has no check")
			assert.Equal(t, migrator.ProbeNone, sp.Probe.Kind)
			continue
		}
		// The seed's target state.
		assert.Equal(t, zinit.RestartOnFailure, main.Restart, name)
		assert.Equal(t, 5000*time.Millisecond, main.RestartDelay)
		assert.Equal(t, 20, main.MaxRestarts)
		check, ok := sp.Job("check")
		require.True(t, ok, name)
		require.NoError(t, check.Validate())
		assert.Equal(t, zinit.TriggerCheck, check.Trigger)
		assert.Equal(t, 60000*time.Millisecond, check.Interval)
		assert.Equal(t, 30000*time.Millisecond, check.Timeout)
		assert.Equal(t, sp.Probe.Exec(check.Timeout), check.Exec)
		short := strings.TrimPrefix(name, "user.")
		switch {
		case strings.Contains(main.Exec, "--http-port"):
			assert.Equal(t, migrator.ProbeHTTP, sp.Probe.Kind, name)
			assert.Regexp(t, `^http://127\.0\.0\.1:80\d\d/health$`, sp.Probe.Target)
			assert.Contains(t, sp.Probe.Origin, "exec flag --http-port")
		default:
			assert.Equal(t, migrator.ProbeSocket, sp.Probe.Kind, name)
			assert.Equal(t, "/root/hero/var/sockets/"+short+".sock", sp.Probe.Target)
			assert.Contains(t, sp.Probe.Origin, "exec flag --socket")
			assert.Contains(t, check.Exec, "server.health")
		}
	}
	os := p.Lookup("user.hero_db_migrate")
	require.NotNil(t, os)
	assert.True(t, os.Oneshot)
	assert.Equal(t, []string{"user.hero_db_server"}, os.Service.After)
}

// Every legacy field of every service file appears in the ledger.
func TestLedgerCoversEveryLegacyField(t *testing.T) {
	for _, src := range []struct {
		name string
		inv  *migrator.Inventory
	}{{"fleet", loadFleet(t)}, {"yaml", messy(t, "yaml")}, {"lifecycle", messy(t, "lifecycle")},
		{"quoting", messy(t, "quoting")}, {"unknown-keys", messy(t, "unknown-keys")}} {
		t.Run(src.name, func(t *testing.T) {
			p, err := migrator.BuildPlan(src.inv, migrator.DefaultPolicy())
			require.NoError(t, err)
			for _, l := range src.inv.Files {
				if l.Role != migrator.RoleService {
					continue
				}
				sp := p.Lookup(l.Name)
				require.NotNil(t, sp, l.Name)
				fields := map[string]migrator.LedgerEntry{}
				for _, e := range sp.Ledger {
					fields[e.Field] = e
					assert.NotEmpty(t, e.Detail)
					assert.Equal(t, l.Name, e.Service)
				}
				for f := range l.Lines {
					if f == "env" || f == "lifecycle" || f == "health" || f == "signal" {
						continue // tables: their keys are listed
					}
					_, ok := fields[f]
					assert.True(t, ok, "%s: field %s missing from the ledger", l.Name, f)
				}
				for _, k := range l.Unknown {
					assert.Equal(t, migrator.FidelityDropped, fields[k].Fidelity, k)
				}
				if !l.Oneshot {
					assert.Contains(t, fields, "probe")
					assert.Contains(t, fields, "grace")
				}
			}
		})
	}
}

func TestLedgerSaysWhatChanges(t *testing.T) {
	p := fleetPlan(t)
	sp := p.Lookup("user.hero_embedder_server")
	require.NotNil(t, sp)
	byField := map[string]migrator.LedgerEntry{}
	for _, e := range sp.Ledger {
		byField[e.Field] = e
	}
	assert.Equal(t, migrator.FidelityBehaviourChange, byField["restart"].Fidelity)
	assert.Contains(t, byField["restart"].Detail, "on-failure")
	assert.Equal(t, migrator.FidelityBehaviourChange, byField["health file"].Fidelity)
	assert.Contains(t, byField["health file"].Detail, "always passed")
	assert.Equal(t, migrator.FidelityApproximated, byField["grace"].Fidelity)
	assert.Contains(t, byField["grace"].Detail, "60000 ms")

	y, err := migrator.BuildPlan(messy(t, "yaml"), migrator.DefaultPolicy())
	require.NoError(t, err)
	redis := y.Lookup("redis")
	require.NotNil(t, redis)
	byField = map[string]migrator.LedgerEntry{}
	for _, e := range redis.Ledger {
		byField[e.Field] = e
	}
	assert.Equal(t, migrator.FidelityBehaviourChange, byField["signal.stop"].Fidelity)
	assert.Equal(t, migrator.FidelityApproximated, byField["shutdown_timeout"].Fidelity)
	assert.Equal(t, migrator.FidelityDropped, byField["log"].Fidelity)
	assert.Equal(t, migrator.FidelityApproximated, byField["dir"].Fidelity)
	assert.Equal(t, migrator.ProbeSocket, redis.Probe.Kind)
	assert.Equal(t, "/root/hero/var/sockets/redis.sock", redis.Probe.Target)
	main, _ := redis.Job("main")
	assert.True(t, strings.HasPrefix(main.Exec, "cd /tmp || exit 1; "))
}

func TestLifecyclePlan(t *testing.T) {
	p, err := migrator.BuildPlan(messy(t, "lifecycle"), migrator.DefaultPolicy())
	require.NoError(t, err)
	sp := p.Services[0]
	main, _ := sp.Job("main")
	check, _ := sp.Job("check")
	assert.Equal(t, zinit.RestartAlways, main.Restart)
	assert.Equal(t, 2*time.Second, main.RestartDelay)
	assert.Equal(t, 3, main.MaxRestarts)
	// grace 15 s > interval 10 s: the interval is raised to the grace.
	assert.Equal(t, 15*time.Second, check.Interval)
	assert.Equal(t, 2*time.Second, check.Timeout)
	assert.Equal(t, migrator.ProbeHTTP, sp.Probe.Kind)
	assert.Equal(t, "http://127.0.0.1:9000/health", sp.Probe.Target, "the exec flag's port comes first")
}

func TestPolicyOverrides(t *testing.T) {
	pol, err := migrator.LoadPolicy(filepath.Join("testdata", "policy", "convention.yaml"))
	require.NoError(t, err)
	inv := messy(t, "convention")

	def, err := migrator.BuildPlan(inv, migrator.DefaultPolicy())
	require.NoError(t, err)
	assert.Equal(t, "/root/hero/var/sockets/hero_plain_server.sock", def.Services[0].Probe.Target)
	assert.Contains(t, def.Services[0].Probe.Origin, "convention")

	p, err := migrator.BuildPlan(inv, pol)
	require.NoError(t, err)
	sp := p.Services[0]
	main, _ := sp.Job("main")
	check, _ := sp.Job("check")
	assert.Equal(t, time.Second, main.RestartDelay, "policy defaults")
	assert.Equal(t, 5, main.MaxRestarts, "policy defaults")
	assert.Equal(t, "/run/plain.sock", sp.Probe.Target, "per-service socket")
	assert.Equal(t, "policy services.user.hero_plain_server", sp.Probe.Origin)
	assert.Equal(t, 45*time.Second, check.Interval, "grace 45 s > interval 20 s raises the interval")
	assert.Equal(t, 30*time.Second, check.Timeout)
}

func TestPolicyErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, writeFile(p, body))
		return p
	}
	cases := map[string]struct {
		file string
		line int
	}{
		"unknown yaml key": {write("a.yaml", "defaults:\n  restart: always\n  retsart_delay_ms: 5\n"), 3},
		"unknown toml key": {write("b.toml", "[defaults]\nrestart = \"always\"\nbogus = 1\n"), 3},
		"bad restart":      {write("c.yaml", "defaults:\n  restart: sometimes\n"), 0},
		"bad number":       {write("d.toml", "[services.\"user.x\"]\ninterval_ms = 0\n"), 0},
		"bad extension":    {write("e.json", "{}"), 0},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := migrator.LoadPolicy(c.file)
			var ce *zinit.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.ErrorIs(t, err, migrator.ErrPolicy)
			assert.Equal(t, c.file, ce.File)
			assert.Equal(t, c.line, ce.Line)
		})
	}
	_, err := migrator.LoadPolicy(write("empty.yaml", ""))
	assert.NoError(t, err, "an empty policy means the defaults")
}

func TestScale(t *testing.T) {
	p := fleetPlan(t)
	s, err := p.Scale(0.05)
	require.NoError(t, err)
	assert.Equal(t, 0.05, s.TimeScale)
	sp := s.Lookup("user.hero_embedder_server")
	main, _ := sp.Job("main")
	check, _ := sp.Job("check")
	assert.Equal(t, 250*time.Millisecond, main.RestartDelay)
	assert.Equal(t, 20, main.MaxRestarts, "counts are not scaled")
	assert.Equal(t, 3000*time.Millisecond, check.Interval)
	assert.Equal(t, 1500*time.Millisecond, check.Timeout)
	assert.Contains(t, check.Exec, "timeout -k 0.300 1.200 socat -t 1.200 -T 1.200")
	// The original is untouched.
	orig, _ := p.Lookup("user.hero_embedder_server").Job("check")
	assert.Equal(t, 60*time.Second, orig.Interval)

	tiny, err := p.Scale(1e-9)
	require.NoError(t, err)
	tm, _ := tiny.Lookup("user.hero_embedder_server").Job("main")
	assert.Equal(t, time.Millisecond, tm.RestartDelay, "at least 1 ms")
	for _, bad := range []float64{0, -1} {
		_, err := p.Scale(bad)
		assert.Error(t, err)
	}
}

func TestDependencyOnOneshotDropped(t *testing.T) {
	fsys := fstest.MapFS{
		"db.toml":  {Data: []byte("[service]\nname = \"user.db\"\nexec = \"/bin/db --socket /run/db.sock\"\n")},
		"mig.toml": {Data: []byte("[service]\nname = \"user.mig\"\nexec = \"/bin/mig\"\noneshot = true\n[dependencies]\nafter = [\"user.db\"]\n")},
		"app.toml": {Data: []byte("[service]\nname = \"user.app\"\nexec = \"/bin/app --socket /run/app.sock\"\n[dependencies]\nafter = [\"user.db\", \"user.mig\"]\n")},
	}
	inv, err := migrator.Load(fsys, "d")
	require.NoError(t, err)
	p, err := migrator.BuildPlan(inv, migrator.DefaultPolicy())
	require.NoError(t, err)
	app := p.Lookup("user.app")
	assert.Equal(t, []string{"user.db"}, app.Service.After)
	var found bool
	for _, e := range app.Ledger {
		if e.Field == "after" && e.Fidelity == migrator.FidelityBehaviourChange {
			found = true
		}
	}
	assert.True(t, found)
}
