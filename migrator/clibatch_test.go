package migrator_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/zinit"
)

// stubZinit is a fake zinit CLI: it logs its argv (count, then each word
// NUL-terminated) and, when a word is one of the magic ones, fails like
// the real CLI would. It always writes junk on stdout, which the batch
// must keep out of its framing.
const stubZinit = `#!/bin/sh
log=$(dirname "$0")/calls.log
{ printf '%d\0' "$#"; printf '%s\0' "$@"; } >> "$log"
echo 'r 0 3'
echo end
for a do
	case $a in
	MAGIC-fail) printf 'zinit: boom\nsecond "line" $HOME \140x\140\n\n' >&2; exit 2 ;;
	MAGIC-gone) printf 'zinit: service "x" NOT Found\n' >&2; exit 2 ;;
	MAGIC-127) printf 'sh: 1: zinit: not found\n' >&2; exit 127 ;;
	MAGIC-noeol) printf 'no newline at the end, héllo \342\202' >&2; exit 3 ;;
	MAGIC-ok-stderr) printf '\n\nwarning: ünïcode\n' >&2 ;;
	esac
done
exit 0
`

type stub struct {
	dir, bin string
	execs    atomic.Int64
}

func newStub(t *testing.T) *stub {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "zinit")
	require.NoError(t, os.WriteFile(bin, []byte(stubZinit), 0o755))
	return &stub{dir: dir, bin: bin}
}

// target runs the batch with shell (e.g. /bin/sh, bash) as "sh".
func (s *stub) target(shell string) *migrator.CLITarget {
	return &migrator.CLITarget{Zinit: s.bin, Socket: "/run/z sock", Exec: func(ctx context.Context, argv []string) ([]byte, []byte, int, error) {
		s.execs.Add(1)
		if argv[0] == "sh" {
			argv = append([]string{shell}, argv[1:]...)
		}
		return localExec(ctx, argv)
	}}
}

// calls reads back the argvs the stub was run with.
func (s *stub) calls(t *testing.T) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "calls.log"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	words := strings.Split(string(b), "\x00")
	require.Equal(t, "", words[len(words)-1])
	words = words[:len(words)-1]
	var out [][]string
	for len(words) > 0 {
		n, err := strconv.Atoi(words[0])
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(words), 1+n)
		out = append(out, words[1:1+n])
		words = words[1+n:]
	}
	return out
}

func shells(t *testing.T) []string {
	out := []string{"/bin/sh"}
	if p, err := exec.LookPath("bash"); err == nil {
		out = append(out, p) // counts ${#var} in characters unless LC_ALL=C
	}
	return out
}

// wantArgv is what the stub must see for a step: the step's words after
// the program, then the socket.
func wantArgv(argv []string) []string {
	return append(append([]string{}, argv[1:]...), "--socket", "/run/z sock")
}

var nastyExecs = []string{
	`sh -c 'echo "$HOME" $(id -u) ` + "`date`" + `; exit 0'`,
	"line one\nline two\n\n",
	`back\slash \\ \n 'single' "double" $1 ${2} $@ $# ; & | > < * ? [a] ~ # !`,
	"",
	" leading and trailing spaces ",
	"-n",
	"--socket",
	"ünïcödé ✓ \xff\xfe invalid utf-8",
	"\t\r\v\f\x01\x1b[31m",
	`"${k}" ${1} $((1+1)) eval`,
}

func TestCLIBatchRunsEveryStepWithExactArgv(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(filepath.Base(sh), func(t *testing.T) {
			s := newStub(t)
			tg := s.target(sh)
			var steps []migrator.BatchStep
			for _, e := range nastyExecs {
				steps = append(steps, migrator.BatchStep{Argv: zinit.Job{Service: "user.a", Name: "j", Exec: e}.Argv()})
			}
			steps = append(steps,
				migrator.BatchStep{Argv: []string{zinit.CLIName, "start", "MAGIC-ok-stderr"}},
				migrator.BatchStep{Argv: []string{zinit.CLIName, "stop", "user.b"}, TolerateNotFound: true})
			res, err := tg.RunBatch(context.Background(), steps)
			require.NoError(t, err)
			require.Len(t, res, len(steps))
			for _, r := range res {
				assert.Equal(t, 0, r.Code)
			}
			assert.Equal(t, "\n\nwarning: ünïcode\n", res[len(nastyExecs)].Stderr, "stderr byte for byte")
			assert.Equal(t, int64(1), s.execs.Load(), "one exec for the whole batch")
			calls := s.calls(t)
			require.Len(t, calls, len(steps))
			for i, st := range steps {
				assert.Equal(t, wantArgv(st.Argv), calls[i], "step %d round-trips exactly", i)
			}
		})
	}
}

