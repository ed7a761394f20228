package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/zinit"
	"github.com/zchaos/zchaos/zinit/supervisor"
	"github.com/zchaos/zchaos/zinit/zinittest"
)

// syncBuffer is the daemon's stderr, read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestEndToEndDegradedState: the real daemon boots on a truncated
// services.json and a broken *.toml. It restores what it can, moves the
// state file aside byte for byte, and says so on stderr and through
// `zinit status`; a persisted add or remove is refused with one line naming
// the file; `zinit reload` lists the skipped file with file:line and exits
// 2; `zinit persist resume` makes persistence writable again.
func TestEndToEndDegradedState(t *testing.T) {
	dir := zinittest.SocketDir(t)
	state, config := filepath.Join(dir, "state"), filepath.Join(dir, "etc")
	require.NoError(t, os.MkdirAll(state, 0o755))
	require.NoError(t, os.MkdirAll(config, 0o755))
	full := `{"version": 1, "services": [{"service": {"name": "alpha", "persist": true}, "jobs": []}, ` +
		`{"service": {"name": "beta", "persist": true}, "jobs": []}, {"service": {"name": "gam`
	stateFile := filepath.Join(state, supervisor.StateFileName)
	require.NoError(t, os.WriteFile(stateFile, []byte(full), 0o600))
	broken := filepath.Join(config, "broken.toml")
	require.NoError(t, os.WriteFile(broken, []byte("[service]\nname = \"x\"\nexec = = \"oops\"\n"), 0o600))

	var stderr syncBuffer
	sup := zinittest.StartSupervisor(t, supervisor.Config{StateDir: state, ConfigDir: config, Log: &stderr})
	env := map[string]string{"ZINIT_SOCKET": sup.Socket}

	moved, err := filepath.Glob(stateFile + ".corrupt-*")
	require.NoError(t, err)
	require.Len(t, moved, 1)
	kept, err := os.ReadFile(moved[0])
	require.NoError(t, err)
	assert.Equal(t, full, string(kept), "nothing lost")
	assert.Contains(t, stderr.String(), "persistence is read-only")
	assert.Contains(t, stderr.String(), moved[0])

	r := runCLI(t, env, "status", "--json")
	require.Equal(t, 0, r.code, r.errOut)
	var st zinit.SystemStatus
	require.NoError(t, json.Unmarshal([]byte(r.out), &st))
	assert.True(t, st.Degraded)
	assert.Equal(t, zinit.PersistStatus{
		Mode: zinit.PersistReadOnly, File: stateFile, MovedTo: moved[0], Restored: []string{"alpha", "beta"},
		NotRestored: []zinit.StateProblem{{Entry: "file", Reason: "truncated or malformed at services[2]: unexpected EOF"}},
	}, st.Persistence)
	assert.Equal(t, []zinit.SkippedFile{{File: broken, Line: 3, Reason: "service.exec: malformed: toml: expected value but found '=' instead"}},
		st.ConfigSkipped)
	r = runCLI(t, env, "status")
	require.Equal(t, 0, r.code, r.errOut)
	assert.Contains(t, r.out, "state:          degraded\n")
	assert.Contains(t, r.out, "  file: truncated or malformed at services[2]: unexpected EOF\n")

	// Read-only: refused in one line naming the file; nothing changes.
	for _, args := range [][]string{{"add", "service", "new", "--persist"}, {"remove", "service", "alpha"}} {
		r = runCLI(t, env, args...)
		assert.Equal(t, 2, r.code, "%q", args)
		assert.Equal(t, 1, strings.Count(r.errOut, "\n"), r.errOut)
		assert.Contains(t, r.errOut, "persistence is read-only: "+stateFile+" could not be restored in full at boot")
		assert.Contains(t, r.errOut, "(code -32002)")
	}
	r = runCLI(t, env, "list", "--json")
	require.Equal(t, 0, r.code, r.errOut)
	var list []zinit.ServiceStatus
	require.NoError(t, json.Unmarshal([]byte(r.out), &list))
	assert.Len(t, list, 2, "alpha kept, new not added: %s", r.out)
	_, err = os.Lstat(stateFile)
	assert.True(t, os.IsNotExist(err), "nothing written while read-only")

	r = runCLI(t, env, "reload")
	assert.Equal(t, 2, r.code)
	assert.Equal(t, "skipped: "+broken+":3: service.exec: malformed: toml: expected value but found '=' instead\n", r.out)
	assert.Equal(t, "zinit: reload: 1 config file(s) skipped, first "+broken+":3: service.exec: malformed: toml: expected value but found '=' instead\n", r.errOut)

	r = runCLI(t, env, "persist", "resume")
	require.Equal(t, 0, r.code, r.errOut)
	assert.Contains(t, r.out, "state:          ok\n")
	r = runCLI(t, env, "add", "service", "new", "--persist")
	require.Equal(t, 0, r.code, r.errOut)
	data, err := os.ReadFile(stateFile)
	require.NoError(t, err)
	for _, name := range []string{"alpha", "beta", "new"} {
		assert.Contains(t, string(data), `"name": "`+name+`"`)
	}
}
