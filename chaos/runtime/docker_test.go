package runtime_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ory/dockertest/v3/docker"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos/chaostest"
	"github.com/zchaos/zchaos/chaos/runtime"
)

func TestDockerImageBuildIsCachedAndWellFormed(t *testing.T) {
	rt := chaostest.Docker(t)
	ref := chaostest.Image(t)
	assert.True(t, strings.HasPrefix(ref, runtime.HeroRepo+":"), ref)

	img, err := rt.Client().InspectImage(ref)
	require.NoError(t, err)
	assert.Equal(t, []string{runtime.ImageZinitPath, "init"}, img.Config.Entrypoint)
	assert.Contains(t, img.Config.Env, "ZINIT_SOCKET="+runtime.ImageZinitSocket)
	assert.Empty(t, img.Config.Labels[runtime.LabelTool], "containers inherit image labels: the image must not carry the cleanup label")

	// The base is cached by its recipe: a second BuildBase is a cache hit.
	var log bytes.Buffer
	base, err := runtime.BuildBase(context.Background(), runtime.BaseOptions{Progress: &log})
	require.NoError(t, err)
	assert.Equal(t, runtime.BaseOptions{}.Ref(), base)
	assert.Contains(t, log.String(), "cached")
}

func startTest(t *testing.T, rt *runtime.DockerRuntime, opts runtime.StartOptions) runtime.Container {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := rt.Start(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, c.Remove(context.Background())) })
	return c
}

func TestDockerContainerLifecycle(t *testing.T) {
	rt := chaostest.Docker(t)
	ref := chaostest.Image(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	runID := fmt.Sprintf("lifecycle-%d", os.Getpid())
	c := startTest(t, rt, runtime.StartOptions{Image: ref, RunID: runID,
		Files: map[string][]byte{"/opt/zc/hello.txt": []byte("hello\n")}})

	// Labels, no network, no privileges, no docker-init.
	ins, err := rt.Client().InspectContainerWithContext(c.ID(), ctx)
	require.NoError(t, err)
	assert.Equal(t, runID, ins.Config.Labels[runtime.LabelRun])
	assert.Equal(t, "1", ins.Config.Labels[runtime.LabelTool])
	assert.Equal(t, "none", ins.HostConfig.NetworkMode)
	assert.False(t, ins.HostConfig.Privileged)
	assert.True(t, ins.State.Running)

	// Files placed before start; exec output demuxed; exit codes.
	res, err := c.Exec(ctx, []string{"cat", "/opt/zc/hello.txt"}, nil)
	require.NoError(t, err)
	assert.Equal(t, runtime.ExecResult{Stdout: []byte("hello\n"), Stderr: nil, ExitCode: 0}, normalise(res))
	res, err = c.Exec(ctx, []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, nil)
	require.NoError(t, err)
	assert.Equal(t, runtime.ExecResult{Stdout: []byte("out\n"), Stderr: []byte("err\n"), ExitCode: 3}, normalise(res))
	res, err = c.Exec(ctx, []string{"cat"}, strings.NewReader("from stdin"))
	require.NoError(t, err)
	assert.Equal(t, "from stdin", string(res.Stdout))

	// zinit is PID 1 (no docker --init, no shell entrypoint).
	res, err = c.Exec(ctx, []string{"cat", "/proc/1/cmdline"}, nil)
	require.NoError(t, err)
	assert.Equal(t, runtime.ImageZinitPath+"\x00init\x00", string(res.Stdout))

	// CopyIn into a running container.
	require.NoError(t, c.CopyIn(ctx, map[string][]byte{"/root/hero/bin/script.sh": []byte("#!/bin/sh\necho copied\n")}))
	res, err = c.Exec(ctx, []string{"/root/hero/bin/script.sh"}, nil)
	require.NoError(t, err)
	assert.Equal(t, "copied\n", string(res.Stdout))

	// Stream a long-running herosim, probe it the seed's way, then stop it.
	const sock = "/tmp/streamed.sock"
	sctx, scancel := context.WithCancel(ctx)
	rc, err := c.Stream(sctx, []string{"sh", "-c", "echo streaming; exec herosim serve --name streamed --socket " + sock})
	require.NoError(t, err)
	line, err := bufio.NewReader(rc).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "streaming\n", line)
	probe := `echo '{"jsonrpc":"2.0","method":"server.health","id":1}' | socat - UNIX-CONNECT:` + sock
	require.Eventually(t, func() bool {
		res, err := c.Exec(ctx, []string{"sh", "-c", probe}, nil)
		return err == nil && res.ExitCode == 0 && bytes.Contains(res.Stdout, []byte(`"status":"ok"`))
	}, 10*time.Second, 50*time.Millisecond)
	scancel()
	require.NoError(t, rc.Close())
	require.Eventually(t, func() bool {
		// herosim removes its socket only on a clean SIGTERM exit.
		res, err := c.Exec(ctx, []string{"test", "-e", sock}, nil)
		return err == nil && res.ExitCode == 1
	}, 10*time.Second, 50*time.Millisecond, "cancelling the stream ends its process with SIGTERM")
	res, err = c.Exec(ctx, []string{"pgrep", "-f", "name streamed"}, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, res.ExitCode, "no herosim left: %s", res.Stdout)

	// Restart brings it back with its filesystem (auto-remove does not
	// take a restarted container).
	require.NoError(t, c.Restart(ctx, 2*time.Second))
	res, err = c.Exec(ctx, []string{"cat", "/opt/zc/hello.txt"}, nil)
	require.NoError(t, err)
	assert.Equal(t, "hello\n", string(res.Stdout))

	logs, err := c.Logs(ctx)
	require.NoError(t, err)
	_ = logs // content belongs to zinit; fetching must work

	// Signal PID 1: SIGTERM ends the container, and auto-remove removes it.
	assert.True(t, ins.HostConfig.AutoRemove)
	require.NoError(t, c.Signal(ctx, syscall.SIGTERM))
	var nsc *docker.NoSuchContainer
	require.Eventually(t, func() bool {
		_, err := rt.Client().InspectContainerWithContext(c.ID(), ctx)
		return errors.As(err, &nsc)
	}, 30*time.Second, 50*time.Millisecond)

	// Remove is idempotent, also on a container that removed itself.
	require.NoError(t, c.Remove(ctx))
	require.NoError(t, c.Remove(ctx))
	_, err = rt.Client().InspectContainerWithContext(c.ID(), ctx)
	assert.ErrorAs(t, err, &nsc)
}

