package runtime_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

	"github.com/zchaos/zchaos/chaos/chaostest"
	"github.com/zchaos/zchaos/chaos/internal/procfs"
	"github.com/zchaos/zchaos/chaos/runtime"
)

const demoProbe = `echo '{"jsonrpc":"2.0","method":"server.health","id":1}' | socat - UNIX-CONNECT:/root/hero/var/sockets/hero_demo_server.sock`

// TestLocalRuntime builds the binaries once for its subtests.
func TestLocalRuntime(t *testing.T) {
	if dir := os.Getenv("ZCHAOS_TEST_LOCAL_ORPHAN_DIR"); dir != "" {
		orphanChild(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("builds the binaries; not a -short test")
	}
	img := chaostest.LocalImage(t)
	t.Run("zinit and fleet", func(t *testing.T) { testLocalZinitAndFleet(t, img) })
	t.Run("cleanup after killed harness", func(t *testing.T) { testLocalCleanupAfterKilledHarness(t, img) })
	t.Run("dead-man switch after killed harness", func(t *testing.T) { testLocalDeadManAfterKilledHarness(t, img) })
	t.Run("keep disarms the dead-man switch", func(t *testing.T) { testLocalKeep(t, img) })
}

func testLocalZinitAndFleet(t *testing.T, img string) {
	rt := chaostest.LocalRuntime(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := rt.Start(ctx, runtime.StartOptions{Image: img, Name: "lc", RunID: "local-1",
		Files: map[string][]byte{"/opt/hello.txt": []byte("hi\n")}})
	require.NoError(t, err)

	res, err := c.Exec(ctx, []string{"cat", "/opt/hello.txt"}, nil)
	require.NoError(t, err)
	assert.Equal(t, "hi\n", string(res.Stdout))

	// zinit (found on the container's PATH, talking to its socket) loaded
	// the fleet, whose in-image paths were mapped under the root.
	var list []map[string]any
	require.Eventually(t, func() bool {
		res, err := c.Exec(ctx, []string{"zinit", "list", "--json"}, nil)
		return err == nil && res.ExitCode == 0 && json.Unmarshal(res.Stdout, &list) == nil && len(list) == 1
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, "user.hero_demo_server", list[0]["name"])
	require.Eventually(t, func() bool {
		res, err := c.Exec(ctx, []string{"sh", "-c", demoProbe}, nil)
		return err == nil && bytes.Contains(res.Stdout, []byte(`"status":"ok"`))
	}, 10*time.Second, 20*time.Millisecond, "the fleet's herosim answers the seed's probe")

	res, err = c.Exec(ctx, []string{"sh", "-c", "exit 4"}, strings.NewReader(""))
	require.NoError(t, err)
	assert.Equal(t, 4, res.ExitCode)

	// Stream: output as it comes; Close ends the process.
	rc, err := c.Stream(ctx, []string{"sh", "-c", "echo first; exec sleep 60"})
	require.NoError(t, err)
	line, err := bufio.NewReader(rc).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "first\n", line)
	done := make(chan struct{})
	go func() { rc.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("closing the stream did not end it")
	}

	// Restart: zinit comes back in the same root; files survive.
	require.NoError(t, c.Restart(ctx, 5*time.Second))
	res, err = c.Exec(ctx, []string{"zinit", "list", "--json"}, nil)
	require.NoError(t, err)
	assert.Equal(t, 0, res.ExitCode, "%s", res.Stderr)
	res, err = c.Exec(ctx, []string{"cat", "/opt/hello.txt"}, nil)
	require.NoError(t, err)
	assert.Equal(t, "hi\n", string(res.Stdout))

	// Signal SIGTERM: zinit shuts down (its socket goes away).
	require.NoError(t, c.Signal(ctx, syscall.SIGTERM))
	require.Eventually(t, func() bool {
		res, err := c.Exec(ctx, []string{"zinit", "--timeout", "1s", "list"}, nil)
		return err == nil && res.ExitCode != 0
	}, 20*time.Second, 50*time.Millisecond)

	require.NoError(t, c.Remove(ctx))
	require.NoError(t, c.Remove(ctx))
}

// orphanChild is the child side: start a local container, say so, and
// wait to be killed.
func orphanChild(t *testing.T, dir string) {
	rt, err := runtime.NewLocalRuntime(dir)
	require.NoError(t, err)
	opts := runtime.StartOptions{Image: os.Getenv("ZCHAOS_TEST_LOCAL_ORPHAN_IMAGE"), Name: "orphan", RunID: "lorphan"}
	if os.Getenv("ZCHAOS_TEST_LOCAL_ORPHAN_DEADMAN") == "1" {
		opts.DeadMan = deadMan()
	}
	c, err := rt.Start(context.Background(), opts)
	require.NoError(t, err)
	// A process started outside zinit's tree, detached from every group
	// (like the agent's crash-loop killer): Cleanup must find it too.
	res, err := c.Exec(context.Background(), []string{"sh", "-c", "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!"}, nil)
	require.NoError(t, err)
	fmt.Printf("DETACHED %s\n", bytes.TrimSpace(res.Stdout))
	fmt.Printf("ORPHAN %s\n", c.Name())
	select {}
}

// testLocalCleanupAfterKilledHarness: a child starts a local container
// with no dead-man switch and is SIGKILLed; Cleanup kills the orphaned
// zinit, its services and what it detached.
func testLocalCleanupAfterKilledHarness(t *testing.T, img string) {
	dir, err := os.MkdirTemp("", "zl")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	child := exec.Command(os.Args[0], "-test.run=^TestLocalRuntime$")
	child.Env = append(os.Environ(), "ZCHAOS_TEST_LOCAL_ORPHAN_DIR="+dir, "ZCHAOS_TEST_LOCAL_ORPHAN_IMAGE="+img)
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
	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	_ = child.Wait()
	require.True(t, started)
	require.Positive(t, detached)
	require.True(t, alive(detached), "the detached process survives its harness")

	var st struct {
		PID int `json:"pid"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "orphan.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &st))
	require.NoError(t, syscall.Kill(st.PID, 0), "without a dead-man switch the orphaned zinit survives its harness")
	// Its herosim service appears under it.
	var svcPid int
	require.Eventually(t, func() bool {
		svcPid = descendantNamed(st.PID, "hero_demo_serv")
		return svcPid > 0
	}, 10*time.Second, 20*time.Millisecond)

	rt := chaostest.LocalRuntime(t, dir)
	names, err := rt.Cleanup(context.Background(), "lorphan")
	require.NoError(t, err)
	assert.Equal(t, []string{"orphan"}, names)
	for _, pid := range []int{st.PID, svcPid, detached} {
		require.Eventually(t, func() bool { return !alive(pid) }, 5*time.Second, 10*time.Millisecond, "pid %d", pid)
	}
	_, err = os.Stat(filepath.Join(dir, "orphan"))
	assert.True(t, os.IsNotExist(err), "root removed")
}

// alive says whether pid exists and is not a zombie.
func alive(pid int) bool {
	st, err := procfs.ReadStat("/proc", pid)
	return err == nil && st.State != 'Z'
}

// descendantNamed finds a descendant of pid whose comm starts with name.
func descendantNamed(pid int, name string) int {
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	comm := map[int]string{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := procfs.ReadStat("/proc", p); err == nil {
			parent[p], comm[p] = st.PPID, st.Comm
		}
	}
	for p, c := range comm {
		if !strings.HasPrefix(c, name) {
			continue
		}
		for a := parent[p]; a > 1; a = parent[a] {
			if a == pid {
				return p
			}
		}
	}
	return 0
}
