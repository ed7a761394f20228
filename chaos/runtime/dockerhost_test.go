package runtime_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos/runtime"
)

// writeContext lays out a Docker context named name with host as its
// docker endpoint under cfgDir, as `docker context create` does.
func writeContext(t *testing.T, cfgDir, name, host string) {
	t.Helper()
	sum := sha256.Sum256([]byte(name))
	dir := filepath.Join(cfgDir, "contexts", "meta", hex.EncodeToString(sum[:]))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	meta := `{"Name":"` + name + `","Metadata":{"Description":"test"},"Endpoints":{"docker":{"Host":"` + host + `","SkipTLSVerify":false}}}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "meta.json"), []byte(meta), 0o644))
}

func writeConfig(t *testing.T, cfgDir, current string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(cfgDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "config.json"),
		[]byte(`{"auths":{},"currentContext":"`+current+`"}`), 0o600))
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestResolveDockerEndpoint(t *testing.T) {
	home := t.TempDir()
	cfg := filepath.Join(home, ".docker")
	writeConfig(t, cfg, "colima")
	writeContext(t, cfg, "colima", "unix:///home/u/.colima/default/docker.sock")
	writeContext(t, cfg, "remote", "tcp://10.0.0.5:2375")
	other := t.TempDir()
	writeConfig(t, other, "desktop-linux")
	writeContext(t, other, "desktop-linux", "unix:///home/u/.docker/desktop/docker.sock")

	for _, tc := range []struct {
		name string
		env  map[string]string
		home string
		want runtime.DockerEndpoint
	}{
		{"DOCKER_HOST wins over the context", map[string]string{"DOCKER_HOST": "tcp://runner:2376", "DOCKER_CONTEXT": "remote"}, home,
			runtime.DockerEndpoint{Host: "tcp://runner:2376", Source: "DOCKER_HOST", FromEnv: true}},
		{"current context of config.json", nil, home,
			runtime.DockerEndpoint{Host: "unix:///home/u/.colima/default/docker.sock", Source: `context "colima"`}},
		{"DOCKER_CONTEXT overrides currentContext", map[string]string{"DOCKER_CONTEXT": "remote"}, home,
			runtime.DockerEndpoint{Host: "tcp://10.0.0.5:2375", Source: `context "remote"`}},
		{"DOCKER_CONTEXT=default", map[string]string{"DOCKER_CONTEXT": "default"}, home,
			runtime.DockerEndpoint{Host: runtime.DefaultDockerHost, Source: "default"}},
		{"DOCKER_CONFIG moves the directory", map[string]string{"DOCKER_CONFIG": other}, home,
			runtime.DockerEndpoint{Host: "unix:///home/u/.docker/desktop/docker.sock", Source: `context "desktop-linux"`}},
		{"no config at all", nil, t.TempDir(),
			runtime.DockerEndpoint{Host: runtime.DefaultDockerHost, Source: "default"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runtime.ResolveDockerEndpoint(envOf(tc.env), tc.home)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}

	_, err := runtime.ResolveDockerEndpoint(envOf(map[string]string{"DOCKER_CONTEXT": "gone"}), home)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `docker context "gone"`)

	bad := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bad, "config.json"), []byte("{"), 0o600))
	_, err = runtime.ResolveDockerEndpoint(envOf(map[string]string{"DOCKER_CONFIG": bad}), home)
	assert.ErrorContains(t, err, "config.json")
}

// fakeEngine answers the engine API's ping on a Unix socket, and counts
// the pings.
func fakeEngine(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "engine.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	pings := new(atomic.Int32)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		if strings.HasSuffix(r.URL.Path, "/_ping") {
			pings.Add(1)
			_, _ = w.Write([]byte("OK"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ApiVersion":"1.41","Version":"27.0.0"}`))
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "unix://" + sock, pings
}

// The client is made for the current context's engine: a fake engine
// reachable only through the context answers the ping.
func TestNewDockerClientFollowsTheContext(t *testing.T) {
	host, pings := fakeEngine(t)
	home := t.TempDir()
	writeConfig(t, filepath.Join(home, ".docker"), "laptop")
	writeContext(t, filepath.Join(home, ".docker"), "laptop", host)
	t.Setenv("HOME", home)
	for _, k := range []string{"DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"} {
		t.Setenv(k, "")
		require.NoError(t, os.Unsetenv(k))
	}
	cl, err := runtime.NewDockerClient(context.Background())
	require.NoError(t, err)
	assert.Equal(t, host, cl.Endpoint())
	assert.Equal(t, int32(1), pings.Load())

	// DOCKER_HOST still wins: a dead socket there is an error naming it.
	dead := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	t.Setenv("DOCKER_HOST", dead)
	_, err = runtime.NewDockerClient(context.Background())
	assert.True(t, errors.Is(err, runtime.ErrNoEngine), "%v", err)
	assert.ErrorContains(t, err, dead+" (DOCKER_HOST)")

	t.Setenv("DOCKER_HOST", "ssh://me@box")
	_, err = runtime.NewDockerClient(context.Background())
	assert.ErrorContains(t, err, "ssh endpoints are not supported")
}
