package chaos

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func containerNameFor(runID string, t task) string {
	return fmt.Sprintf("%s-%s-%s-%d", runID, unsafeName.ReplaceAllString(t.label(), "_"), t.config, t.attempt)
}

// bundleDir is the attempt's forensics directory, relative to OutDir.
func (a *attempt) bundleDir() string {
	return filepath.Join("forensics", fmt.Sprintf("%s_%s_%d", unsafeName.ReplaceAllString(a.t.label(), "_"), a.t.config, a.t.attempt))
}

// rawEventsFile names the attempt's full event stream in its forensics
// directory.
const rawEventsFile = "events.jsonl.gz"

// writeRawEvents writes the attempt's full event stream, one JSON event a
// line, gzipped, into its forensics directory (every attempt has one, a
// pass too: its result keeps only the compact timeline), and returns the
// file's path relative to OutDir.
func (a *attempt) writeRawEvents(evs []scenarios.Event) (string, error) {
	rel := filepath.Join(a.bundleDir(), rawEventsFile)
	p := filepath.Join(a.r.OutDir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	for i := range evs {
		if err := enc.Encode(&evs[i]); err != nil {
			return "", fmt.Errorf("raw events: %w", err)
		}
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("raw events: %w", err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("raw events: %w", err)
	}
	return rel, nil
}

// eventLines is a JSON array of events, one compact event a line.
func eventLines(evs []scenarios.Event) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	b.WriteString("[")
	for i := range evs {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n  ")
		_ = enc.Encode(&evs[i]) // an Event always encodes
		b.Truncate(b.Len() - 1)
	}
	b.WriteString("\n]\n")
	return b.Bytes()
}

// forensics writes the bundle of a non-passing attempt under OutDir and
// returns its path relative to OutDir.
func (a *attempt) forensics(ctx context.Context, res scenarios.ScenarioResult) (string, error) {
	rel := a.bundleDir()
	dir := filepath.Join(a.r.OutDir, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return rel, err
	}
	var errs []error
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	// The compact timeline, as the result keeps it, one event a line; the
	// full stream is events.jsonl.gz beside it (writeRawEvents).
	write("timeline.json", eventLines(scenarios.CompactTimeline(res.Timeline)))
	judged, _ := json.MarshalIndent(struct {
		Verdict  scenarios.Verdict          `json:"verdict"`
		Reason   string                     `json:"reason"`
		Checks   []scenarios.InvariantCheck `json:"checks"`
		Recovery scenarios.Recovery         `json:"recovery"`
		Policy   *scenarios.ServicePolicy   `json:"policy"`
		Services []scenarios.ServicePolicy  `json:"services"`
	}{res.Verdict, res.Reason, res.Checks, res.Recovery, res.Policy, a.setup.Policies}, "", "  ")
	write("judgement.json", judged)
	write("scenario.yaml", []byte(a.t.sc.Source))
	repro := a.reproduce(filepath.Join(dir, "scenario.yaml"))
	write("seed.txt", []byte(fmt.Sprintf("run seed %d\nattempt seed %d\nrun id %s\ncontainer %s\nreproduce: %s\n",
		a.r.Seed, a.t.seed, a.r.RunID, containerNameOf(a.c), repro)))
	write("reproduce.txt", []byte(repro+"\n"))
	if a.steadyList != nil {
		write("zinit-list-steady.json", a.steadyList)
	}
	if a.c == nil {
		return rel, errors.Join(errs...)
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	capture := func(name string, argv ...string) {
		res, err := a.c.Exec(fctx, argv, nil)
		if err != nil {
			write(name, []byte("error: "+err.Error()+"\n"))
			return
		}
		b := res.Stdout
		if len(res.Stderr) > 0 {
			b = append(append(b, "\n--- stderr\n"...), res.Stderr...)
		}
		write(name, b)
	}
	capture("zinit-list-end.json", a.r.ZinitCLI, "list", "--json")
	capture("ps.txt", "ps", "-eo", "pid,ppid,pgid,stat,etimes,args")
	for _, svc := range a.watched() {
		name := "zinit-logs-" + unsafeName.ReplaceAllString(svc, "_") + ".txt"
		// The reference zinit dates each line on CLOCK_MONOTONIC (--mono),
		// which the bundle turns into the timeline's time; another zinit
		// may not know the flag: then its plain lines.
		if res, err := a.c.Exec(fctx, []string{a.r.ZinitCLI, "logs", svc, "--mono"}, nil); err == nil && res.ExitCode == 0 {
			write(name, onTimeline(res.Stdout, a.t0Ns.Load()))
			continue
		}
		capture(name, a.r.ZinitCLI, "logs", svc)
	}
	if logs, err := a.c.Logs(fctx); err == nil {
		write("container.log", logs)
	} else {
		write("container.log", []byte("error: "+err.Error()+"\n"))
	}
	return rel, errors.Join(errs...)
}

func containerNameOf(c runtime.Container) string {
	if c == nil {
		return "(none)"
	}
	return c.Name()
}

// reproduce is the one command line that reruns this attempt: the same
// scenario (its copy in the bundle), seed, time scale and config, with
// --repeat reaching its attempt number.
func (a *attempt) reproduce(scenarioFile string) string {
	argv := a.r.Reproduce
	if len(argv) == 0 {
		argv = []string{"zchaos", "run"}
	}
	argv = append(slices.Clone(argv), scenarioFile, "--seed", strconv.FormatInt(a.r.Seed, 10),
		"--time-scale", strconv.FormatFloat(a.r.TimeScale, 'g', -1, 64))
	if a.t.attempt > 1 {
		argv = append(argv, "--repeat", strconv.Itoa(a.t.attempt))
	}
	if a.t.config == scenarios.ConfigLegacy {
		argv = append(argv, "--legacy")
	}
	return zinit.CommandLine(argv)
}

// onTimeline rewrites the "[seconds.micros] " CLOCK_MONOTONIC prefix of
// `zinit logs --mono` lines into the scenario's time (t0Ns is its origin on
// the same clock), so a log line can be read next to timeline.json.
func onTimeline(out []byte, t0Ns int64) []byte {
	var b bytes.Buffer
	for _, line := range strings.SplitAfter(string(out), "\n") {
		rest, ok := strings.CutPrefix(line, "[")
		stamp, text, ok2 := strings.Cut(rest, "] ")
		sec, frac, ok3 := strings.Cut(stamp, ".")
		s, err1 := strconv.ParseInt(sec, 10, 64)
		us, err2 := strconv.ParseInt(frac, 10, 64)
		if !ok || !ok2 || !ok3 || err1 != nil || err2 != nil || t0Ns == 0 {
			b.WriteString(line)
			continue
		}
		rel := time.Duration(s*1e9+us*1e3-t0Ns) * time.Nanosecond
		fmt.Fprintf(&b, "[t=%+.3fs mono=%s] %s", rel.Seconds(), stamp, text)
	}
	return b.Bytes()
}
