package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/scenarios"
)

// ProbeOutcome is one health probe's result. A timeout and a bad answer
// are results, not errors.
type ProbeOutcome int

const (
	ProbeOK      ProbeOutcome = iota // a well-formed healthy answer
	ProbeFailed                      // refused, closed, an error answer or not healthy
	ProbeTimeout                     // no answer within the timeout
)

func (o ProbeOutcome) String() string {
	switch o {
	case ProbeOK:
		return "ok"
	case ProbeFailed:
		return "failed"
	case ProbeTimeout:
		return "timeout"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

const healthRequest = `{"jsonrpc":"2.0","method":"server.health","id":1}` + "\n"

// ProbeOnce runs one health probe of p within timeout: server.health over the
// Unix socket (healthy iff the answer is a JSON-RPC result with no error,
// and its status, when given, is "ok"), or GET /health on the HTTP port
// (healthy iff 2xx). It looks at the answer: a connection that merely
// opens is not healthy.
func ProbeOnce(ctx context.Context, p Probe, timeout time.Duration) (ProbeOutcome, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case p.Socket != "":
		return probeSocket(ctx, p.Socket)
	case p.HTTPPort > 0:
		return probeHTTP(ctx, p.HTTPPort)
	}
	return ProbeFailed, "no probe target"
}

func timeoutOr(ctx context.Context, err error) (ProbeOutcome, string) {
	var ne net.Error
	if ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
		return ProbeTimeout, "no answer: " + err.Error()
	}
	return ProbeFailed, err.Error()
}

func probeSocket(ctx context.Context, path string) (ProbeOutcome, string) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return timeoutOr(ctx, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.Write([]byte(healthRequest)); err != nil {
		return timeoutOr(ctx, err)
	}
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return timeoutOr(ctx, err)
	}
	return judgeHealthAnswer(line)
}

// judgeHealthAnswer reads a JSON-RPC answer to server.health.
func judgeHealthAnswer(line []byte) (ProbeOutcome, string) {
	var resp struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(line, &resp); err != nil {
		return ProbeFailed, "bad answer: " + abbrev(line)
	}
	if resp.Error != nil {
		return ProbeFailed, fmt.Sprintf("rpc error %d: %s", resp.Error.Code, resp.Error.Message)
	}
	if len(resp.Result) == 0 || string(resp.Result) == "null" {
		return ProbeFailed, "answer has no result"
	}
	var st struct {
		Status *string `json:"status"`
	}
	if json.Unmarshal(resp.Result, &st) == nil && st.Status != nil && *st.Status != "ok" {
		return ProbeFailed, "status " + *st.Status
	}
	return ProbeOK, "ok"
}

func probeHTTP(ctx context.Context, port int) (ProbeOutcome, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(port)+"/health", nil)
	if err != nil {
		return ProbeFailed, err.Error()
	}
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return timeoutOr(ctx, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return ProbeFailed, "http " + resp.Status
	}
	return ProbeOK, "ok"
}

// prober probes one service periodically.
type prober struct {
	probe   Probe
	timeout time.Duration
	mono    Mono
}

func (p prober) step(ctx context.Context) scenarios.Event {
	t0 := p.mono()
	out, detail := ProbeOnce(ctx, p.probe, p.timeout)
	dur := p.mono() - t0
	ok := out == ProbeOK
	return scenarios.Event{TNs: t0, Kind: scenarios.EventProbe, Service: p.probe.Service, OK: &ok,
		Reason: out.String(), Detail: detail, DurNs: dur}
}

