package supervisor

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/zchaos/zchaos/zinit"
)

// goodState is a state file of three services; alpha has a start job.
const goodState = `{
  "version": 1,
  "services": [
    {"service": {"name": "alpha", "persist": true}, "jobs": [{"service": "alpha", "name": "main", "exec": "serve", "trigger": "start", "restart": "always", "persist": true}]},
    {"service": {"name": "beta", "persist": true}, "jobs": []},
    {"service": {"name": "gamma", "persist": true}, "jobs": []}
  ]
}
`

// corruptName is where a rig's boot moves a bad state file (the rig's
// clock reads t0).
const corruptName = StateFileName + ".corrupt-20260313T120000Z"

func stateRig(t *testing.T) (*rig, string) {
	state := t.TempDir()
	return newRig(t, func(o *Options) { o.StateDir = state }), state
}

func names(list []zinit.ServiceStatus) []string {
	out := []string{}
	for _, s := range list {
		out = append(out, s.Name)
	}
	return out
}

// TestBadStateFileMovedAside: every kind of unusable services.json is moved
// aside byte for byte, never dropped; what can be read is restored, what
// cannot is listed; the daemon reports a degraded state, and persistence is
// read-only (a persisted add or remove is refused with one line naming the
// file) until an operator acts.
func TestBadStateFileMovedAside(t *testing.T) {
	cases := []struct {
		name     string
		make     func(t *testing.T, path string) // writes the bad file
		restored []string
		problems []wantProblem
	}{
		{"truncated", writeState(goodState[:strings.Index(goodState, `"gamma"`)+3]), []string{"alpha", "beta"},
			[]wantProblem{{"file", "truncated or malformed at services[2]: unexpected EOF"}}},
		{"garbage", writeState("\x00\x01 not json"), []string{},
			[]wantProblem{{"file", "not a JSON object (invalid character"}}},
		{"empty", writeState(""), []string{},
			[]wantProblem{{"file", "not a JSON object (EOF)"}}},
		{"wrong type", writeState(strings.Replace(goodState, `{"name": "beta", "persist": true}`, `{"name": 7}`, 1)), []string{"alpha", "gamma"},
			[]wantProblem{{"services[1]", "cannot unmarshal number"}}},
		{"unknown field", writeState(strings.Replace(goodState, `"name": "beta",`, `"name": "beta", "colour": "red",`, 1)), []string{"alpha", "gamma"},
			[]wantProblem{{`services[1] "beta"`, `unknown field "colour"`}}},
		{"newer version", writeState(strings.Replace(goodState, `"version": 1`, `"version": 2`, 1)), []string{},
			[]wantProblem{
				{"file", "version 2 is newer than this zinit reads (1): no entry restored"},
				{`services[0] "alpha"`, "version 2 is newer"}, {`services[1] "beta"`, "version 2 is newer"}, {`services[2] "gamma"`, "version 2 is newer"},
			}},
		{"version of the wrong type", writeState(strings.Replace(goodState, `"version": 1`, `"version": "1"`, 1)), []string{},
			[]wantProblem{
				{"file", "version unreadable: no entry restored"}, {"file", `version: want a whole number, got "1"`},
				{`services[0] "alpha"`, "version unreadable"}, {`services[1] "beta"`, "version unreadable"}, {`services[2] "gamma"`, "version unreadable"},
			}},
		{"invalid job", writeState(strings.Replace(goodState, `"restart": "always",`, `"restart": "always", "interval_ms": 10,`, 1)), []string{"alpha", "beta", "gamma"},
			[]wantProblem{{"alpha/main", "--interval-ms only fits --trigger check"}}},
		{"duplicate service", writeState(strings.Replace(goodState, `"gamma"`, `"beta"`, 1)), []string{"alpha", "beta"},
			[]wantProblem{{`services[2] "beta"`, "already exists"}}},
		{"trailing data", writeState(goodState + "{}"), []string{"alpha", "beta", "gamma"},
			[]wantProblem{{"file", "trailing data"}}},
		{"fifo", func(t *testing.T, path string) { require.NoError(t, unix.Mkfifo(path, 0o600)) }, []string{},
			[]wantProblem{{"file", "not a regular file (a FIFO)"}}},
		{"directory", func(t *testing.T, path string) { require.NoError(t, os.Mkdir(path, 0o700)) }, []string{},
			[]wantProblem{{"file", "not a regular file (a directory)"}}},
		{"too large", func(t *testing.T, path string) {
			f, err := os.Create(path)
			require.NoError(t, err)
			require.NoError(t, f.Truncate(MaxStateFileBytes+1))
			require.NoError(t, f.Close())
		}, []string{}, []wantProblem{{"file", "file too large"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, state := stateRig(t)
			path := filepath.Join(state, StateFileName)
			c.make(t, path)
			before, _ := zinit.ReadRegularFile(path, 1<<20) // nil for the FIFO, the directory and the big one (os.ReadFile would block on the FIFO)
			r.e.Boot()

			// Nothing is lost: the file is aside, byte for byte.
			moved := filepath.Join(state, corruptName)
			_, err := os.Lstat(path)
			assert.ErrorIs(t, err, fs.ErrNotExist, "moved away from the state file's path")
			fi, err := os.Lstat(moved)
			require.NoError(t, err)
			if fi.Mode().IsRegular() && fi.Size() < 1<<20 {
				after, err := os.ReadFile(moved)
				require.NoError(t, err)
				assert.Equal(t, before, after)
			}

			assert.Equal(t, c.restored, names(r.e.List()), "what could be read is restored")
			st := r.e.SystemStatus()
			assert.True(t, st.Degraded)
			assert.Equal(t, zinit.PersistReadOnly, st.Persistence.Mode)
			assert.Equal(t, path, st.Persistence.File)
			assert.Equal(t, moved, st.Persistence.MovedTo)
			assert.Equal(t, c.restored, append([]string{}, st.Persistence.Restored...))
			require.Len(t, st.Persistence.NotRestored, len(c.problems), "%+v", st.Persistence.NotRestored)
			for i, p := range c.problems {
				assert.Equal(t, p.entry, st.Persistence.NotRestored[i].Entry)
				assert.Contains(t, st.Persistence.NotRestored[i].Reason, p.reason)
			}
			require.Len(t, st.Problems, 1)
			assert.Contains(t, st.Problems[0], path)
			assert.Contains(t, st.Problems[0], "zinit persist resume")

			// Read-only: a persisted add is refused in one line naming the
			// file, and changes nothing; the rest of the API works.
			err = r.e.AddService(zinit.Service{Name: "new", Persist: true})
			require.ErrorIs(t, err, zinit.ErrReadOnly)
			assert.Equal(t, zinit.CodeReadOnly, zinit.ToRPCError(err).Code)
			assert.NotContains(t, err.Error(), "\n")
			assert.Contains(t, err.Error(), `service "new" not added: persistence is read-only: `+path)
			assert.Equal(t, c.restored, names(r.e.List()))
			require.NoError(t, r.e.AddService(zinit.Service{Name: "scratch"}), "a service that is not persisted is fine")
			_, err = os.Lstat(path)
			assert.ErrorIs(t, err, fs.ErrNotExist, "nothing written while read-only")
		})
	}
}

// wantProblem is an expected zinit.StateProblem; reason is a fragment.
type wantProblem struct{ entry, reason string }

func writeState(body string) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	}
}

