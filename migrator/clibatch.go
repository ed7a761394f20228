package migrator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/zchaos/zchaos/zinit"
)

// BatchTarget is a Target that can run a whole phase of zinit CLI commands
// in one round trip (CLITarget: one `sh -c` per phase instead of one exec
// per command). Apply and Rollback use it when the target implements it
// and call the Target methods one by one otherwise.
type BatchTarget interface {
	Target
	// RunBatch runs the steps in order and stops at the first step that
	// fails, except that a step with TolerateNotFound whose failure is a
	// "not found" answer (as CLIError.Is(zinit.ErrNotFound) matches it)
	// counts as done. It returns the results of the steps done, in order
	// (a tolerated step's result keeps its non-zero Code); when a step
	// failed, its index is len(results) and the error is a *CLIError for
	// it (or, when the batch could not be run or its output not be read,
	// another error: then the steps from len(results) on may or may not
	// have run). Zero steps run nothing.
	RunBatch(ctx context.Context, steps []BatchStep) ([]StepResult, error)
}

// BatchStep is one zinit CLI command of a batch. Argv starts with
// zinit.CLIName, as the argv the builders (zinit.Service.Argv, …) return.
type BatchStep struct {
	Argv []string
	// TolerateNotFound makes a "not found" failure count as done (stop or
	// remove of a unit already gone).
	// Exit 126/127 (the shell could not find or run the command) never
	// counts as "not found".
	TolerateNotFound bool
}

// StepResult is how one step of a batch ended.
type StepResult struct {
	Code   int    // exit code; non-zero only for a tolerated step
	Stderr string // everything the command wrote on stderr, byte for byte
}

// batchScript runs the steps given as positional parameters: $1 is the
// step count, then for each step: its flag (1: tolerate not found), its
// word count n and its n words. Words are only ever referenced ("${k}")
// by eval, never spliced into the script, so any byte but NUL is safe in
// them. Each command's stdout is discarded; for each step run the script
// prints one record on stdout:
//
//	r CODE LEN\n<LEN bytes of stderr>\n
//
// (LEN in bytes, counted under LC_ALL=C). After the last step it prints
// "end\n" and exits 0; after a failing step that is not tolerated it
// exits 1 without "end".
const batchScript = `total=$1; shift
nl='
'
i=0
while [ "$i" -lt "$total" ]; do
	tol=$1 n=$2; shift 2
	refs= k=1
	while [ "$k" -le "$n" ]; do refs="$refs \"\${$k}\""; k=$((k+1)); done
	eval "err=\$( { $refs 2>&1 >/dev/null; rc=\$?; printf .; exit \$rc; } )"
	rc=$?
	err=${err%.}
	len=$(LC_ALL=C; printf %s "${#err}")
	printf 'r %s %s\n%s\n' "$rc" "$len" "$err"
	shift "$n"
	i=$((i+1))
	if [ "$rc" -ne 0 ]; then
		case $tol$rc in 1126|1127) exit 1 ;; 1*) ;; *) exit 1 ;; esac
		case $err in
		*[Nn][Oo][Tt]' '[Ff][Oo][Uu][Nn][Dd]*|*[Nn][Oo]' '[Ss][Uu][Cc][Hh]' '[Ss][Ee][Rr][Vv][Ii][Cc][Ee]*) ;;
		*) exit 1 ;;
		esac
	fi
done
echo end
`

