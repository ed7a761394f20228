package runtime_test

import (
	"bufio"
	"bytes"
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