// TestReadOnlyRefusesPersistedChanges: while read-only, removing a
// restored service or job, or adding a persisted job, is refused before
// anything changes (the service keeps running); persist.resume writes the
// file from memory, after which they work.
func TestReadOnlyRefusesPersistedChanges(t *testing.T) {
	r, state := stateRig(t)
	path := filepath.Join(state, StateFileName)
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(goodState, `"gamma"`, `7`, 1)), 0o600))
	r.e.Boot()
	require.True(t, r.e.SystemStatus().Degraded)
	pid := r.pid("alpha")

	var got error
	r.e.RemoveService("alpha", func(err error) { got = err })
	require.ErrorIs(t, got, zinit.ErrReadOnly)
	assert.Contains(t, got.Error(), `service "alpha" not removed: persistence is read-only: `+path)
	assert.Equal(t, zinit.StateRunning, r.status("alpha").State, "refused before the stop")
	assert.Empty(t, r.sp.signals, "nothing was signalled")

	r.e.RemoveJob("alpha", "main", func(err error) { got = err })
	require.ErrorIs(t, got, zinit.ErrReadOnly)
	assert.Contains(t, got.Error(), "job alpha/main not removed: ")
	assert.Equal(t, pid, r.pid("alpha"))

	j, err := checkJob("beta", d, 0).Persist().Build()
	require.NoError(t, err)
	_, err = r.e.AddJob(j)
	require.ErrorIs(t, err, zinit.ErrReadOnly)
	assert.Empty(t, r.status("beta").Jobs)

	// A file back at the path: resume refuses rather than overwrite it.
	require.NoError(t, os.WriteFile(path, []byte("{}"), 0o600))
	_, err = r.e.PersistResume()
	require.ErrorIs(t, err, zinit.ErrAlreadyExists)
	assert.Contains(t, err.Error(), path+" is there again")
	assert.True(t, r.e.SystemStatus().Degraded)
	require.NoError(t, os.Remove(path))

	st, err := r.e.PersistResume()
	require.NoError(t, err)
	assert.False(t, st.Degraded)
	assert.Equal(t, zinit.PersistOK, st.Persistence.Mode)
	assert.Len(t, st.Persistence.NotRestored, 1, "what was not restored stays listed")
	assert.Equal(t, []string{"alpha", "beta"}, loadNames(t, path), "the file is written from memory")

	_, err = r.e.AddJob(j)
	require.NoError(t, err)
	r.e.RemoveService("alpha", func(err error) { got = err })
	r.killed(pid, syscall.SIGTERM)
	require.NoError(t, got)
	assert.Equal(t, []string{"beta"}, loadNames(t, path))
	_, err = os.Stat(filepath.Join(state, corruptName))
	assert.NoError(t, err, "the moved-aside file is kept")
}

