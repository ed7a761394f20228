package migrator_test

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/zinit"
)

func loadFleet(t testing.TB) *migrator.Inventory {
	t.Helper()
	inv, err := migrator.Load(migrator.FleetFS(), "fleet")
	require.NoError(t, err)
	require.Empty(t, inv.Errors)
	return inv
}

func messy(t *testing.T, name string) *migrator.Inventory {
	t.Helper()
	inv, err := migrator.LoadDir(filepath.Join("testdata", "messy", name))
	require.NoError(t, err)
	return inv
}

func TestFleetFixtureShape(t *testing.T) {
	inv := loadFleet(t)
	require.Len(t, inv.Files, 2*migrator.FleetSize)
	kinds := map[migrator.CheckKind]int{}
	services, oneshots := 0, 0
	checked := map[string]bool{}
	for _, l := range inv.Files {
		switch l.Role {
		case migrator.RoleService:
			services++
			assert.Equal(t, migrator.DialectTOMLService, l.Dialect, l.File)
			assert.True(t, strings.HasPrefix(l.Name, "user.hero_"), l.Name)
			assert.True(t, strings.HasPrefix(l.Exec, "/usr/local/bin/herosim "), l.Exec)
			if l.Oneshot {
				oneshots++
			}
		case migrator.RoleHealth:
			assert.Equal(t, migrator.DialectTOMLHealth, l.Dialect, l.File)
			require.NotNil(t, l.Check, l.File)
			kinds[l.Check.Kind]++
			checked[l.After[0]] = true
		}
	}
	assert.Equal(t, migrator.FleetSize, services)
	assert.Equal(t, migrator.FleetSize, len(checked), "one health file per service")
	assert.GreaterOrEqual(t, oneshots, 3)
	// The three kinds the seed describes.
	assert.Positive(t, kinds[migrator.CheckMake])
	assert.Positive(t, kinds[migrator.CheckCurl])
	assert.Positive(t, kinds[migrator.CheckEcho])
	assert.Equal(t, migrator.FleetSize, kinds[migrator.CheckMake]+kinds[migrator.CheckCurl]+kinds[migrator.CheckEcho])
}

func TestParseLinesAndFields(t *testing.T) {
	inv := loadFleet(t)
	var books *migrator.Legacy
	for _, l := range inv.Files {
		if l.Name == "user.hero_books_server" {
			books = l
		}
	}
	require.NotNil(t, books)
	assert.Equal(t, "fleet/hero_books_server.toml", books.File)
	assert.Equal(t, 2, books.Line("name"))
	assert.Equal(t, 3, books.Line("exec"))
	assert.Equal(t, 4, books.Line("oneshot"))
	assert.Equal(t, 7, books.Line("env.RUST_LOG"))
	assert.Equal(t, 10, books.Line("after"))
	assert.Equal(t, []string{"user.hero_db_server", "user.hero_embedder_server"}, books.After)
	assert.Equal(t, map[string]string{"RUST_LOG": "info"}, books.Env)
	assert.Len(t, books.SHA256, 64)
}

// A health file is recognised by its shape, whatever its name; a oneshot
// that is not a probe stays a service.
func TestHealthRecognisedByShape(t *testing.T) {
	fsys := fstest.MapFS{
		"svc.toml": {Data: []byte("[service]\nname = \"user.svc\"\nexec = \"/bin/svc --socket /run/svc.sock\"\n")},
		"zz.toml": {Data: []byte("[service]\nname = \"whatever.name\"\nexec = \"echo '{\\\"jsonrpc\\\":\\\"2.0\\\"}' | socat - UNIX-CONNECT:/run/svc.sock\"\n" +
			"oneshot = true\n[dependencies]\nafter = [\"user.svc\"]\n")},
		"migrate.toml": {Data: []byte("[service]\nname = \"user.migrate\"\nexec = \"/bin/migrate --all\"\noneshot = true\n[dependencies]\nafter = [\"user.svc\"]\n")},
		"two.toml":     {Data: []byte("[service]\nname = \"user.two\"\nexec = \"echo hi\"\noneshot = true\n[dependencies]\nafter = [\"user.svc\", \"user.migrate\"]\n")},
		"README":       {Data: []byte("not a config")},
	}
	inv, err := migrator.Load(fsys, "d")
	require.NoError(t, err)
	roles := map[string]migrator.Role{}
	for _, l := range inv.Files {
		roles[l.Name] = l.Role
	}
	assert.Equal(t, map[string]migrator.Role{
		"user.svc": migrator.RoleService, "whatever.name": migrator.RoleHealth,
		"user.migrate": migrator.RoleService, "user.two": migrator.RoleService,
	}, roles)
	assert.Equal(t, []string{"d/README"}, inv.Ignored)
	for _, l := range inv.Files {
		if l.Name == "whatever.name" {
			assert.Equal(t, migrator.CheckSocat, l.Check.Kind)
			assert.Equal(t, "/run/svc.sock", l.Check.Socket)
			assert.True(t, l.Check.IgnoresAnswer)
		}
	}
}

