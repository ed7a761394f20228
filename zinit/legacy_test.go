package zinit_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/zinit"
)

func TestConfigErrorFormat(t *testing.T) {
	err := error(&zinit.ConfigError{File: "a.toml", Line: 3, Key: "service.exec", Err: fmt.Errorf("%w: x", zinit.ErrMalformed)})
	assert.Equal(t, "a.toml:3: service.exec: malformed: x", err.Error())
	assert.True(t, errors.Is(err, zinit.ErrMalformed))
	assert.Equal(t, "b.toml: exec is required", zinit.ConfigErrorf("b.toml", 0, "", zinit.ErrMissingExec, "").Error())
}

// Every dialect the fleet uses, in one file: what both the migrator and
// the reference supervisor read.
func TestParseLegacyEveryField(t *testing.T) {
	data := "# a hero service\n" +
		"[service]\n" +
		"name = \"user.api\"\n" +
		"exec = \"/bin/api --socket /run/api.sock\"\n" +
		"oneshot = false\n" +
		"dir = \"/srv\"\n" +
		"after = [\"user.a\"]\n" +
		"weird = 1\n" +
		"\n" +
		"[service.env]\n" +
		"RUST_LOG = \"info\"\n" +
		"\n" +
		"[dependencies]\n" +
		"after = [\"user.b\"]\n" +
		"\n" +
		"[lifecycle]\n" +
		"restart = \"on-failure\"\n" +
		"restart_delay_ms = 2000\n" +
		"max_restarts = 3\n" +
		"\n" +
		"[health]\n" +
		"exec = \"curl -fsS http://127.0.0.1:9000/healthz\"\n" +
		"interval_ms = 10000\n" +
		"timeout_ms = 2000\n" +
		"grace_ms = 15000\n" +
		"retries = 3\n" +
		"\n" +
		"[build]\n" +
		"make = \"all\"\n"
	l, err := zinit.ParseLegacy("d/api.toml", []byte(data))
	require.NoError(t, err)
	delay, maxRestarts := int64(2000), 3
	assert.Equal(t, &zinit.LegacyService{
		File: "d/api.toml", Name: "user.api", Exec: "/bin/api --socket /run/api.sock", Dir: "/srv",
		Env:       map[string]string{"RUST_LOG": "info"},
		After:     []string{"user.a", "user.b"},
		Lifecycle: &zinit.Lifecycle{Restart: "on-failure", RestartDelayMs: &delay, MaxRestarts: &maxRestarts},
		Health:    &zinit.HealthSection{Exec: "curl -fsS http://127.0.0.1:9000/healthz", IntervalMs: 10000, TimeoutMs: 2000, GraceMs: 15000, Retries: 3},
		Unknown:   []string{"build", "service.weird"},
		Lines: map[string]int{
			"name": 3, "exec": 4, "oneshot": 5, "dir": 6, "after": 14, "env": 10, "env.RUST_LOG": 11,
			"lifecycle": 16, "lifecycle.restart": 17, "lifecycle.restart_delay_ms": 18, "lifecycle.max_restarts": 19,
			"health": 21, "health.exec": 22, "health.interval_ms": 23, "health.timeout_ms": 24, "health.grace_ms": 25, "health.retries": 26,
			"build": 28, "service.weird": 8,
		},
	}, l)
	assert.Equal(t, zinit.RestartOnFailure, l.Lifecycle.Policy())
	assert.Equal(t, 11, l.Line("env.RUST_LOG"))
	assert.Equal(t, 10, l.Line("env.OTHER"), "the nearest enclosing field")
	assert.Equal(t, 0, l.Line("nothing"))
}

func TestParseLegacyShapes(t *testing.T) {
	l, err := zinit.ParseLegacy("x/user.svc.toml", []byte("[service]\nexec = \"a\"\nenv = [\"A=1\", \"B=x=y\"]\n[lifecycle]\nrestart = \"\"\n"))
	require.NoError(t, err)
	assert.Equal(t, "user.svc", l.Name, "no name key: the file's base name")
	assert.True(t, l.NameFromFile)
	assert.Equal(t, map[string]string{"A": "1", "B": "x=y"}, l.Env, "env as KEY=VALUE strings")
	assert.Equal(t, 3, l.Line("env.A"))
	assert.Equal(t, zinit.RestartNever, l.Lifecycle.Policy(), "an empty restart is not given")
	assert.Nil(t, l.Health)
}

func TestParseLegacyErrors(t *testing.T) {
	for _, c := range []struct {
		name, data string
		line       int
		key        string
		is         error
	}{
		{"malformed", "[service]\nname = \"x\"\nexec = = 1\n", 3, "service.exec", zinit.ErrMalformed},
		{"wrong type", "[service]\nexec = \"a\"\noneshot = \"yes\"\n", 3, "service.oneshot", zinit.ErrWrongType},
		{"env value", "[service]\nexec = \"a\"\n[service.env]\nA = 1\n", 4, "service.env.A", zinit.ErrWrongType},
		{"env list", "[service]\nexec = \"a\"\nenv = [\"A\"]\n", 3, "service.env", zinit.ErrWrongType},
		{"after", "[service]\nexec = \"a\"\n[dependencies]\nafter = \"b\"\n", 4, "dependencies.after", zinit.ErrWrongType},
		{"bad restart", "[service]\nexec = \"a\"\n[lifecycle]\nrestart = \"sometimes\"\n", 4, "lifecycle.restart", zinit.ErrWrongType},
		{"negative", "[service]\nexec = \"a\"\n[lifecycle]\nmax_restarts = -1\n", 4, "lifecycle.max_restarts", zinit.ErrWrongType},
		{"service not a table", "service = 1\n", 1, "service", zinit.ErrWrongType},
		{"no service", "[dependencies]\nafter = []\n", 0, "service", zinit.ErrNotAService},
		{"no exec", "\n[service]\nname = \"z\"\n", 2, "exec", zinit.ErrMissingExec},
		{"blank exec", "[service]\nname = \"z\"\nexec = \"  \"\n", 3, "exec", zinit.ErrMissingExec},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := zinit.ParseLegacy("f.toml", []byte(c.data))
			var ce *zinit.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, "f.toml", ce.File)
			assert.Equal(t, c.line, ce.Line)
			assert.Equal(t, c.key, ce.Key)
			assert.ErrorIs(t, err, c.is)
		})
	}
}

func TestTOMLKeyLines(t *testing.T) {
	data := "# c\n[a]\nx = 1\n\"quoted key\" = '''\nmulti = 2\n'''\n[ b . c ]\nt = { k = 1, \"l\" = 2 }\n"
	assert.Equal(t, map[string]int{
		"a": 2, "a.x": 3, "a.quoted key": 4, "b.c": 7, "b.c.t": 8, "b.c.t.k": 8, "b.c.t.l": 8,
	}, zinit.TOMLKeyLines([]byte(data)))
}