// argv rewrites a CLI argv for this target: the zinit path and --socket.
func (t *CLITarget) argv(argv []string) []string {
	if t.Zinit != "" && len(argv) > 0 && argv[0] == zinit.CLIName {
		argv = append([]string{t.Zinit}, argv[1:]...)
	}
	if t.Socket != "" {
		argv = append(slicesClone(argv), "--socket", t.Socket)
	}
	return argv
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// tolerated reports whether a step's failure counts as done. Exit 126 and
// 127 (the shell could not find or run the command) never are.
func (s BatchStep) tolerated(argv []string, r StepResult) bool {
	return r.Code == 0 || s.TolerateNotFound && r.Code != 126 && r.Code != 127 && errors.Is(&CLIError{Argv: argv, Code: r.Code, Stderr: r.Stderr}, zinit.ErrNotFound)
}

// RunBatch runs the steps as one `sh -c` script through Exec (several
// when their words exceed batchArgBudget, each started only when the one
// before completed every step). See BatchTarget.
func (t *CLITarget) RunBatch(ctx context.Context, steps []BatchStep) ([]StepResult, error) {
	argvs := make([][]string, len(steps))
	for i, s := range steps {
		if len(s.Argv) == 0 {
			return nil, fmt.Errorf("batch step %d: empty argv", i)
		}
		argvs[i] = t.argv(s.Argv)
		for _, w := range argvs[i] {
			if strings.IndexByte(w, 0) >= 0 {
				return nil, fmt.Errorf("batch step %d (%s): %w", i, strings.Join(argvs[i][:min(3, len(argvs[i]))], " "), zinit.ErrNulInArgument)
			}
		}
	}
	results := make([]StepResult, 0, len(steps))
	for start := 0; start < len(steps); {
		end, size := start, 0
		for end < len(steps) {
			n := 8
			for _, w := range argvs[end] {
				n += len(w) + 1
			}
			if end > start && size+n > batchArgBudget {
				break
			}
			size += n
			end++
		}
		res, err := t.runChunk(ctx, steps[start:end], argvs[start:end])
		results = append(results, res...)
		if err != nil {
			return results, err
		}
		start = end
	}
	return results, nil
}

func (t *CLITarget) runChunk(ctx context.Context, steps []BatchStep, argvs [][]string) ([]StepResult, error) {
	argv := []string{"sh", "-c", batchScript, "sh", strconv.Itoa(len(steps))}
	for i, s := range steps {
		flag := "0"
		if s.TolerateNotFound {
			flag = "1"
		}
		argv = append(argv, flag, strconv.Itoa(len(argvs[i])))
		argv = append(argv, argvs[i]...)
	}
	out, errOut, code, err := t.Exec(ctx, argv)
	if err != nil {
		return nil, fmt.Errorf("run batch of %d zinit commands: %w", len(steps), err)
	}
	results, failed, perr := parseBatchOutput(out, steps, argvs)
	switch {
	case perr != nil:
		return results, fmt.Errorf("batch of %d zinit commands: %w (exit %d: %s)", len(steps), perr, code, strings.TrimSpace(string(errOut)))
	case failed != nil:
		if code == 0 {
			return results, fmt.Errorf("batch of %d zinit commands: step %d failed but the batch exited 0", len(steps), len(results))
		}
		return results, failed
	case code != 0:
		return results, fmt.Errorf("batch of %d zinit commands: exit %d after every step: %s", len(steps), code, strings.TrimSpace(string(errOut)))
	}
	return results, nil
}

// parseBatchOutput reads batchScript's records strictly. It returns the
// results of the steps done, the *CLIError of the step that failed (if
// one did), or an error when the output breaks the protocol or disagrees
// with which failures are tolerated.
func parseBatchOutput(out []byte, steps []BatchStep, argvs [][]string) ([]StepResult, *CLIError, error) {
	var results []StepResult
	for i := 0; ; i++ {
		if i == len(steps) {
			if string(out) != "end\n" {
				return results, nil, fmt.Errorf("after %d steps: want end, got %q", i, trunc(out))
			}
			return results, nil, nil
		}
		if len(out) == 0 {
			return results, nil, fmt.Errorf("output ends after %d of %d steps", i, len(steps))
		}
		line, rest, ok := bytes.Cut(out, []byte{'\n'})
		f := strings.Split(string(line), " ")
		if !ok || len(f) != 3 || f[0] != "r" {
			return results, nil, fmt.Errorf("step %d: bad record %q", i, trunc(out))
		}
		code, err1 := strconv.Atoi(f[1])
		n, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || code < 0 || n < 0 || strconv.Itoa(code) != f[1] || strconv.Itoa(n) != f[2] {
			return results, nil, fmt.Errorf("step %d: bad record %q", i, line)
		}
		if len(rest) < n+1 || rest[n] != '\n' {
			return results, nil, fmt.Errorf("step %d: stderr of %d bytes not followed by a newline in %q", i, n, trunc(rest))
		}
		r := StepResult{Code: code, Stderr: string(rest[:n])}
		out = rest[n+1:]
		if !steps[i].tolerated(argvs[i], r) {
			if len(out) != 0 {
				return results, nil, fmt.Errorf("step %d failed (exit %d) but the batch went on", i, code)
			}
			return results, &CLIError{Argv: argvs[i], Code: code, Stderr: r.Stderr}, nil
		}
		results = append(results, r)
	}
}

func trunc(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