func TestCLIBatchStopsAtTheFirstFailure(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(filepath.Base(sh), func(t *testing.T) {
			s := newStub(t)
			steps := []migrator.BatchStep{
				{Argv: []string{zinit.CLIName, "stop", "user.a"}, TolerateNotFound: true},
				{Argv: []string{zinit.CLIName, "add", "service", "MAGIC-fail"}},
				{Argv: []string{zinit.CLIName, "start", "user.c"}},
			}
			res, err := s.target(sh).RunBatch(context.Background(), steps)
			require.Len(t, res, 1, "only the step before the failure is done")
			var ce *migrator.CLIError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, 2, ce.Code)
			assert.Equal(t, "zinit: boom\nsecond \"line\" $HOME `x`\n\n", ce.Stderr)
			assert.Equal(t, append([]string{s.bin}, wantArgv(steps[1].Argv)...), ce.Argv)
			assert.NotErrorIs(t, err, zinit.ErrNotFound)
			assert.Len(t, s.calls(t), 2, "nothing runs after the failure")
		})
	}
}

func TestCLIBatchToleratesNotFoundOnlyWhereAsked(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(filepath.Base(sh), func(t *testing.T) {
			s := newStub(t)
			steps := []migrator.BatchStep{
				{Argv: []string{zinit.CLIName, "stop", "MAGIC-gone"}, TolerateNotFound: true},
				{Argv: []string{zinit.CLIName, "remove", "service", "MAGIC-gone"}, TolerateNotFound: true},
				{Argv: []string{zinit.CLIName, "start", "MAGIC-gone"}},
				{Argv: []string{zinit.CLIName, "start", "user.never"}},
			}
			res, err := s.target(sh).RunBatch(context.Background(), steps)
			require.Len(t, res, 2)
			for _, r := range res {
				assert.Equal(t, 2, r.Code)
				assert.Equal(t, "zinit: service \"x\" NOT Found\n", r.Stderr)
			}
			require.ErrorIs(t, err, zinit.ErrNotFound, "the untolerated not-found is the failure")
			assert.Len(t, s.calls(t), 3)

			// A tolerant step failing otherwise still stops the batch, and
			// so does a shell's "not found" for a missing command.
			for _, magic := range []string{"MAGIC-fail", "MAGIC-127"} {
				s := newStub(t)
				res, err = s.target(sh).RunBatch(context.Background(), []migrator.BatchStep{
					{Argv: []string{zinit.CLIName, "stop", magic}, TolerateNotFound: true},
					{Argv: []string{zinit.CLIName, "start", "user.never"}},
				})
				assert.Empty(t, res, magic)
				var ce *migrator.CLIError
				require.ErrorAs(t, err, &ce, magic)
				assert.Len(t, s.calls(t), 1, magic)
			}
		})
	}
}

func TestCLIBatchStderrWithoutNewlineAndMultibyte(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(filepath.Base(sh), func(t *testing.T) {
			s := newStub(t)
			_, err := s.target(sh).RunBatch(context.Background(), []migrator.BatchStep{{Argv: []string{zinit.CLIName, "start", "MAGIC-noeol"}}})
			var ce *migrator.CLIError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, 3, ce.Code)
			assert.Equal(t, "no newline at the end, héllo \342\202", ce.Stderr)
		})
	}
}

func TestCLIBatchEmptyRunsNothing(t *testing.T) {
	s := newStub(t)
	res, err := s.target("/bin/sh").RunBatch(context.Background(), nil)
	require.NoError(t, err)
	assert.Empty(t, res)
	assert.Zero(t, s.execs.Load())
}

// Steps whose words exceed the argument budget run as several scripts, in
// order; a failure in one keeps the next from starting.
func TestCLIBatchSplitsLargeBatches(t *testing.T) {
	big := strings.Repeat("x'$`\n", 20<<10) // 100 KiB, under Linux's limit for one argument
	bigStep := func(i int) migrator.BatchStep {
		return migrator.BatchStep{Argv: []string{zinit.CLIName, "add", "job", "--exec", big + strconv.Itoa(i)}}
	}
	var steps []migrator.BatchStep
	for i := range 6 {
		steps = append(steps, bigStep(i))
	}
	s := newStub(t)
	res, err := s.target("/bin/sh").RunBatch(context.Background(), steps)
	require.NoError(t, err)
	assert.Len(t, res, 6)
	assert.Equal(t, int64(2), s.execs.Load(), "two chunks")
	calls := s.calls(t)
	require.Len(t, calls, 6)
	for i := range calls {
		assert.Equal(t, wantArgv(steps[i].Argv), calls[i])
	}

	// The failure ends the first chunk: the second never starts.
	steps = append(steps[:5:5], migrator.BatchStep{Argv: []string{zinit.CLIName, "start", "MAGIC-fail"}}, bigStep(6))
	s = newStub(t)
	res, err = s.target("/bin/sh").RunBatch(context.Background(), steps)
	require.Error(t, err)
	assert.Len(t, res, 5)
	assert.Equal(t, int64(1), s.execs.Load())
	assert.Len(t, s.calls(t), 6)
}