// loadNames decodes a state file strictly and returns its services' names.
func loadNames(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	entries, problems := decodeState(data)
	require.Empty(t, problems)
	out := []string{}
	for _, en := range entries {
		out = append(out, en.ps.Service.Name)
	}
	return out
}

var errDiskFull = fmt.Errorf("persist: write services.json.tmp: %w", syscall.ENOSPC)

// TestFailedSaveChangesNothing: a change that cannot be persisted (a full
// disk) is refused and leaves memory as it was — a remove is never a plain
// failure after the service is gone — and the file as it was.
func TestFailedSaveChangesNothing(t *testing.T) {
	r, state := stateRig(t)
	path := filepath.Join(state, StateFileName)
	require.NoError(t, r.e.AddService(zinit.Service{Name: "kept", Persist: true}))
	for _, b := range []*zinit.JobBuilder{mainJob("kept", zinit.RestartAlways, d, 0).Persist(), checkJob("kept", d, 0).Persist()} {
		j, err := b.Build()
		require.NoError(t, err)
		_, err = r.e.AddJob(j)
		require.NoError(t, err)
	}
	require.NoError(t, r.e.Start("kept"))
	pid := r.pid("kept")
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	r.e.writeState = func(string, []byte) error { return errDiskFull }

	var got error
	r.e.RemoveService("kept", func(err error) { got = err })
	require.ErrorIs(t, got, syscall.ENOSPC)
	assert.Equal(t, `service "kept" not removed: persist: write services.json.tmp: no space left on device`, got.Error())
	assert.Equal(t, zinit.StateRunning, r.status("kept").State)
	assert.Equal(t, pid, r.pid("kept"))

	r.e.RemoveJob("kept", "check", func(err error) { got = err })
	require.ErrorIs(t, got, syscall.ENOSPC)
	assert.Contains(t, got.Error(), "job kept/check not removed: ")
	assert.Len(t, r.status("kept").Jobs, 2)

	err = r.e.AddService(zinit.Service{Name: "more", Persist: true})
	require.ErrorIs(t, err, syscall.ENOSPC)
	_, err = r.e.Status("more")
	assert.ErrorIs(t, err, zinit.ErrNotFound)

	j, err := checkJob("kept", d, 0).Persist().Build()
	require.NoError(t, err)
	j.Name = "check2"
	_, err = r.e.AddJob(j)
	require.ErrorIs(t, err, syscall.ENOSPC)
	assert.Contains(t, err.Error(), "job kept/check2 not added: ")
	assert.Len(t, r.status("kept").Jobs, 2)
	r.step(2 * d)
	for _, ev := range r.checkStarts("kept") {
		assert.Equal(t, "check", ev.Job, "the refused check never runs")
	}

	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after)
	assert.False(t, r.e.SystemStatus().Degraded, "a failed write is the caller's error, not a degraded daemon")

	// The disk has room again: the same remove works, the file follows.
	r.e.writeState = writeAtomic
	r.e.RemoveService("kept", func(err error) { got = err })
	r.killed(pid, syscall.SIGTERM)
	require.NoError(t, got)
	assert.Equal(t, []string{}, loadNames(t, path))
}