func (p prober) loop(ctx context.Context, clk clock.WithTicker, period time.Duration, emit func(scenarios.Event)) {
	t := clk.NewTicker(period)
	defer t.Stop()
	for {
		ev := p.step(ctx)
		if ctx.Err() != nil {
			return
		}
		emit(ev)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// statusKey is what makes a status event worth sending.
type statusKey struct {
	state    string
	restarts int
	reason   string
	pid      int
	exitAt   int64 // last_exit.at_ms: a new exit changes it
	exitCode int   // -1: none
	exitSig  string
}

// looseStatus decodes `zinit status --json` of any zinit leniently: an
// unknown state name is kept as text.
type looseStatus struct {
	Name     string  `json:"name"`
	State    string  `json:"state"`
	PID      *int    `json:"pid"`
	Restarts int     `json:"restarts"`
	Reason   *string `json:"reason"`
	LastExit *struct {
		Code   *int    `json:"code"`
		Signal *string `json:"signal"`
		AtMs   int64   `json:"at_ms"`
	} `json:"last_exit"`
	Jobs []struct {
		Name      string     `json:"name"`
		Trigger   string     `json:"trigger"`
		LastCheck *lastCheck `json:"last_check"`
	} `json:"jobs"`
}

// lastCheck is a check job's last run as zinit reports it. AtMs is the
// run's start in Unix milliseconds (wall clock), DurationMs its length.
type lastCheck struct {
	OK         bool    `json:"ok"`
	AtMs       int64   `json:"at_ms"`
	DurationMs int64   `json:"duration_ms"`
	Error      *string `json:"error"`
	PID        *int    `json:"pid"` // the reference zinit names the run; another may not
}

// statusPoller polls `zinit status <svc> --json` and reports changes, and
// repeats an unchanged status every heartbeat (so a judge can tell "stayed
// failed" from "not looked at").
type statusPoller struct {
	cli       string
	services  []string
	mono      Mono
	exec      func(ctx context.Context, argv []string) ([]byte, error)
	last      map[string]statusKey
	lastSent  map[string]int64
	heartbeat time.Duration // 0: changes only
	// wall reads the wall clock zinit stamps last_check with (nil: no
	// check_exit events from last_check).
	wall func() time.Time
	// checks is the last last_check seen per service and job; prevT0 is
	// when the previous successful query of a service started.
	checks map[string]lastCheck
	prevT0 map[string]int64
}

// lastCheckDetail starts the Detail (for people) of a check_exit the agent
// derived from zinit's last_check. Such an event has Source
// scenarios.SourceZinitLastCheck, and the run's PID when zinit names it
// (0 otherwise): the harness pairs it with the run it saw,
// or makes a run of it when the agent missed that run altogether.
const lastCheckDetail = "zinit last_check"

// checkEvents turns each check job's new last_check into a check_exit
// event dated on the monotonic clock: zinit stamps the run's start in wall
// milliseconds, so its end is mapped through the wall and monotonic clocks
// read together at t1 (ErrNs covers the two truncated milliseconds), and
// kept within [prevT0, t1], where the query saw it first. DurNs is the
// run's length (its start is TNs − DurNs); OK and, when the error names
// them, Code or Signal say how it ended.
func (sp *statusPoller) checkEvents(svc string, st looseStatus, t0, t1 int64, wallNow time.Time) []scenarios.Event {
	var out []scenarios.Event
	for _, j := range st.Jobs {
		lc := j.LastCheck
		if lc == nil || (j.Trigger != "" && j.Trigger != "check") {
			continue
		}
		key := svc + "\x00" + j.Name
		if prev, ok := sp.checks[key]; ok && prev.AtMs == lc.AtMs && prev.OK == lc.OK && prev.DurationMs == lc.DurationMs {
			continue
		}
		if sp.checks == nil {
			sp.checks = map[string]lastCheck{}
		}
		sp.checks[key] = *lc
		endMs := lc.AtMs + lc.DurationMs
		// The true end is in [endMs, endMs+2) ms: both values are truncated.
		t := t1 - (wallNow.UnixNano() - endMs*int64(time.Millisecond)) + int64(time.Millisecond)
		errNs := int64(time.Millisecond)
		// zinit records the result when the run ends: after the previous
		// query that did not show it began, and before this one ended. A
		// mapping outside that window (the wall clock stepped) gives way
		// to the window itself.
		lo := sp.prevT0[svc]
		switch {
		case t-errNs > t1 || (lo > 0 && t+errNs < lo):
			t, errNs = t1, t1-lo
			if lo == 0 {
				errNs = t1 - t0
			}
		case t > t1:
			t = t1
		case lo > 0 && t < lo:
			t = lo
		}
		ok := lc.OK
		pid := 0
		if lc.PID != nil {
			pid = *lc.PID
		}
		ev := scenarios.Event{TNs: t, ErrNs: errNs, Kind: scenarios.EventCheckExit, Service: svc, Job: j.Name, PID: pid,
			OK: &ok, DurNs: lc.DurationMs * int64(time.Millisecond),
			Source: scenarios.SourceZinitLastCheck, LastCheckAtMs: lc.AtMs,
			Detail: fmt.Sprintf("%s at_ms=%d duration_ms=%d", lastCheckDetail, lc.AtMs, lc.DurationMs)}
		switch {
		case lc.OK:
			c := 0
			ev.Code = &c
		case lc.Error != nil:
			ev.Detail += ": " + *lc.Error
			if m := checkCodeRE.FindStringSubmatch(*lc.Error); m != nil {
				c, _ := strconv.Atoi(m[1])
				ev.Code = &c
			} else if m := checkSignalRE.FindStringSubmatch(*lc.Error); m != nil {
				ev.Signal = m[1]
			}
		}
		out = append(out, ev)
	}
	return out
}

// How the reference zinit words a failed run: "exit code 1", "killed by SIGKILL".
var (
	checkCodeRE   = regexp.MustCompile(`\bexit (?:code|status) (\d+)\b`)
	checkSignalRE = regexp.MustCompile(`\bkilled by (SIG[A-Z0-9]+)\b`)
)

// listThreshold: above this many services one `zinit list --json` per
// poll replaces one `zinit status` per service.
const listThreshold = 2

// query asks zinit for the watched services' status: one status call each,
// or one list call for many. It returns, per service, the status or the
// error, and the span [t0, t1] of the asking.
func (sp *statusPoller) query(ctx context.Context, timeout time.Duration) (map[string]looseStatus, map[string]error, int64, int64) {
	sts, errs := map[string]looseStatus{}, map[string]error{}
	t0 := sp.mono()
	if len(sp.services) > listThreshold {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		b, err := sp.exec(cctx, []string{sp.cli, "list", "--json"})
		cancel()
		var list []looseStatus
		if err == nil {
			err = json.Unmarshal(b, &list)
		}
		for _, st := range list {
			sts[st.Name] = st
		}
		for _, svc := range sp.services {
			if _, ok := sts[svc]; !ok {
				if err == nil {
					errs[svc] = fmt.Errorf("%s: not in zinit list", svc)
				} else {
					errs[svc] = err
				}
			}
		}
		return sts, errs, t0, sp.mono()
	}
	for _, svc := range sp.services {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		b, err := sp.exec(cctx, []string{sp.cli, "status", svc, "--json"})
		cancel()
		var st looseStatus
		if err == nil {
			err = json.Unmarshal(b, &st)
		}
		if err != nil {
			errs[svc] = err
		} else {
			sts[svc] = st
		}
	}
	return sts, errs, t0, sp.mono()
}

func (sp *statusPoller) step(ctx context.Context, timeout time.Duration) []scenarios.Event {
	var out []scenarios.Event
	sts, errs, t0, t1 := sp.query(ctx, timeout)
	if ctx.Err() != nil {
		return nil
	}
	if sp.wall != nil {
		wallNow := sp.wall()
		if sp.prevT0 == nil {
			sp.prevT0 = map[string]int64{}
		}
		for _, svc := range sp.services {
			if errs[svc] == nil {
				out = append(out, sp.checkEvents(svc, sts[svc], t0, t1, wallNow)...)
				sp.prevT0[svc] = t0
			}
		}
	}
	for _, svc := range sp.services {
		k := statusKey{exitCode: -1}
		err := errs[svc]
		if err != nil {
			k.reason = "status error: " + firstLine(err.Error())
		} else {
			st := sts[svc]
			k.state, k.restarts = st.State, st.Restarts
			if st.Reason != nil {
				k.reason = *st.Reason
			}
			if st.PID != nil {
				k.pid = *st.PID
			}
			if le := st.LastExit; le != nil {
				k.exitAt = le.AtMs
				if le.Code != nil {
					k.exitCode = *le.Code
				}
				if le.Signal != nil {
					k.exitSig = *le.Signal
				}
			}
		}
		// The state held at some moment of [t0, t1]: dated at t1, so a
		// status never predates its cause; the asking's span is the error.
		t := t1
		var detail []string
		if prev, ok := sp.last[svc]; ok && prev == k {
			if sp.heartbeat <= 0 || t-sp.lastSent[svc] < int64(sp.heartbeat) {
				continue
			}
			detail = append(detail, "unchanged")
		}
		if k.exitAt != 0 {
			// Identifies the last exit, so a judge can pair it with the
			// exit the agent saw.
			detail = append(detail, "last_exit_at_ms="+strconv.FormatInt(k.exitAt, 10))
		}
		sp.last[svc] = k
		if sp.lastSent == nil {
			sp.lastSent = map[string]int64{}
		}
		sp.lastSent[svc] = t
		ev := scenarios.Event{TNs: t, ErrNs: t1 - t0, Kind: scenarios.EventStatus,
			Service: svc, State: k.state, Reason: k.reason, PID: k.pid, Signal: k.exitSig, LastExitAtMs: k.exitAt,
			Detail: strings.Join(detail, " ")}
		if err == nil {
			r := k.restarts
			ev.Restarts = &r
		}
		if k.exitCode >= 0 {
			c := k.exitCode
			ev.Code = &c
		}
		out = append(out, ev)
	}
	return out
}

func (sp *statusPoller) loop(ctx context.Context, clk clock.WithTicker, period time.Duration, emit func(scenarios.Event)) {
	t := clk.NewTicker(period)
	defer t.Stop()
	timeout := max(2*time.Second, 5*period)
	for {
		for _, e := range sp.step(ctx, timeout) {
			emit(e)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// execOutput runs argv and returns its stdout; a non-zero exit is an error
// carrying stderr's first line.
func execOutput(ctx context.Context, argv []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = nil
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.Env = os.Environ()
	out, err := cmd.Output()
	if err != nil {
		if s := strings.TrimSpace(stderr.String()); s != "" {
			return out, fmt.Errorf("%s: %w: %s", argv[0], err, firstLine(s))
		}
		return out, fmt.Errorf("%s: %w", argv[0], err)
	}
	return out, nil
}