func TestParseErrorsCarryFileAndLine(t *testing.T) {
	cases := []struct {
		dir, file string
		line      int
		key       string
		is        error
	}{
		{"malformed-toml", "bad.toml", 3, "service.exec", zinit.ErrMalformed},
		{"malformed-yaml", "bad.yaml", 2, "", zinit.ErrMalformed},
		{"wrongtype", "w.toml", 4, "service.oneshot", zinit.ErrWrongType},
	}
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			inv := messy(t, c.dir)
			require.Len(t, inv.Errors, 1)
			var ce *zinit.ConfigError
			require.ErrorAs(t, inv.Errors[0], &ce)
			assert.Equal(t, filepath.Join("testdata/messy", c.dir, c.file), ce.File)
			assert.Equal(t, c.line, ce.Line)
			assert.Equal(t, c.key, ce.Key)
			assert.ErrorIs(t, ce, c.is)
			assert.NotContains(t, ce.Error(), "\n", "one line")

			_, err := migrator.BuildPlan(inv, migrator.DefaultPolicy())
			require.ErrorAs(t, err, &ce)
			assert.ErrorIs(t, err, c.is)
		})
	}
	t.Run("good files still load", func(t *testing.T) {
		inv := messy(t, "malformed-toml")
		require.Len(t, inv.Files, 1)
		assert.Equal(t, "user.good", inv.Files[0].Name)
	})
}

func TestYAMLDialect(t *testing.T) {
	inv := messy(t, "yaml")
	require.Empty(t, inv.Errors)
	byName := map[string]*migrator.Legacy{}
	for _, l := range inv.Files {
		assert.Equal(t, migrator.DialectYAML, l.Dialect)
		byName[l.Name] = l
	}
	r := byName["redis"]
	require.NotNil(t, r)
	assert.True(t, r.NameFromFile)
	assert.Equal(t, "SIGINT", r.StopSignal)
	assert.Equal(t, "20s", r.ShutdownTimeout.String())
	assert.Equal(t, "ring", r.Log)
	assert.Equal(t, "/tmp", r.Dir)
	assert.Equal(t, []string{"net"}, r.After)
	assert.Equal(t, map[string]string{"MODE": "prod", "PORTS": "6379"}, r.Env)
	assert.Equal(t, 2, r.Line("test"))
	assert.Contains(t, r.Test, "socat")
	assert.True(t, byName["setup"].Oneshot)
}

func TestLifecycleDialect(t *testing.T) {
	inv := messy(t, "lifecycle")
	require.Len(t, inv.Files, 1)
	l := inv.Files[0]
	assert.Equal(t, migrator.DialectTOMLLifecycle, l.Dialect)
	require.NotNil(t, l.Lifecycle)
	require.NotNil(t, l.Health)
	assert.Equal(t, "always", l.Lifecycle.Restart)
	assert.Equal(t, int64(2000), *l.Lifecycle.RestartDelayMs)
	assert.Equal(t, 3, *l.Lifecycle.MaxRestarts)
	assert.Equal(t, zinit.HealthSection{Exec: "curl -fsS http://127.0.0.1:9000/healthz", IntervalMs: 10000, TimeoutMs: 2000, GraceMs: 15000, Retries: 3}, *l.Health)
	assert.Equal(t, 8, l.Line("lifecycle.restart_delay_ms"))
}

func TestUnknownKeysAreNamed(t *testing.T) {
	inv := messy(t, "unknown-keys")
	require.Len(t, inv.Files, 1)
	assert.Equal(t, []string{"build", "service.restart_policy", "dependencies.before"}, inv.Files[0].Unknown)
}

