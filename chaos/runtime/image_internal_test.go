package runtime

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBaseRefIsARecipeHash(t *testing.T) {
	def := BaseOptions{}.Ref()
	assert.Regexp(t, `^zchaos/base:[0-9a-f]{16}$`, def)
	assert.Equal(t, def, BaseOptions{Suite: "bookworm", Variant: "minbase", Packages: []string{"procps", "curl", "socat"}}.Ref(),
		"defaults spelled out, packages in any order: same recipe")
	assert.Equal(t, def, BaseOptions{NoCache: true}.Ref(), "NoCache is not part of the recipe")
	assert.NotEqual(t, def, BaseOptions{Mirror: "http://example.org/debian"}.Ref())
	assert.NotEqual(t, def, BaseOptions{Packages: []string{"socat", "curl"}}.Ref())
	assert.NotEqual(t, def, BaseOptions{Suite: "trixie"}.Ref())
}

func fakeBinaries(t *testing.T) Binaries {
	dir := t.TempDir()
	b := Binaries{Zinit: filepath.Join(dir, "zinit"), Herosim: filepath.Join(dir, "herosim"), Agent: filepath.Join(dir, "zchaos")}
	for _, p := range []string{b.Zinit, b.Herosim, b.Agent} {
		require.NoError(t, os.WriteFile(p, []byte("binary "+filepath.Base(p)), 0o755))
	}
	return b
}

func readTar(t *testing.T, b []byte) map[string]*tar.Header {
	out := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out[h.Name] = h
	}
}

func TestHeroContextLayoutAndHash(t *testing.T) {
	bins := fakeBinaries(t)
	fleet := fstest.MapFS{"a.toml": {Data: []byte("[service]\n")}, "sub/b.toml": {Data: []byte("x")}}
	opts := ImageOptions{Binaries: bins, Fleet: fleet, HeroBins: []string{"hero_x_server"}}
	ctxTar, sum, err := heroContext("zchaos/base:0123456789abcdef", "", opts)
	require.NoError(t, err)

	files := readTar(t, ctxTar)
	for _, want := range []string{"Dockerfile", "rootfs/usr/local/bin/zinit", "rootfs/usr/local/bin/herosim",
		"rootfs/usr/local/bin/zchaos", "rootfs/etc/zinit/a.toml", "rootfs/etc/zinit/sub/b.toml",
		"rootfs/root/hero/var/sockets/", "rootfs/var/lib/zinit/", "rootfs/root/hero/bin/hero_x_server"} {
		assert.Contains(t, files, want)
	}
	assert.Equal(t, "/usr/local/bin/herosim", files["rootfs/root/hero/bin/hero_x_server"].Linkname)
	assert.Equal(t, int64(0o755), files["rootfs/usr/local/bin/zinit"].Mode)

	df := Dockerfile("zchaos/base:0123456789abcdef")
	assert.True(t, strings.HasPrefix(df, "FROM zchaos/base:0123456789abcdef\n"))
	assert.Contains(t, df, `ENTRYPOINT ["/usr/local/bin/zinit", "init"]`)
	assert.Contains(t, df, "ZINIT_SOCKET=/run/zinit.sock")
	assert.NotContains(t, df, "LABEL", "containers would inherit the cleanup label")

	// Same inputs, same hash and bytes; any input change, another hash.
	again, sum2, err := heroContext("zchaos/base:0123456789abcdef", "", opts)
	require.NoError(t, err)
	assert.Equal(t, sum, sum2)
	assert.Equal(t, ctxTar, again)
	_, other, err := heroContext("zchaos/base:ffffffffffffffff", "", opts)
	require.NoError(t, err)
	assert.NotEqual(t, sum, other, "base changes the hash")
	require.NoError(t, os.WriteFile(bins.Herosim, []byte("binary herosim v2"), 0o755))
	_, other, err = heroContext("zchaos/base:0123456789abcdef", "", opts)
	require.NoError(t, err)
	assert.NotEqual(t, sum, other, "a binary changes the hash")
	opts.Fleet = fstest.MapFS{"a.toml": {Data: []byte("[service]\n#")}}
	_, other2, err := heroContext("zchaos/base:0123456789abcdef", "", opts)
	require.NoError(t, err)
	assert.NotEqual(t, other, other2, "the fleet changes the hash")
	_, withID, err := heroContext("zchaos/base:0123456789abcdef", "sha256:aa", opts)
	require.NoError(t, err)
	_, otherID, err := heroContext("zchaos/base:0123456789abcdef", "sha256:bb", opts)
	require.NoError(t, err)
	assert.NotEqual(t, other2, withID, "a --base image's ID changes the hash")
	assert.NotEqual(t, withID, otherID, "a --base tag moved to other content changes the hash")

	_, _, err = heroContext("b", "", ImageOptions{Binaries: Binaries{Zinit: bins.Zinit}})
	assert.Error(t, err, "every binary is required")
}

