package zinit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// CLIName is argv[0] of every rendered command.
const CLIName = "zinit"

// Argv renders the job as the zinit CLI command that creates it, in the
// seed's syntax: flags first, then <service> <job_name>. The flag order is
// fixed: --exec, --trigger, --restart, --restart-delay, --max-restarts,
// --interval-ms, --timeout-ms, -e KEY=VALUE (sorted), --persist. A flag whose
// value is the zero value ("not given": restart never, zero durations, zero
// max-restarts, no env, not persisted) is omitted, so the daemon applies the
// pinned default. Durations are whole milliseconds, rounded to the nearest
// one (a positive duration never renders as 0). Argv does not validate: call
// Validate (or build the job with NewJob) first.
func (j Job) Argv() []string {
	argv := []string{CLIName, "add", "job", "--exec", j.Exec}
	if j.Trigger != 0 {
		argv = append(argv, "--trigger", j.Trigger.String())
	}
	if j.Restart != RestartNever {
		argv = append(argv, "--restart", j.Restart.String())
	}
	if j.RestartDelay != 0 {
		argv = append(argv, "--restart-delay", msString(j.RestartDelay))
	}
	if j.MaxRestarts != 0 {
		argv = append(argv, "--max-restarts", strconv.Itoa(j.MaxRestarts))
	}
	if j.Interval != 0 {
		argv = append(argv, "--interval-ms", msString(j.Interval))
	}
	if j.Timeout != 0 {
		argv = append(argv, "--timeout-ms", msString(j.Timeout))
	}
	for _, kv := range j.EnvList() {
		argv = append(argv, "-e", kv)
	}
	if j.Persist {
		argv = append(argv, "--persist")
	}
	return append(argv, j.Service, j.Name)
}

// Argv renders the service as the zinit CLI command that creates it:
// zinit add service <name> [--persist] [--after <svc>]... (after in the
// given order).
func (s Service) Argv() []string {
	argv := []string{CLIName, "add", "service", s.Name}
	if s.Persist {
		argv = append(argv, "--persist")
	}
	for _, a := range s.After {
		argv = append(argv, "--after", a)
	}
	return argv
}

// Millis renders d as whole milliseconds, rounded to the nearest; a
// positive d below half a millisecond renders as 1, never 0.
func Millis(d time.Duration) int64 {
	ms := d.Round(time.Millisecond).Milliseconds()
	if d > 0 && ms == 0 {
		ms = 1
	}
	return ms
}

func msString(d time.Duration) string { return strconv.FormatInt(Millis(d), 10) }

// shellReserved are words a POSIX shell (or bash) treats specially in
// command position; ShellQuote always quotes them.
var shellReserved = map[string]bool{
	"!": true, "case": true, "do": true, "done": true, "elif": true, "else": true,
	"esac": true, "fi": true, "for": true, "if": true, "in": true, "then": true,
	"until": true, "while": true, "select": true, "function": true, "time": true,
	"coproc": true,
}

func shellSafe(s string) bool {
	if s == "" || shellReserved[s] {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("_-./:,+@%", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// ShellQuote quotes s as one word for a POSIX shell. A word made only of
// letters, digits and _-./:,+@% (and not a reserved word) is returned as
// is; anything else is wrapped in single quotes, each embedded single
// quote closing the quoted part, adding an escaped quote and reopening.
// The result reads back as exactly s, byte for byte (newlines, quotes, $,
// backticks, backslashes, invalid UTF-8 included). '=' and '~' are quoted,
// so no word is ever read as an assignment or a tilde expansion. A NUL byte
// cannot be part of any argument; RenderScript rejects it.
func ShellQuote(s string) string {
	if shellSafe(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// CommandLine renders argv as one shell command line, each word quoted with
// ShellQuote. It does not check for NUL bytes.
func CommandLine(argv []string) string {
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = ShellQuote(a)
	}
	return strings.Join(words, " ")
}

// SplitWords is the inverse of CommandLine: it splits a command line into
// words the way a POSIX shell splits a simple command, expanding nothing.
// Space, tab and newline separate words (a shell would end the command at
// a newline: here the words of every line come out). Single quotes keep
// every byte; inside double quotes a backslash escapes only $ ` " \ and a
// newline; outside quotes it escapes any byte; a backslash-newline is a
// line continuation and disappears. Operators (| ; & < >) are not
// recognised: they stay inside words, so the words of a pipeline are only
// good for finding flags. complete is false when a quote is left open; the
// words are then a best effort, the open quote running to the end.
func SplitWords(s string) (words []string, complete bool) {
	var (
		cur    strings.Builder
		inWord bool
		quote  byte // the open quote, 0 outside quotes
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] == '\n' && quote != '\'':
			i++ // line continuation
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\", s[i+1]) >= 0:
				i++
				cur.WriteByte(s[i])
			default:
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, quote == 0
}

// ScriptOptions shape RenderScript's output.
type ScriptOptions struct {
	// Header lines are written as comments after the shebang, each line of
	// each entry prefixed with "# ".
	Header []string
}

// ErrNulInArgument is returned by RenderScript for an argument holding a
// NUL byte, which no process argument can carry.
var ErrNulInArgument = errors.New("argument contains a NUL byte")

// RenderScript writes a POSIX shell script: "#!/bin/sh", the header
// comments, "set -eu", then each step as one command line (CommandLine).
// An argument may span lines (it is quoted), but each step is one command.
// It writes nothing if a step is empty or an argument holds a NUL byte, and
// returns the first write error.
func RenderScript(w io.Writer, steps [][]string, opts ScriptOptions) error {
	for i, st := range steps {
		if len(st) == 0 {
			return fmt.Errorf("render script: step %d is empty", i+1)
		}
		for _, a := range st {
			if strings.IndexByte(a, 0) >= 0 {
				return fmt.Errorf("render script: step %d: %w", i+1, ErrNulInArgument)
			}
		}
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("#!/bin/sh\n")
	for _, h := range opts.Header {
		for _, line := range strings.Split(h, "\n") {
			bw.WriteString(strings.TrimRight("# "+line, " ") + "\n")
		}
	}
	bw.WriteString("set -eu\n")
	for _, st := range steps {
		bw.WriteString(CommandLine(st))
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("render script: %w", err)
	}
	return nil
}