func TestQuotingInputParsed(t *testing.T) {
	inv := messy(t, "quoting")
	require.Len(t, inv.Files, 1)
	l := inv.Files[0]
	assert.Equal(t, "user.nasty", l.Name, "no name key: the file name")
	assert.Equal(t, "/usr/local/bin/herosim serve --name \"it's nasty\" --socket '/root/hero/var/sockets/nasty.sock' --note \"$HOME `uname` \\ back\"\necho second line", l.Exec)
	assert.Equal(t, "say \"hi\" it's $USER and `whoami`", l.Env["GREETING"])
	assert.Equal(t, "line1\nline2", l.Env["MULTI"])
}

func TestLoadMissingDir(t *testing.T) {
	_, err := migrator.LoadDir(filepath.Join(t.TempDir(), "nope"))
	var ce *zinit.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.True(t, errors.Is(err, fs.ErrNotExist))
}

// TestSeedHealthStylesRetired: the three legacy health styles the seed
// lists (make health-check in a build dir, curl on a port, the echo no-op)
// are each recognised as a health file of their service, retired by the
// plan, and named by lint with why they cannot catch a hang.
func TestSeedHealthStylesRetired(t *testing.T) {
	svc := func(name, exec string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte("[service]\nname = \"" + name + "\"\nexec = \"" + exec + "\"\noneshot = false\n")}
	}
	health := func(name, exec, of string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte("[service]\nname = \"" + name + "\"\nexec = \"" + exec + "\"\noneshot = true\n[dependencies]\nafter = [\"" + of + "\"]\n")}
	}
	fsys := fstest.MapFS{
		"user.hero_books_server.toml":        svc("user.hero_books_server", "/root/hero/bin/hero_books_server serve"),
		"user.hero_books_server_health.toml": health("user.hero_books_server_health", "cd /root/hero/code/hero_books && make health-check", "user.hero_books_server"),
		"user.hero_ui.toml":                  svc("user.hero_ui", "/root/hero/bin/hero_ui serve --port 8080"),
		"user.hero_ui_health.toml":           health("user.hero_ui_health", "curl -s http://127.0.0.1:8080/health", "user.hero_ui"),
		"user.hero_auth_server.toml":         svc("user.hero_auth_server", "/root/hero/bin/hero_auth_server serve"),
		"user.hero_auth_server_health.toml":  health("user.hero_auth_server_health", `echo \"No health check configured\"`, "user.hero_auth_server"),
	}
	inv, err := migrator.Load(fsys, "d")
	require.NoError(t, err)
	kinds := map[string]migrator.CheckKind{}
	for _, l := range inv.Files {
		if l.Role == migrator.RoleHealth {
			kinds[l.Name] = l.Check.Kind
		}
	}
	assert.Equal(t, map[string]migrator.CheckKind{
		"user.hero_books_server_health": migrator.CheckMake,
		"user.hero_ui_health":           migrator.CheckCurl,
		"user.hero_auth_server_health":  migrator.CheckEcho,
	}, kinds)

	plan, err := migrator.BuildPlan(inv, migrator.DefaultPolicy())
	require.NoError(t, err)
	assert.Equal(t, []string{"user.hero_auth_server", "user.hero_books_server", "user.hero_ui"}, plan.Names(),
		"the health files are retired, not migrated as services")

	rep := migrator.Lint(inv, migrator.DefaultPolicy())
	var msgs []string
	for _, f := range rep.Findings() {
		if f.Code == migrator.CodeHealthAlwaysPasses || f.Code == migrator.CodeHealthIgnoresAnswer {
			msgs = append(msgs, f.Service+": "+f.Message)
		}
	}
	assert.ElementsMatch(t, []string{
		"user.hero_auth_server: health file d/user.hero_auth_server_health.toml always passes (echo no-op: it never looks at the service), so a hang is never caught: echo \"No health check configured\"",
		"user.hero_books_server: health file d/user.hero_books_server_health.toml always passes (make health-check in a build dir: the target usually does not exist, so it passes whatever the service does), so a hang is never caught: cd /root/hero/code/hero_books && make health-check",
		"user.hero_ui: health file d/user.hero_ui_health.toml passes on any answer (it never looks at it): curl -s http://127.0.0.1:8080/health",
	}, msgs)
}