func normalise(r runtime.ExecResult) runtime.ExecResult {
	if len(r.Stdout) == 0 {
		r.Stdout = nil
	}
	if len(r.Stderr) == 0 {
		r.Stderr = nil
	}
	return r
}

func TestDockerZinitListInside(t *testing.T) {
	rt := chaostest.Docker(t)
	ref := chaostest.Image(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := startTest(t, rt, runtime.StartOptions{Image: ref, RunID: "zinit-list"})
	var res runtime.ExecResult
	require.Eventually(t, func() bool {
		var err error
		res, err = c.Exec(ctx, []string{"zinit", "list", "--json"}, nil)
		return err == nil && res.ExitCode == 0
	}, 20*time.Second, 50*time.Millisecond)
	var list []map[string]any
	require.NoError(t, json.Unmarshal(res.Stdout, &list), "%s", res.Stdout)
	var names []string
	for _, s := range list {
		names = append(names, fmt.Sprint(s["name"]))
	}
	assert.Contains(t, names, "user.hero_demo_server", "the fleet fixture in /etc/zinit is loaded")
}

// TestDockerCleanupAfterKilledHarness starts a container from a child
// process (this test binary, re-executed), SIGKILLs the child so nothing
// of it can clean up, and checks that Cleanup finds and removes the orphan.
func TestDockerCleanupAfterKilledHarness(t *testing.T) {
	if runID := os.Getenv("ZCHAOS_TEST_ORPHAN_RUN"); runID != "" {
		// Child: start a container, say so, then wait to be killed.
		rt := chaostest.Docker(t)
		c, err := rt.Start(context.Background(), runtime.StartOptions{Image: os.Getenv("ZCHAOS_TEST_ORPHAN_IMAGE"), RunID: runID})
		require.NoError(t, err)
		fmt.Printf("ORPHAN %s\n", c.Name())
		select {}
	}
	rt := chaostest.Docker(t)
	ref := chaostest.Image(t)
	runID := fmt.Sprintf("orphan-%d", os.Getpid())
	child := exec.Command(os.Args[0], "-test.run=^TestDockerCleanupAfterKilledHarness$", "-test.v")
	child.Env = append(os.Environ(), "ZCHAOS_TEST_ORPHAN_RUN="+runID, "ZCHAOS_TEST_ORPHAN_IMAGE="+ref)
	out, err := child.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, child.Start())
	var name string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "ORPHAN "); ok {
			name = n
			break
		}
	}
	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	_ = child.Wait()
	require.NotEmpty(t, name, "child did not start a container")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Another run's cleanup does not touch it.
	other, err := rt.Cleanup(ctx, runID+"-other")
	require.NoError(t, err)
	assert.Empty(t, other)
	removed, err := rt.Cleanup(ctx, runID)
	require.NoError(t, err)
	assert.Equal(t, []string{name}, removed)
	list, err := rt.Client().ListContainers(docker.ListContainersOptions{All: true, Filters: map[string][]string{"label": {runtime.LabelRun + "=" + runID}}, Context: ctx})
	require.NoError(t, err)
	assert.Empty(t, list)
}

func TestDockerRemoveAllAfterCancel(t *testing.T) {
	rt := chaostest.Docker(t)
	ref := chaostest.Image(t)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := rt.Start(ctx, runtime.StartOptions{Image: ref, RunID: "removeall"})
	require.NoError(t, err)
	cancel() // as on SIGINT
	require.NoError(t, rt.RemoveAll(ctx))
	_, err = rt.Client().InspectContainer(c.ID())
	var nsc *docker.NoSuchContainer
	assert.ErrorAs(t, err, &nsc)
}
