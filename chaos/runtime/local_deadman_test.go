package runtime_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/chaostest"
	"github.com/zchaos/zchaos/chaos/runtime"
)

// testLocalDeadManAfterKilledHarness: a child starts a local container
// with its dead-man switch, detaches a process in it, and is SIGKILLed;
// within the grace plus 10 s no process of the container is left.
func testLocalDeadManAfterKilledHarness(t *testing.T, img string) {
	dir, err := os.MkdirTemp("", "zl")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	child := exec.Command(os.Args[0], "-test.run=^TestLocalRuntime$")
	child.Env = append(os.Environ(), "ZCHAOS_TEST_LOCAL_ORPHAN_DIR="+dir, "ZCHAOS_TEST_LOCAL_ORPHAN_IMAGE="+img,
		"ZCHAOS_TEST_LOCAL_ORPHAN_DEADMAN=1")
	out, err := child.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, child.Start())
	sc := bufio.NewScanner(out)
	started, detached := false, 0
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "DETACHED "); ok {
			detached, _ = strconv.Atoi(p)
		}
		if strings.HasPrefix(sc.Text(), "ORPHAN ") {
			started = true
			break
		}
	}
	root := filepath.Join(dir, "orphan")
	t.Cleanup(func() { // whatever a failure left
		for _, pid := range rootPids(root) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	require.True(t, started)
	require.Positive(t, detached)
	before := rootPids(root)
	require.Contains(t, before, detached)
	require.GreaterOrEqual(t, len(before), 3, "zinit, the switch, the detached process: %v", before)

	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	_ = child.Wait()
	killed := time.Now()
	require.Eventually(t, func() bool { return len(rootPids(root)) == 0 }, agent.DeadmanGrace+10*time.Second, 20*time.Millisecond,
		"every process of the container ends: %v left", rootPids(root))
	t.Logf("harness killed → no process of the container left: %v (grace %v)", time.Since(killed).Round(10*time.Millisecond), agent.DeadmanGrace)
	log, _ := os.ReadFile(filepath.Join(root, "deadman.log"))
	assert.Contains(t, string(log), "stopping the local container at "+root, "the switch says what it did")
}

// testLocalKeep: a kept container's switch ends without acting, and its
// zinit runs on, out of RemoveAll's reach.
func testLocalKeep(t *testing.T, img string) {
	rt := chaostest.LocalRuntime(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := rt.Start(ctx, runtime.StartOptions{Image: img, Name: "kept", RunID: "local-keep", DeadMan: deadMan()})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, c.Remove(context.Background())) })
	// The path is mapped under the container's root: only its own switch
	// matches, whatever else runs on this host.
	mine := []string{"pgrep", "-f", agent.Path + " agent deadman"}
	res, err := c.Exec(ctx, mine, nil)
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode, "armed")

	require.NoError(t, c.Keep(ctx))
	res, err = c.Exec(ctx, mine, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, res.ExitCode, "the disarmed switch ended: %s", res.Stdout)
	require.NoError(t, rt.RemoveAll(ctx))
	res, err = c.Exec(ctx, []string{"zinit", "list"}, nil)
	require.NoError(t, err)
	assert.Equal(t, 0, res.ExitCode, "the kept container's zinit still answers: %s", res.Stderr)
}

// rootPids lists the live processes whose environment names root as
// their local container.
func rootPids(root string) []int {
	ents, _ := os.ReadDir("/proc")
	want := []byte("ZCHAOS_LOCAL_ROOT=" + root + "\x00")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || !alive(pid) {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && (bytes.HasPrefix(env, want) || bytes.Contains(env, append([]byte{0}, want...))) {
			out = append(out, pid)
		}
	}
	return out
}