func TestTarFilesCreatesParents(t *testing.T) {
	b, err := tarEntries(map[string][]byte{"/run/zchaos/spec.json": []byte("{}"), "/usr/local/bin/zchaos": []byte("x")},
		map[string]string{"/root/hero/bin/hero_x": "/usr/local/bin/herosim"})
	require.NoError(t, err)
	files := readTar(t, b)
	for _, want := range []string{"run/", "run/zchaos/", "run/zchaos/spec.json", "usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/zchaos"} {
		assert.Contains(t, files, want)
	}
	assert.Equal(t, int64(2), files["run/zchaos/spec.json"].Size)
	require.Contains(t, files, "root/hero/bin/hero_x")
	assert.Equal(t, byte(tar.TypeSymlink), files["root/hero/bin/hero_x"].Typeflag)
	assert.Equal(t, "/usr/local/bin/herosim", files["root/hero/bin/hero_x"].Linkname)
	_, err = tarEntries(map[string][]byte{"relative": nil}, nil)
	assert.Error(t, err)
	_, err = tarEntries(nil, map[string]string{"relative": "/x"})
	assert.Error(t, err)
}

func TestLocalMapPaths(t *testing.T) {
	c := &localContainer{root: "/tmp/zl/c1"}
	for in, want := range map[string]string{
		"/usr/local/bin/herosim serve --socket /root/hero/var/sockets/a.sock": "/tmp/zl/c1/usr/local/bin/herosim serve --socket /tmp/zl/c1/root/hero/var/sockets/a.sock",
		"socat - UNIX-CONNECT:/root/hero/var/sockets/a.sock":                  "socat - UNIX-CONNECT:/tmp/zl/c1/root/hero/var/sockets/a.sock",
		"ZINIT_SOCKET=/run/zinit.sock":                                        "ZINIT_SOCKET=/tmp/zl/c1/run/zinit.sock",
		"/etc/zinit":                                                          "/tmp/zl/c1/etc/zinit",
		"/etc/passwd /bin/sh /proc/1/stat":                                    "/etc/passwd /bin/sh /proc/1/stat",
		"/rooted /runner x/run":                                               "/rooted /runner x/run",
		`echo '{"a":1}' > /tmp/x`:                                             `echo '{"a":1}' > /tmp/zl/c1/tmp/x`,
		"--socket /tmp/zl/c1/root/hero/var/sockets/a.sock --aside /tmp/zl/c1": "--socket /tmp/zl/c1/root/hero/var/sockets/a.sock --aside /tmp/zl/c1",
		"/tmp/zl/c10/root /tmp/zl/c1x":                                        "/tmp/zl/c1/tmp/zl/c10/root /tmp/zl/c1/tmp/zl/c1x",
	} {
		assert.Equal(t, want, c.mapPaths(in), in)
	}
}

type fakeContainer struct {
	id      string
	removed int
	err     error
}

func (f *fakeContainer) ID() string   { return f.id }
func (f *fakeContainer) Name() string { return "n-" + f.id }
func (f *fakeContainer) Exec(context.Context, []string, io.Reader) (ExecResult, error) {
	return ExecResult{}, nil
}
func (f *fakeContainer) Stream(context.Context, []string) (io.ReadCloser, error) { return nil, nil }
func (f *fakeContainer) CopyIn(context.Context, map[string][]byte) error         { return nil }
func (f *fakeContainer) Signal(context.Context, syscall.Signal) error            { return nil }
func (f *fakeContainer) Restart(context.Context, time.Duration) error            { return nil }
func (f *fakeContainer) Logs(context.Context) ([]byte, error)                    { return nil, nil }
func (f *fakeContainer) Remove(context.Context) error                            { f.removed++; return f.err }
func (f *fakeContainer) Keep(context.Context) error                              { return nil }

func TestTrackerRemoveAll(t *testing.T) {
	var tr Tracker
	a, b, kept := &fakeContainer{id: "a"}, &fakeContainer{id: "b", err: errors.New("boom")}, &fakeContainer{id: "k"}
	tr.Add(a)
	tr.Add(b)
	tr.Add(kept)
	tr.Forget("k")
	assert.Equal(t, []Container{a, b}, tr.Live())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := tr.RemoveAll(ctx)
	assert.ErrorContains(t, err, "boom")
	assert.Equal(t, 1, a.removed)
	assert.Equal(t, 1, b.removed)
	assert.Equal(t, 0, kept.removed)
	assert.Empty(t, tr.Live())
	assert.NoError(t, tr.RemoveAll(ctx), "nothing left")
}