// TestRemoveDuringStopIsNotWrittenBack: a persisted service being removed
// (its stop in progress) is left out of every save, so another persisted
// change meanwhile does not write it back.
func TestRemoveDuringStopIsNotWrittenBack(t *testing.T) {
	r, state := stateRig(t)
	path := filepath.Join(state, StateFileName)
	for _, n := range []string{"a", "b"} {
		require.NoError(t, r.e.AddService(zinit.Service{Name: n, Persist: true}))
	}
	j, err := mainJob("a", zinit.RestartNever, d, 0).Persist().Build()
	require.NoError(t, err)
	_, err = r.e.AddJob(j)
	require.NoError(t, err)
	require.NoError(t, r.e.Start("a"))
	var removed bool
	r.e.RemoveService("a", func(err error) { require.NoError(t, err); removed = true })
	require.False(t, removed, "stopping")
	assert.Equal(t, []string{"b"}, loadNames(t, path))
	j, err = mainJob("b", zinit.RestartNever, d, 0).Persist().Build()
	require.NoError(t, err)
	_, err = r.e.AddJob(j)
	require.NoError(t, err)
	assert.Equal(t, []string{"b"}, loadNames(t, path))
	r.killed(r.pid("a"), syscall.SIGTERM)
	assert.True(t, removed)
}

// TestStateFileTooLargeToWrite: a change that would make the state file
// bigger than the daemon reads back is refused.
func TestStateFileTooLargeToWrite(t *testing.T) {
	r, _ := stateRig(t)
	require.NoError(t, r.e.AddService(zinit.Service{Name: "big", Persist: true}))
	j, err := mainJob("big", zinit.RestartNever, d, 0).Persist().Build()
	require.NoError(t, err)
	j.Exec = strings.Repeat("x", MaxStateFileBytes)
	_, err = r.e.AddJob(j)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "over the limit of")
	assert.Empty(t, r.status("big").Jobs)
}