// Output that breaks the framing is an error, never a guess.
func TestCLIBatchRejectsBrokenOutput(t *testing.T) {
	steps := []migrator.BatchStep{
		{Argv: []string{zinit.CLIName, "stop", "a"}, TolerateNotFound: true},
		{Argv: []string{zinit.CLIName, "start", "b"}},
	}
	for name, c := range map[string]struct {
		out  string
		code int
		done int
	}{
		"no end":                  {"r 0 0\n\nr 0 0\n\n", 0, 2},
		"truncated":               {"r 0 0\n\n", 1, 1},
		"short stderr":            {"r 0 5\nab\n", 1, 0},
		"long stderr":             {"r 0 1\nab\nr 0 0\n\nend\n", 0, 0},
		"went on after a failure": {"r 2 4\nboom\nr 0 0\n\nend\n", 1, 0},
		"not-found untolerated":   {"r 0 0\n\nr 2 9\nnot found\nend\n", 0, 1},
		"stopped on a tolerated":  {"r 2 9\nnot found\n", 1, 1},
		"junk":                    {"hello\n", 1, 0},
		"signed code":             {"r +0 0\n\nr 0 0\n\nend\n", 0, 0},
		"failure but exit 0":      {"r 0 0\n\nr 1 1\nx\n", 0, 1},
		"all done but exit 1":     {"r 0 0\n\nr 0 0\n\nend\n", 1, 2},
		"trailing garbage":        {"r 0 0\n\nr 0 0\n\nend\nx", 0, 2},
	} {
		t.Run(name, func(t *testing.T) {
			tg := &migrator.CLITarget{Exec: func(context.Context, []string) ([]byte, []byte, int, error) {
				return []byte(c.out), nil, c.code, nil
			}}
			res, err := tg.RunBatch(context.Background(), steps)
			require.Error(t, err)
			var ce *migrator.CLIError
			assert.False(t, errors.As(err, &ce), "not mistaken for a zinit answer: %v", err)
			assert.Len(t, res, c.done)
		})
	}
}

// plainTarget hides RunBatch: Apply falls back to one call per step.
type plainTarget struct{ migrator.Target }

// With a batching target Apply and Rollback report exactly what the
// one-call-per-step path reports, failures included, in a handful of
// execs.
func TestApplyBatchedMatchesUnbatched(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: four applies of the fleet through a shell stub of the zinit CLI, one shell per step unbatched")
	}
	plan := fleetPlan(t)
	var failOn string
	for _, sp := range plan.Services {
		if len(sp.Jobs) > 1 {
			failOn = sp.Service.Name // fail on its second job, mid-phase
		}
	}
	require.NotEmpty(t, failOn)
	run := func(batch bool, fail string) (migrator.ApplyReport, error, int64) {
		s := newStub(t)
		// list --json answers one legacy unit to take down.
		body := strings.Replace(stubZinit, "echo 'r 0 3'", `case "$1 $2" in "list --json") echo '[{"name":"user.hero_gateway","legacy":true,"state":"running"},{"name":"MAGIC-gone","legacy":true,"state":"running"}]'; exit 0 ;; esac
for a do
	case $a in *`+fail+`*) if [ "$1" = add ] && [ "$2" = job ] && [ -n "`+fail+`" ]; then n=$(cat "$(dirname "$0")/n" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$(dirname "$0")/n"; if [ $n -ge 2 ]; then echo "zinit: injected" >&2; exit 2; fi; fi ;; esac
done
echo 'r 0 3'`, 1)
		require.NoError(t, os.WriteFile(s.bin, []byte(body), 0o755))
		var tg migrator.Target = s.target("/bin/sh")
		if !batch {
			tg = plainTarget{tg}
		}
		plan := *plan
		plan.Retired = append(append([]migrator.Retired{}, plan.Retired...), migrator.Retired{Name: "MAGIC-gone"})
		rep, err := migrator.Apply(context.Background(), &plan, tg, migrator.ApplyOptions{ConfigDir: filepath.Join(t.TempDir(), "none"), Now: fixedNow})
		rep.Target = ""
		return rep, err, s.execs.Load()
	}
	for _, fail := range []string{"", failOn} {
		br, berr, bn := run(true, fail)
		pr, perr, pn := run(false, fail)
		assert.Equal(t, pr, br, "fail on %q", fail)
		if fail == "" {
			require.NoError(t, berr)
			require.NoError(t, perr)
			assert.LessOrEqual(t, bn, int64(6), "list twice, exists, three phases")
		} else {
			var bse, pse *migrator.StepError
			require.ErrorAs(t, berr, &bse)
			require.ErrorAs(t, perr, &pse)
			assert.Equal(t, pse.Step, bse.Step)
			assert.Equal(t, migrator.ActionAddJob, bse.Step.Action)
			assert.Contains(t, bse.Error(), "injected")
			require.NotNil(t, br.Failed)
		}
		assert.Greater(t, pn, bn)
		t.Logf("fail on %q: %d execs batched, %d one by one", fail, bn, pn)
	}
}
