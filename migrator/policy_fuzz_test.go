package migrator_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/zinit"
)

// FuzzParsePolicy: the policy loader never panics on any bytes, YAML or
// TOML; a refusal is a *zinit.ConfigError naming the file and wrapping
// ErrPolicy; what it accepts validates, names its file and has a socket
// dir and an HTTP host.
func FuzzParsePolicy(f *testing.F) {
	conv, err := os.ReadFile(filepath.Join("testdata", "policy", "convention.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(conv, false)
	for _, seed := range []struct {
		body string
		toml bool
	}{
		{"defaults:\n  restart: always\n  restart_delay_ms: 250\n", false},
		{"services:\n  user.a: {socket: /run/a.sock, interval_ms: 1000, timeout_ms: 500}\n", false},
		{"derive_socket: false\npersist: false\nhttp_host: 127.0.0.1\n", false},
		{"defaults: {restart: sometimes}\n", false},
		{"defaults: {max_restarts: -1}\n", false},
		{"bogus: 1\n", false},
		{"a: &a [*a]\n", false},
		{"", false},
		{"[defaults]\nrestart = \"on-failure\"\nrestart_delay_ms = 5000\n", true},
		{"[services.\"user.a\"]\nport = 8080\n", true},
		{"[defaults]\nunknown = 1\n", true},
		{"[defaults\n", true},
		{"socket_dir = 5\n", true},
		{"", true},
	} {
		f.Add([]byte(seed.body), seed.toml)
	}
	f.Fuzz(func(t *testing.T, data []byte, isTOML bool) {
		file := "fuzz.yaml"
		if isTOML {
			file = "fuzz.toml"
		}
		p, err := migrator.ParsePolicy(file, data)
		if err != nil {
			var ce *zinit.ConfigError
			if !errors.As(err, &ce) || ce.File != file || !errors.Is(err, migrator.ErrPolicy) {
				t.Fatalf("ParsePolicy(%s, %q): %v is not a ConfigError of the file wrapping ErrPolicy", file, data, err)
			}
			return
		}
		if verr := p.Validate(); verr != nil {
			t.Fatalf("ParsePolicy(%s, %q) accepted an invalid policy: %v", file, data, verr)
		}
		if p.File != file || p.SocketDir == "" || p.HTTPHost == "" {
			t.Fatalf("ParsePolicy(%s, %q): file %q, socket dir %q, http host %q", file, data, p.File, p.SocketDir, p.HTTPHost)
		}
	})
}