// FuzzDecodeState: services.json decoding never panics and never drops an
// entry silently: every service entry of a well-formed array is either
// returned or named in a problem.
func FuzzDecodeState(f *testing.F) {
	for _, seed := range []string{
		goodState, goodState[:len(goodState)/2], "", "null", "[]", `{"version":2,"services":[]}`,
		`{"version":1,"services":{}}`, `{"version":1,"services":"x"}`, `{"services":[1,2,3],"version":1}`,
		`{"version":1,"services":[{"service":{"name":"a"},"jobs":[{"restart_delay_ms":0}]}]}`,
		`{"version":1,"version":1,"services":[],"services":[{}]}`, goodState + goodState,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, problems := decodeState(data)
		if len(entries) > 0 && len(problems) == 0 {
			var sf stateFile
			if err := json.Unmarshal(data, &sf); err != nil {
				t.Fatalf("decodeState(%q) reported no problem, json.Unmarshal: %v", data, err)
			}
		}
		var top struct {
			Services []json.RawMessage `json:"services"`
		}
		if json.Unmarshal(data, &top) == nil && len(top.Services) > 0 {
			accounted := len(entries) + countEntries(problems)
			if accounted < len(top.Services) && !hasFileProblem(problems) {
				t.Fatalf("decodeState(%q): %d entries, %d accounted for, no file problem", data, len(top.Services), accounted)
			}
		}
		for _, p := range problems {
			if p.Entry == "" || p.Reason == "" {
				t.Fatalf("decodeState(%q): an empty problem %+v", data, p)
			}
		}
		r := &Engine{services: map[string]*service{}}
		for _, en := range entries {
			_, _ = r.restore(en.ps) // never panics
		}
	})
}

func hasFileProblem(problems []zinit.StateProblem) bool {
	for _, p := range problems {
		if p.Entry == "file" {
			return true
		}
	}
	return false
}

// TestReloadSkipsUnusableFiles: a config file that turns into a FIFO, a
// directory, a file over the size limit or a broken one is skipped at once
// (nothing blocks), each named with its line when known, and the service
// it declared is left running: nothing is lost.
func TestReloadSkipsUnusableFiles(t *testing.T) {
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	for _, n := range []string{"a", "b", "c", "d"} {
		require.NoError(t, os.WriteFile(file(n+".toml"), []byte("[service]\nexec = \"serve "+n+"\"\n"), 0o600))
	}
	r := newRig(t, func(o *Options) { o.ConfigDir = dir })
	r.e.Boot()
	pids := map[string]int{}
	for _, n := range []string{"a", "b", "c", "d"} {
		pids[n] = r.pid(n)
	}

	require.NoError(t, os.Remove(file("a.toml")))
	require.NoError(t, unix.Mkfifo(file("a.toml"), 0o600))
	require.NoError(t, os.Remove(file("b.toml")))
	require.NoError(t, os.Mkdir(file("b.toml"), 0o700))
	require.NoError(t, os.WriteFile(file("c.toml"), []byte("[service]\nexec = \"serve c\"\n# "+strings.Repeat("x", MaxConfigFileBytes)+"\n"), 0o600))
	require.NoError(t, os.WriteFile(file("d.toml"), []byte("[service]\nexec = \"serve d\"\n[lifecycle]\nrestart = \"sometimes\"\n"), 0o600))
	rr, err := r.e.Reload()
	require.NoError(t, err)
	assert.Equal(t, zinit.ReloadResult{Started: []string{}, Stopped: []string{}, Restarted: []string{}, Skipped: []zinit.SkippedFile{
		{File: file("a.toml"), Reason: "not a regular file (a FIFO)"},
		{File: file("b.toml"), Reason: "not a regular file (a directory)"},
		{File: file("c.toml"), Reason: fmt.Sprintf("file too large: %d bytes, the limit is %d", MaxConfigFileBytes+30, MaxConfigFileBytes)},
		{File: file("d.toml"), Line: 4, Reason: `lifecycle.restart: wrong type: "sometimes": want always, on-failure or never`},
	}}, rr)
	for _, n := range []string{"a", "b", "c", "d"} {
		assert.Equal(t, pids[n], r.pid(n), "service %s left running", n)
	}
	assert.Empty(t, r.sp.signals, "nothing stopped")
}
