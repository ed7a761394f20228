package oracle_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sebdah/goldie/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos/oracle"
	"github.com/zchaos/zchaos/scenarios"
	"github.com/zchaos/zchaos/zinit"
)

// tl builds a synthetic event timeline; times are milliseconds since the
// scenario's start.
type tl struct {
	evs []scenarios.Event
	pid int
	err int64 // ErrNs given to the next events
}

const svc = "user.hero_embedder_server"

func newTL() *tl { return &tl{pid: 100} }

func ms(v float64) int64 { return int64(v * float64(time.Millisecond)) }
func ip(v int) *int      { return &v }
func bp(v bool) *bool    { return &v }

func (b *tl) add(at float64, ev scenarios.Event) *tl {
	ev.TNs = ms(at)
	if ev.Service == "" {
		ev.Service = svc
	}
	if ev.ErrNs == 0 {
		ev.ErrNs = b.err
	}
	b.evs = append(b.evs, ev)
	return b
}

// spawn starts a main process and returns its pid.
func (b *tl) spawn(at float64) int {
	b.pid++
	b.add(at, scenarios.Event{Kind: scenarios.EventSpawn, Job: "main", PID: b.pid, PGID: b.pid})
	return b.pid
}

func (b *tl) exit(at float64, pid, code int) *tl {
	return b.add(at, scenarios.Event{Kind: scenarios.EventExit, Job: "main", PID: pid, Code: ip(code)})
}

func (b *tl) killed(at float64, pid int, sig string) *tl {
	return b.add(at, scenarios.Event{Kind: scenarios.EventExit, Job: "main", PID: pid, Signal: sig})
}

// fault injects a fault whose effect is seen 1 ms later.
func (b *tl) fault(at float64, k scenarios.FaultKind) *tl {
	b.add(at, scenarios.Event{Kind: scenarios.EventFault, Fault: string(k)})
	return b.add(at+1, scenarios.Event{Kind: scenarios.EventEffect, Fault: string(k), OK: bp(true), Detail: "seen"})
}

func (b *tl) faultUnseen(at float64, k scenarios.FaultKind, detail string) *tl {
	b.add(at, scenarios.Event{Kind: scenarios.EventFault, Fault: string(k)})
	if detail != "" {
		b.add(at+500, scenarios.Event{Kind: scenarios.EventEffect, Fault: string(k), OK: bp(false), Detail: detail})
	}
	return b
}

func (b *tl) revert(at float64, k scenarios.FaultKind) *tl {
	return b.add(at, scenarios.Event{Kind: scenarios.EventRevert, Fault: string(k)})
}

func (b *tl) action(at float64, what string) *tl {
	return b.add(at, scenarios.Event{Kind: scenarios.EventAction, Detail: what})
}

func (b *tl) probe(at float64, ok bool) *tl {
	return b.add(at, scenarios.Event{Kind: scenarios.EventProbe, OK: bp(ok), DurNs: ms(2)})
}

func (b *tl) status(at float64, state string, restarts int, reason string) *tl {
	return b.add(at, scenarios.Event{Kind: scenarios.EventStatus, State: state, Restarts: ip(restarts), Reason: reason})
}

// check adds a check run from start to end with an exit code; end < 0
// leaves it running.
func (b *tl) check(start, end float64, code int) *tl {
	b.pid++
	p := b.pid
	b.add(start, scenarios.Event{Kind: scenarios.EventCheckSpawn, Job: "check", PID: p})
	if end >= 0 {
		b.add(end, scenarios.Event{Kind: scenarios.EventCheckExit, Job: "check", PID: p, Code: ip(code)})
	}
	return b
}

// checkKilled adds a check run killed by a signal at end (a timeout).
func (b *tl) checkKilled(start, end float64) *tl {
	b.pid++
	p := b.pid
	b.add(start, scenarios.Event{Kind: scenarios.EventCheckSpawn, Job: "check", PID: p})
	return b.add(end, scenarios.Event{Kind: scenarios.EventCheckExit, Job: "check", PID: p, Signal: "SIGKILL"})
}

func (b *tl) zombie(at float64, pid int, ageMs float64, job string) *tl {
	return b.add(at, scenarios.Event{Kind: scenarios.EventZombie, PID: pid, DurNs: ms(ageMs), Job: job})
}

func (b *tl) stray(at float64, pid, pgid int) *tl {
	return b.add(at, scenarios.Event{Kind: scenarios.EventStray, PID: pid, PGID: pgid, Cmdline: "sleep 1000"})
}

// canary adds the agent's timer-lateness windows (250 ms each) over
// [fromMs, toMs], every one with lateMs as its worst tick (0: 0.05 ms).
func (b *tl) canary(fromMs, toMs, lateMs float64) *tl {
	if lateMs == 0 {
		lateMs = 0.05
	}
	for at := fromMs + 250; at <= toMs+250; at += 250 {
		b.evs = append(b.evs, scenarios.Event{TNs: ms(at), DurNs: ms(250), Kind: scenarios.EventCanary,
			LateMaxNs: ms(lateMs), LateP50Ns: ms(lateMs) / 2, Ticks: 25})
	}
	return b
}

func (b *tl) events() []scenarios.Event {
	out := append([]scenarios.Event(nil), b.evs...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].TNs < out[j].TNs })
	return out
}

// models (already at scale 1).
func migrated(policy zinit.RestartPolicy, dMs, n int) oracle.JobModel {
	return oracle.JobModel{Service: svc, Restart: policy, RestartDelay: time.Duration(dMs) * time.Millisecond,
		MaxRestarts: n, StartJob: "main"}
}

func withCheck(m oracle.JobModel, iMs, tMs int) oracle.JobModel {
	m.HasCheck, m.CheckJob = true, "check"
	m.Interval, m.Timeout = time.Duration(iMs)*time.Millisecond, time.Duration(tMs)*time.Millisecond
	return m
}

func legacy() oracle.JobModel {
	return oracle.JobModel{Service: svc, Legacy: true, Restart: zinit.RestartNever, RestartDelay: zinit.DefaultRestartDelay}
}

func scen(recover bool, faults ...scenarios.FaultKind) scenarios.Scenario {
	s := scenarios.Scenario{Name: "t", Target: svc, Expect: scenarios.Expectation{Recover: recover}}
	for _, f := range faults {
		s.Faults = append(s.Faults, scenarios.Fault{Kind: f})
	}
	return s
}

// reloadScen is the catalogue's reload-keeps-job-services as judged.
func reloadScen() scenarios.Scenario {
	s := scen(true, scenarios.FaultReload)
	s.Expect.Invariants = []string{"C1"}
	return s
}

type oracleCase struct {
	name     string
	scenario scenarios.Scenario
	model    oracle.JobModel
	params   func(*oracle.Params)
	build    func(b *tl)
	endMs    float64
	verdict  scenarios.Verdict
	checks   map[string]scenarios.Verdict // checks that must be present with these verdicts
	absent   []string                     // checks that must not be judged
	reason   string                       // substring of the judgement's reason
	check    map[string]string            // substring of a check's reason
	lateMs   float64                      // the canary's lateness over the whole run (default 0.05 ms: on time)
	noCanary bool                         // no canary events at all
}

func (c oracleCase) judge() oracle.Judgement {
	p := oracle.DefaultParams(1)
	if c.params != nil {
		c.params(&p)
	}
	b := newTL()
	c.build(b)
	if !c.noCanary {
		b.canary(0, c.endMs, c.lateMs)
	}
	return oracle.Judge(oracle.JudgeInput{
		Scenario: c.scenario, Config: "migrated", Model: c.model, Events: b.events(), Params: p,
		End: time.Duration(ms(c.endMs)),
	})
}

func checkOf(j oracle.Judgement, id string) *scenarios.InvariantCheck {
	for i := range j.Checks {
		if j.Checks[i].ID == id {
			return &j.Checks[i]
		}
	}
	return nil
}

// Timelines shared by several cases.

// killRestart: kill at 1 s, the supervisor restarts after gapMs.
func killRestart(gapMs float64) func(b *tl) {
	return func(b *tl) {
		p := b.spawn(0)
		b.probe(500, true)
		b.fault(1000, scenarios.FaultKill).killed(1001, p, "SIGKILL")
		b.status(1006, "restarting", 0, "")
		if gapMs >= 0 {
			b.spawn(1001 + gapMs)
			b.status(1001+gapMs+20, "running", 1, "")
			b.probe(1001+gapMs+150, true)
		}
	}
}

// crashLoop: N=3, d=250: spawns at 0, then crash loop from 1 s; spawns is
// how many spawns the supervisor made in all.
func crashLoop(spawns int, statusState, reason string) func(b *tl) {
	return func(b *tl) {
		p := b.spawn(0)
		b.fault(1000, scenarios.FaultCrashLoop).exit(1001, p, 1)
		at := 1001.0
		for i := 1; i < spawns; i++ {
			at += 250
			p = b.spawn(at)
			b.exit(at+10, p, 1)
			at += 10
		}
		if statusState != "" {
			for _, s := range []float64{at + 300, at + 3000, at + 5300} {
				b.status(s, statusState, min(spawns-1, 3), reason)
			}
		}
	}
}

// hang: checks I=2 s, T=1 s; SIGSTOP at 5 s; the check at 6.1 s times out
// and the supervisor kills the main process unless caught is false.
func hang(caught bool, respawnGap float64) func(b *tl) {
	return func(b *tl) {
		p := b.spawn(0)
		b.check(2000, 2050, 0).check(4050, 4100, 0)
		b.probe(4500, true)
		b.fault(5000, scenarios.FaultHang)
		if !caught {
			b.check(6100, -1, 0)
			return
		}
		b.checkKilled(6100, 7100).killed(7102, p, "SIGKILL")
		if respawnGap >= 0 {
			q := b.spawn(7102 + respawnGap)
			b.probe(7102+respawnGap+150, true)
			b.check(7102+respawnGap+2000, 7102+respawnGap+2030, 0)
			_ = q
		}
	}
}

func TestJudgeInvariants(t *testing.T) {
	onFail := migrated(zinit.RestartOnFailure, 250, 0)
	always := migrated(zinit.RestartAlways, 250, 0)
	never := migrated(zinit.RestartNever, 250, 0)
	limited := migrated(zinit.RestartOnFailure, 250, 3)
	checked := withCheck(migrated(zinit.RestartOnFailure, 250, 0), 2000, 1000)
	P, F, I := scenarios.VerdictPass, scenarios.VerdictFail, scenarios.VerdictInconclusive

	cases := []oracleCase{
		// R1 / R2 / recover
		{name: "kill restarted after d", scenario: scen(true, scenarios.FaultKill), model: onFail,
			build: killRestart(251), endMs: 8000, verdict: P,
			checks: map[string]scenarios.Verdict{"R1": P, "R2": P, "S1": P, "P1": P, "C1": P, "recover": P, "effect": P},
			absent: []string{"R3", "R4", "R5", "R6", "R7", "H1", "H2"},
			reason: "restarted after 252 ms (d=250 ms), healthy after 402 ms"},
		{name: "R1 restart too early", scenario: scen(true, scenarios.FaultKill), model: onFail,
			build: killRestart(100), endMs: 8000, verdict: F,
			checks: map[string]scenarios.Verdict{"R1": F, "R2": P, "recover": P},
			reason: "R1: restarted after 100 ms, before d=250 ms"},
		{name: "R1 restart with no delay (supervisord)", scenario: scen(true, scenarios.FaultKill), model: onFail,
			build: killRestart(2), endMs: 8000, verdict: F,
			checks: map[string]scenarios.Verdict{"R1": F},
			reason: "R1: restarted after 2 ms: no delay (d=250 ms)"},
		{name: "R1 restart too late", scenario: scen(true, scenarios.FaultKill), model: onFail,
			build: killRestart(900), endMs: 8000, verdict: F,
			checks: map[string]scenarios.Verdict{"R1": F, "R2": P},
			reason: "R1: restarted after 900 ms, later than d+ε=500 ms"},
		{name: "R1 lower bound allows granularity", scenario: scen(true, scenarios.FaultKill), model: onFail,
			build: killRestart(246), endMs: 8000, verdict: P,
			checks: map[string]scenarios.Verdict{"R1": P}},
		{name: "R1 lower bound is strict beyond granularity", scenario: scen(true, scenarios.FaultKill), model: onFail,
			build: killRestart(240), endMs: 8000, verdict: F,
			checks: map[string]scenarios.Verdict{"R1": F}},
		{name: "R1 lower bound widens by the events' errors", scenario: scen(true, scenarios.FaultKill), model: onFail,
			build: func(b *tl) { b.err = ms(10); killRestart(240)(b) }, endMs: 8000, verdict: P,
			checks: map[string]scenarios.Verdict{"R1": P}},
		{name: "R2 always not restarted", scenario: scen(true, scenarios.FaultKill), model: always,
			build: killRestart(-1), endMs: 8000, verdict: F,
			checks: map[string]scenarios.Verdict{"R1": F, "R2": F, "recover": F},
			reason: "not restarted within 7.00 s of the kill (d=250 ms)",
			check:  map[string]string{"R2": "not restarted within 7.00 s of SIGKILL (policy always)"}},
		{name: "R2 always restarts after exit 0", scenario: scen(false, scenarios.FaultExit), model: always,
			build: func(b *tl) {
				p := b.spawn(0)
				b.fault(1000, scenarios.FaultExit).exit(1001, p, 0)
				b.spawn(1252)
			}, endMs: 3000, verdict: P, checks: map[string]scenarios.Verdict{"R1": P, "R2": P}},
		{name: "R2 on-failure restarted after exit 0", scenario: scen(false, scenarios.FaultExit), model: onFail,
			build: func(b *tl) {
				p := b.spawn(0)
				b.fault(1000, scenarios.FaultExit).exit(1001, p, 0)
				b.spawn(1251)
			}, endMs: 8000, verdict: F, checks: map[string]scenarios.Verdict{"R2": F},
			absent: []string{"R1"},
			reason: "R2: restarted 250 ms after exit 0 though policy on-failure"},
		{name: "R2 on-failure stays down after exit 0", scenario: scen(false, scenarios.FaultExit), model: onFail,
			build: func(b *tl) {
				p := b.spawn(0)
				b.fault(1000, scenarios.FaultExit).exit(1001, p, 0)
			}, endMs: 6100, verdict: P, checks: map[string]scenarios.Verdict{"R2": P}},
		{name: "R2 quiet window cut short", scenario: scen(false, scenarios.FaultExit), model: onFail,
			build: func(b *tl) {
				p := b.spawn(0)
				b.fault(1000, scenarios.FaultExit).exit(1001, p, 0)
			}, endMs: 3000, verdict: I, checks: map[string]scenarios.Verdict{"R2": I},
			reason: "R2: quiet window cut short: observation ended after 2.00 s of W=5.00 s (exit 0)"},
		{name: "R2 never respawned", scenario: scen(false, scenarios.FaultKill), model: never,
			build: killRestart(250), endMs: 8000, verdict: F, checks: map[string]scenarios.Verdict{"R2": F},
			reason: "R2: restarted 250 ms after SIGKILL though policy never"},
		{name: "R2 exit status unknown under on-failure", scenario: scen(false), model: onFail,
			build: func(b *tl) {
				p := b.spawn(0)
				b.add(1000, scenarios.Event{Kind: scenarios.EventExit, Job: "main", PID: p})
			}, endMs: 8000, verdict: I, checks: map[string]scenarios.Verdict{"R2": I}},
		{name: "legacy kill never restarted", scenario: scen(true, scenarios.FaultKill), model: legacy(),
			build: func(b *tl) {
				b.add(0, scenarios.Event{Kind: scenarios.EventSpawn, PID: 7})
				b.probe(500, true)
				b.fault(1000, scenarios.FaultKill)
				b.add(1001, scenarios.Event{Kind: scenarios.EventExit, PID: 7, Signal: "SIGKILL"})
				b.status(1100, "inactive", 0, "")
			}, endMs: 10000, verdict: F,
			checks: map[string]scenarios.Verdict{"R2": P, "recover": F},
			reason: "not restarted within 9.00 s of the kill (policy never, legacy)"},

		// R3 / R4
		{name: "R3 stop stays down", scenario: scen(false, scenarios.FaultStop), model: onFail,
			build: func(b *tl) {
				p := b.spawn(0)
				b.status(500, "running", 0, "")
				b.fault(1000, scenarios.FaultStop).killed(1050, p, "SIGTERM")
				b.status(1100, "inactive", 0, "").status(5000, "inactive", 0, "")
			}, endMs: 7000, verdict: P, checks: map[string]scenarios.Verdict{"R3": P, "C1": P},
			absent: []string{"R1", "R2"}},
		{name: "R3 respawned after stop", scenario: scen(false, scenarios.FaultStop), model: onFail,
			build: func(b *tl) {
				p := b.spawn(0)
				b.fault(1000, scenarios.FaultStop).killed(1050, p, "SIGTERM")
				b.spawn(1300)
			}, endMs: 7000, verdict: F, checks: map[string]scenarios.Verdict{"R3": F},
			reason: "R3: respawned 300 ms after the stop"},
		{name: "R3 failed state after stop", scenario: scen(false, scenarios.FaultStop), model: onFail,
			build: func(b *tl) {
				p := b.spawn(0)
				b.fault(1000, scenarios.FaultStop).killed(1050, p, "SIGTERM")
				b.status(1100, "failed", 0, "")
			}, endMs: 7000, verdict: F, checks: map[string]scenarios.Verdict{"R3": F},
			check: map[string]string{"R3": "state failed 100 ms after the stop"}},
		{name: "R3 stop counted as a restart", scenario: scen(false, scenarios.FaultStop), model: onFail,
			build: func(b *tl) {
				p := b.spawn(0)
				b.status(500, "running", 0, "")
				b.fault(1000, scenarios.FaultStop).killed(1050, p, "SIGTERM")
				b.status(1100, "inactive", 1, "")
			}, endMs: 7000, verdict: F, checks: map[string]scenarios.Verdict{"R3": F, "C1": F},
			check: map[string]string{"R3": "restart count went from 0 to 1 after the stop"}},
		{name: "R3 process ignores the stop", scenario: scen(false, scenarios.FaultStop), model: onFail,
			build: func(b *tl) {
				b.spawn(0)
				b.fault(1000, scenarios.FaultStop)
			}, endMs: 15000, verdict: F, checks: map[string]scenarios.Verdict{"R3": F},
			check: map[string]string{"R3": "pid 101 still running 14.0 s after the stop (S=10.0 s)"}},
		// The soak's case: the stop, sent late by a loaded harness, took
		// effect as the restart was due; zinit restarted (and counted),
		// then stopped an incarnation too brief for the agent to see.
		{name: "R3 stop raced the due restart", scenario: scen(false, scenarios.FaultKill, scenarios.FaultStop),
			model: migrated(zinit.RestartOnFailure, 250, 0),
			build: func(b *tl) {
				p := b.spawn(0)
				b.status(500, "running", 0, "")
				b.fault(1000, scenarios.FaultKill).killed(1001, p, "SIGKILL")
				b.status(1010, "restarting", 0, "").status(1200, "restarting", 0, "")
				b.fault(1250, scenarios.FaultStop)
				b.status(1262, "inactive", 1, "").status(3000, "inactive", 1, "")
				b.canary(0, 7000, 0.1)
			}, endMs: 7000, verdict: I, checks: map[string]scenarios.Verdict{"R3": I, "C1": I}},
		// Soak C's case: the restart came just before the late stop, after
		// the last status poll: its count is not the stop's.
		{name: "R3 restart between the last poll and the stop", scenario: scen(false, scenarios.FaultKill, scenarios.FaultStop),
			model: migrated(zinit.RestartOnFailure, 250, 0),
			build: func(b *tl) {
				p := b.spawn(0)
				b.status(500, "running", 0, "")
				b.fault(1000, scenarios.FaultKill).killed(1001, p, "SIGKILL")
				b.status(1036, "restarting", 0, "").status(1237, "restarting", 0, "")
				p = b.spawn(1258)
				b.fault(1260, scenarios.FaultStop).killed(1263, p, "SIGTERM")
				b.status(1285, "inactive", 1, "").status(3000, "inactive", 1, "")
				b.canary(0, 7000, 0.1)
			}, endMs: 7000, verdict: P, checks: map[string]scenarios.Verdict{"R3": P, "C1": P}},
		{name: "R3 stop in the delay, then counted", scenario: scen(false, scenarios.FaultKill, scenarios.FaultStop),
			model: migrated(zinit.RestartOnFailure, 250, 0),
			build: func(b *tl) {
				p := b.spawn(0)
				b.status(500, "running", 0, "")
				b.fault(1000, scenarios.FaultKill).killed(1001, p, "SIGKILL")
				b.status(1010, "restarting", 0, "")
				b.fault(1100, scenarios.FaultStop)
				b.status(1120, "inactive", 1, "").status(3000, "inactive", 1, "")
				b.canary(0, 7000, 0.1)
			}, endMs: 7000, verdict: F, checks: map[string]scenarios.Verdict{"R3": F},
			check: map[string]string{"R3": "restart count went from 0 to 1 after the stop"}},
		{name: "R4 stop cancels pending restart", scenario: scen(false, scenarios.FaultKill, scenarios.FaultStop),
			model: migrated(zinit.RestartOnFailure, 1000, 0),
			build: func(b *tl) {
				p := b.spawn(0)
				b.fault(1000, scenarios.FaultKill).killed(1001, p, "SIGKILL")
				b.fault(1300, scenarios.FaultStop)
			}, endMs: 7500, verdict: P, checks: map[string]scenarios.Verdict{"R4": P, "R3": P},
			absent: []string{"R1"}},
		{name: "R4 restart after stop during delay", scenario: scen(false, scenarios.FaultKill, scenarios.FaultStop),
			model: migrated(zinit.RestartOnFailure, 1000, 0),
			build: func(b *tl) {
				p := b.spawn(0)
				b.fault(1000, scenarios.FaultKill).killed(1001, p, "SIGKILL")
				b.fault(1300, scenarios.FaultStop)
				b.spawn(2001)
			}, endMs: 7500, verdict: F, checks: map[string]scenarios.Verdict{"R4": F, "R3": F},
			reason: "R3: respawned 701 ms after the stop",
			check:  map[string]string{"R4": "restarted 1.00 s after the exit though a stop came 299 ms into the delay (d=1.00 s)"}},

		// R5 / R6 / R7
		{name: "R5 crash loop exact", scenario: scen(false, scenarios.FaultCrashLoop), model: limited,
			build: crashLoop(4, "failed", "restart_limit"), endMs: 8000, verdict: P,
			checks: map[string]scenarios.Verdict{"R1": P, "R5": P, "R6": P, "C1": P}},
		{name: "R5 one restart too many (off-by-one)", scenario: scen(false, scenarios.FaultCrashLoop), model: limited,
			build: crashLoop(5, "failed", "restart_limit"), endMs: 8000, verdict: F,
			checks: map[string]scenarios.Verdict{"R5": F, "R6": F},
			reason: "R5: 5 spawns, want exactly 1+N=4 (one too many)"},
		{name: "R5 one restart too few", scenario: scen(false, scenarios.FaultCrashLoop), model: limited,
			build: crashLoop(3, "failed", "restart_limit"), endMs: 8000, verdict: F,
			checks: map[string]scenarios.Verdict{"R5": F},
			check:  map[string]string{"R5": "gave up after 3 spawns, want 1+N=4 (one too few)"}},
		{name: "R5 quiet window cut short", scenario: scen(false, scenarios.FaultCrashLoop), model: limited,
			build: crashLoop(4, "failed", "restart_limit"), endMs: 3000, verdict: I,
			checks: map[string]scenarios.Verdict{"R5": I, "R6": I}},
		{name: "R6 inactive after the limit", scenario: scen(false, scenarios.FaultCrashLoop), model: limited,
			build: crashLoop(4, "inactive", ""), endMs: 8000, verdict: F,
			checks: map[string]scenarios.Verdict{"R5": P, "R6": F},
			reason: "R6: state inactive 300 ms after the limit, want failed"},
		{name: "R6 failed without naming the limit", scenario: scen(false, scenarios.FaultCrashLoop), model: limited,
			build: crashLoop(4, "failed", "spawn_error"), endMs: 8000, verdict: F,
			checks: map[string]scenarios.Verdict{"R6": F}},
		{name: "R6 no status", scenario: scen(false, scenarios.FaultCrashLoop), model: limited,
			build: crashLoop(4, "", ""), endMs: 8000, verdict: I,
			checks: map[string]scenarios.Verdict{"R5": P, "R6": I}},
		{name: "R7 start after the limit, fresh restarts", scenario: scen(false, scenarios.FaultCrashLoop, scenarios.FaultStart),
			model: limited,
			build: loopAgainAfterStart(3, 3), endMs: 14000, verdict: P,
			checks: map[string]scenarios.Verdict{"R5": P, "R6": P, "R7": P, "R1": P}},
		{name: "C1 lifetime restart count across a start", scenario: scen(false, scenarios.FaultCrashLoop, scenarios.FaultStart),
			model: limited,
			// The reference zinit reports restarts over the service's life.
			build: loopAgainAfterStart(6, 6), endMs: 14000, verdict: P,
			checks: map[string]scenarios.Verdict{"R7": P, "C1": P}},
		// The soak's case: the first spawn after the start dies 8 ms
		// later, and the errors of a spawn (one starttime tick) are wider
		// than the gap: the start still explains that spawn only, not the
		// next.
		{name: "C1 a start just before a quick crash", scenario: scen(false, scenarios.FaultCrashLoop, scenarios.FaultStart),
			model: limited,
			build: func(b *tl) {
				crashLoop(4, "failed", "restart_limit")(b)
				b.fault(7100, scenarios.FaultStart)
				b.err = 7 * int64(time.Millisecond)
				at := 7103.0
				for i := 0; i < 4; i++ {
					p := b.spawn(at)
					b.add(at+8, scenarios.Event{Kind: scenarios.EventExit, Job: "main", PID: p, Code: ip(1), ErrNs: 2600 * int64(time.Microsecond)})
					at += 260
				}
				b.err = 0
				b.status(at+300, "failed", 6, "restart_limit")
			}, endMs: 14000, verdict: P,
			checks: map[string]scenarios.Verdict{"R7": P, "C1": P}},
		// Soak C's case: the incarnation the start caused died 7 ms after
		// the start, within the error bars of its exit: the start had
		// already caused a spawn and causes no other.
		{name: "C1 a start caused one spawn only", scenario: scen(false, scenarios.FaultCrashLoop, scenarios.FaultStart),
			model: limited,
			build: func(b *tl) {
				crashLoop(4, "failed", "restart_limit")(b)
				b.fault(7100, scenarios.FaultStart)
				at := 7102.6
				for i := 0; i < 4; i++ {
					b.err = 3900 * int64(time.Microsecond)
					p := b.spawn(at)
					b.add(at+4.4, scenarios.Event{Kind: scenarios.EventExit, Job: "main", PID: p, Code: ip(1), ErrNs: 3300 * int64(time.Microsecond)})
					b.err = 0
					b.status(at+10, "running", 3+i, "")
					at += 260
				}
				b.status(at+300, "failed", 6, "restart_limit")
			}, endMs: 14000, verdict: P,
			checks: map[string]scenarios.Verdict{"R7": P, "C1": P}},
		{name: "C1 lifetime count off by one across a start", scenario: scen(false, scenarios.FaultCrashLoop, scenarios.FaultStart),
			model: limited,
			build: loopAgainAfterStart(7, -1), endMs: 14000, verdict: F,
			checks: map[string]scenarios.Verdict{"C1": F}},
		{name: "R7 no fresh restarts after start", scenario: scen(false, scenarios.FaultCrashLoop, scenarios.FaultStart),
			model: limited,
			build: func(b *tl) {
				crashLoop(4, "failed", "restart_limit")(b)
				b.fault(7100, scenarios.FaultStart)
				p := b.spawn(7110)
				b.exit(7120, p, 1)
			}, endMs: 14000, verdict: F,
			checks: map[string]scenarios.Verdict{"R7": F, "R5": F},
			check:  map[string]string{"R7": "no fresh restarts after the start: gave up after 0 (N=3)"}},
		// The soak's case: the agent missed one spawn of the second loop
		// (a hole), so a restart looks missing: not judged.
		{name: "R7 restart missing in a hole", scenario: scen(false, scenarios.FaultCrashLoop, scenarios.FaultStart),
			model: limited,
			build: func(b *tl) {
				crashLoop(4, "failed", "restart_limit")(b)
				b.fault(7100, scenarios.FaultStart)
				p := b.spawn(7110)
				b.exit(7120, p, 1)
				b.add(7400, scenarios.Event{Kind: scenarios.EventHole, Missed: 1, ErrNs: 50 * int64(time.Millisecond)})
			}, endMs: 14000, verdict: I,
			checks: map[string]scenarios.Verdict{"R7": I}},
		{name: "R7 first spawn after the start in a hole", scenario: scen(false, scenarios.FaultCrashLoop, scenarios.FaultStart),
			model: limited,
			build: func(b *tl) {
				crashLoop(4, "failed", "restart_limit")(b)
				b.fault(7100, scenarios.FaultStart)
				b.add(7130, scenarios.Event{Kind: scenarios.EventHole, Missed: 1, ErrNs: 10 * int64(time.Millisecond)})
				b.spawn(7400) // the next incarnation, still running
			}, endMs: 14000, verdict: I,
			checks: map[string]scenarios.Verdict{"R7": I}},
		{name: "R7 start ignored after the limit", scenario: scen(false, scenarios.FaultCrashLoop, scenarios.FaultStart),
			model: limited,
			build: func(b *tl) {
				crashLoop(4, "failed", "restart_limit")(b)
				b.fault(7100, scenarios.FaultStart)
			}, endMs: 14000, verdict: F,
			checks: map[string]scenarios.Verdict{"R7": F},
			check:  map[string]string{"R7": "not started within ε=250 ms of the start (state failed)"}},

		// H1..H6
		{name: "H2 hang caught", scenario: scen(true, scenarios.FaultHang), model: checked,
			build: hang(true, 250), endMs: 15000, verdict: P,
			checks: map[string]scenarios.Verdict{"H1": P, "H2": P, "H3": P, "H4": P, "H5": P, "H6": P, "R1": P, "recover": P},
			reason: "hang caught after 2.10 s (I+T+ε=3.90 s), restarted after 2.35 s, healthy after 2.50 s"},
		{name: "H2 hang undetected, check never killed (Kubernetes <1.20)", scenario: scen(true, scenarios.FaultHang), model: checked,
			build: hang(false, 0), endMs: 15000, verdict: F,
			checks: map[string]scenarios.Verdict{"H2": F, "H4": F, "recover": F},
			reason: "hang undetected: not restarted within 10.0 s of the hang (I+T+d+ε=4.22 s)",
			check: map[string]string{"H2": "hang undetected for 10.0 s (I+T+ε=3.90 s)",
				"H4": "check pid 104 still running 8.90 s after it started (T+ε=1.30 s): never killed"}},
		{name: "H2 hang caught late", scenario: scen(false, scenarios.FaultHang), model: checked,
			build: func(b *tl) {
				p := b.spawn(0)
				b.check(2000, 2050, 0)
				b.fault(5000, scenarios.FaultHang)
				b.checkKilled(8000, 9000).killed(9002, p, "SIGKILL")
				b.spawn(9252)
			}, endMs: 16000, verdict: F, checks: map[string]scenarios.Verdict{"H2": F},
			check: map[string]string{"H2": "hang caught after 4.00 s, later than I+T+ε=3.90 s"}},
		{name: "H2 hang undone before the deadline", scenario: scen(false, scenarios.FaultHang), model: checked,
			build: func(b *tl) {
				b.spawn(0)
				b.check(2000, 2050, 0)
				b.fault(5000, scenarios.FaultHang).revert(5500, scenarios.FaultHang)
				b.check(6100, 6150, 0)
			}, endMs: 16000, verdict: I, checks: map[string]scenarios.Verdict{"H2": I}},
		{name: "H2 unhealthy marked, never restarted (Docker)", scenario: scen(false), model: checked,
			build: func(b *tl) {
				b.spawn(0)
				b.check(2000, 2030, 1).check(4030, 4060, 1).check(6060, 6090, 1)
			}, endMs: 9000, verdict: F, checks: map[string]scenarios.Verdict{"H2": F},
			reason: "H2: check failed at 2.03 s (exit 1) but pid 101 was not killed for 6.97 s: marked unhealthy, never restarted"},
		{name: "H1 killed before the grace", scenario: scen(false), model: checked,
			build: func(b *tl) {
				p := b.spawn(0)
				b.check(500, 510, 1).killed(512, p, "SIGKILL")
				b.spawn(762)
			}, endMs: 9000, verdict: F, checks: map[string]scenarios.Verdict{"H1": F, "H5": P},
			check: map[string]string{"H1": "first check ran 500 ms after spawn of pid 101, before the grace I=2.00 s"}},
		{name: "H3 slow healthy answer killed", scenario: scen(false), model: withCheck(onFail, 2000, 2000),
			build: func(b *tl) {
				p := b.spawn(0)
				b.check(2000, 3500, 0).killed(3510, p, "SIGKILL")
			}, endMs: 9000, verdict: F, checks: map[string]scenarios.Verdict{"H3": F},
			check: map[string]string{"H3": "pid 101 killed 10 ms after a check answered in 1.50 s (< T=2.00 s)"}},
		{name: "H3 slow healthy answer kept", scenario: scen(false), model: withCheck(onFail, 2000, 2000),
			build: func(b *tl) {
				b.spawn(0)
				b.check(2000, 3900, 0).check(5900, 7800, 0)
			}, endMs: 9000, verdict: P, checks: map[string]scenarios.Verdict{"H3": P, "H4": P, "H1": P}},
		{name: "H4 two checks in flight", scenario: scen(false), model: checked,
			build: func(b *tl) {
				b.spawn(0)
				b.check(2000, 2900, 0).check(2500, 2600, 0)
			}, endMs: 5000, verdict: F, checks: map[string]scenarios.Verdict{"H4": F},
			check: map[string]string{"H4": "2 checks in flight at 2.50 s"}},
		{name: "H4 check zombie", scenario: scen(false), model: checked,
			build: func(b *tl) {
				b.spawn(0)
				b.check(2000, 2050, 0)
				b.zombie(3000, 555, 1500, "check")
			}, endMs: 5000, verdict: F, checks: map[string]scenarios.Verdict{"H4": F, "P1": F}},
		{name: "H5 check kill restarted with no delay", scenario: scen(true, scenarios.FaultHang), model: checked,
			build: hang(true, 3), endMs: 15000, verdict: F,
			checks: map[string]scenarios.Verdict{"H5": F, "R1": F, "recover": P},
			check:  map[string]string{"H5": "respawned 3 ms after the check kill, before d=250 ms"}},
		{name: "H5 check kill never restarted (Docker)", scenario: scen(true, scenarios.FaultHealthHang), model: checked,
			build: func(b *tl) {
				p := b.spawn(0)
				b.check(2000, 2050, 0)
				b.fault(3000, scenarios.FaultHealthHang)
				b.checkKilled(4050, 5050).killed(5052, p, "SIGKILL")
			}, endMs: 15000, verdict: F,
			checks: map[string]scenarios.Verdict{"H2": F, "H5": F, "recover": F},
			reason: "hang caught after 2.05 s (I+T+ε=3.90 s), not restarted within 9.95 s (policy on-failure)",
			check:  map[string]string{"H5": "killed by its check at 5.05 s, not restarted within 9.95 s (policy on-failure)"}},
		{name: "H5 policy never stays down after a check kill", scenario: scen(false, scenarios.FaultHealthHang),
			model: withCheck(never, 2000, 1000),
			build: func(b *tl) {
				p := b.spawn(0)
				b.fault(3000, scenarios.FaultHealthHang)
				b.checkKilled(2000, 3000).killed(3002, p, "SIGKILL")
			}, endMs: 10000, verdict: P, checks: map[string]scenarios.Verdict{"H5": P}},
		{name: "H5 policy never restarted after a check kill", scenario: scen(false, scenarios.FaultHealthHang),
			model: withCheck(never, 2000, 1000),
			build: func(b *tl) {
				p := b.spawn(0)
				b.fault(1500, scenarios.FaultHealthHang)
				b.checkKilled(2000, 3000).killed(3002, p, "SIGKILL")
				b.spawn(4002)
			}, endMs: 10000, verdict: F, checks: map[string]scenarios.Verdict{"H5": F},
			check: map[string]string{"H5": "restarted 1.00 s after a check kill though policy never"}},
		{name: "H6 check state carried over", scenario: scen(false, scenarios.FaultHang), model: checked,
			build: func(b *tl) {
				hang(true, 250)(b)
				b.check(7352+100, 7352+120, 0)
			}, endMs: 15000, verdict: F, checks: map[string]scenarios.Verdict{"H6": F, "H1": F},
			check: map[string]string{"H6": "first check of pid 105 ran 100 ms after its spawn, before I=2.00 s: check state carried over"}},
		{name: "H6 check while not running", scenario: scen(false, scenarios.FaultKill), model: checked,
			build: func(b *tl) {
				p := b.spawn(0)
				b.check(2000, 2010, 0)
				b.fault(3000, scenarios.FaultKill).killed(3001, p, "SIGKILL")
				b.check(3100, 3110, 1)
				q := b.spawn(3251)
				b.check(5251, 5260, 0)
				_ = q
			}, endMs: 9000, verdict: F, checks: map[string]scenarios.Verdict{"H6": F},
			check: map[string]string{"H6": "check pid 103 ran at 3.10 s while the service was not running"}},

		{name: "H2 health error never caught (probe ignores the answer)", scenario: scen(true, scenarios.FaultHealthError), model: checked,
			build: func(b *tl) {
				b.spawn(0)
				b.check(2000, 2030, 0)
				b.fault(3000, scenarios.FaultHealthError)
				b.check(4030, 4060, 0).check(6060, 6090, 0)
				b.probe(6500, false)
			}, endMs: 9000, verdict: F, checks: map[string]scenarios.Verdict{"H2": F, "recover": F},
			reason: "health error undetected: not restarted within 6.00 s of the health error (I+T+d+ε=4.22 s)",
			check:  map[string]string{"H2": "health error undetected for 6.00 s (I+T+ε=3.90 s)"}},
		{name: "check kill inferred when exit codes are unknown", scenario: scen(true, scenarios.FaultHealthError), model: checked,
			build: func(b *tl) {
				p := b.spawn(0)
				b.check(2000, 2030, 0)
				b.fault(3000, scenarios.FaultHealthError)
				b.add(4030, scenarios.Event{Kind: scenarios.EventCheckSpawn, Job: "check", PID: 900})
				b.add(4060, scenarios.Event{Kind: scenarios.EventCheckExit, Job: "check", PID: 900})
				b.add(4070, scenarios.Event{Kind: scenarios.EventExit, Job: "main", PID: p})
				b.spawn(4320)
				b.probe(4500, true)
				b.check(6320, 6350, 0)
			}, endMs: 12000, verdict: P,
			checks: map[string]scenarios.Verdict{"H2": P, "H5": P, "R1": P, "recover": P},
			absent: []string{"R2"},
			reason: "health error caught after 1.07 s (I+T+ε=3.90 s), restarted after 1.32 s, healthy after 1.50 s"},
		{name: "reload leaves the migrated service running", scenario: scen(true, scenarios.FaultReload), model: onFail,
			build: func(b *tl) {
				b.spawn(0)
				b.fault(1000, scenarios.FaultReload)
				b.probe(1500, true)
			}, endMs: 8000, verdict: P, checks: map[string]scenarios.Verdict{"recover": P},
			reason: "pid 101 kept running through the reload, healthy after 500 ms"},
		{name: "reload restarts the migrated service", scenario: reloadScen(), model: withCheck(migrated(zinit.RestartOnFailure, 250, 20), 3000, 1500),
			build: func(b *tl) {
				p := b.spawn(0)
				b.probe(500, true).status(600, "running", 0, "")
				b.fault(1000, scenarios.FaultReload).killed(1010, p, "SIGTERM")
				b.spawn(1030)
				b.probe(1200, true).status(1300, "running", 0, "")
			}, endMs: 3000, verdict: F, checks: map[string]scenarios.Verdict{"recover": F, "C1": P},
			reason: "the reload restarted (new pid 102 30 ms after it) the service: pid 101 ended by SIGTERM 10 ms after it"},
		{name: "reload drops the migrated service", scenario: reloadScen(), model: withCheck(migrated(zinit.RestartOnFailure, 250, 20), 3000, 1500),
			build: func(b *tl) {
				p := b.spawn(0)
				b.probe(500, true).status(600, "running", 0, "")
				b.fault(1000, scenarios.FaultReload).exit(1010, p, 0)
				b.probe(1200, false)
			}, endMs: 3000, verdict: F, checks: map[string]scenarios.Verdict{"recover": F},
			reason: "the reload stopped the service: pid 101 ended by exit 0 10 ms after it"},
		{name: "reload keeps the migrated service", scenario: reloadScen(), model: withCheck(migrated(zinit.RestartOnFailure, 250, 20), 3000, 1500),
			build: func(b *tl) {
				b.spawn(0)
				b.probe(500, true).status(600, "running", 0, "")
				b.fault(1000, scenarios.FaultReload)
				b.probe(1200, true).status(1300, "running", 0, "")
			}, endMs: 2100, verdict: P, checks: map[string]scenarios.Verdict{"recover": P, "C1": P},
			absent: []string{"S1", "R3"}},

		// S1 / P1 / C1
		{name: "S1 stray from the old group", scenario: scen(true, scenarios.FaultKill), model: onFail,
			build: func(b *tl) { killRestart(251)(b); b.stray(1400, 150, 101) }, endMs: 8000, verdict: F,
			checks: map[string]scenarios.Verdict{"S1": F, "recover": P},
			reason: `S1: stray pid 150 (pgid 101) "sleep 1000" of a dead incarnation still there at 1.40 s`},
		{name: "P1 zombie not reaped", scenario: scen(true, scenarios.FaultKill), model: onFail,
			build: func(b *tl) {
				killRestart(251)(b)
				b.zombie(2000, 300, 0, "").zombie(3200, 300, 0, "")
			}, endMs: 8000, verdict: F, checks: map[string]scenarios.Verdict{"P1": F},
			check: map[string]string{"P1": "zombie pid 300 not reaped for 1.20 s (limit 1.00 s)"}},
		{name: "P1 zombie reaped in time", scenario: scen(true, scenarios.FaultKill), model: onFail,
			build: func(b *tl) {
				killRestart(251)(b)
				b.zombie(2000, 300, 0, "").zombie(2600, 300, 0, "")
			}, endMs: 8000, verdict: P, checks: map[string]scenarios.Verdict{"P1": P}},
		{name: "P1 zombie reported by the agent", scenario: scen(true, scenarios.FaultKill), model: onFail,
			build: func(b *tl) {
				killRestart(251)(b)
				b.add(2500, scenarios.Event{Kind: scenarios.EventZombie, PID: 301, ZombieMs: 1004})
			}, endMs: 8000, verdict: F, checks: map[string]scenarios.Verdict{"P1": F},
			check: map[string]string{"P1": "zombie pid 301 not reaped for 1.00 s (limit 1.00 s)"}},
		{name: "P1 zombie of unknown age", scenario: scen(true, scenarios.FaultKill), model: onFail,
			build: func(b *tl) {
				killRestart(251)(b)
				b.add(2500, scenarios.Event{Kind: scenarios.EventZombie, PID: 302})
			}, endMs: 8000, verdict: F, checks: map[string]scenarios.Verdict{"P1": F},
			check: map[string]string{"P1": "zombie pid 302 seen at 2.50 s (age unknown, limit 1.00 s)"}},
		{name: "H4 check group leaves a stray", scenario: scen(false), model: checked,
			build: func(b *tl) {
				b.spawn(0)
				b.check(2000, 2050, 0)
				b.add(2600, scenarios.Event{Kind: scenarios.EventStray, Job: "check", PID: 777, PGID: 102})
			}, endMs: 5000, verdict: F, checks: map[string]scenarios.Verdict{"H4": F, "S1": F},
			check: map[string]string{"H4": "check group 102 left pid 777 behind at 2.60 s"}},
		{name: "C1 reported restarts disagree", scenario: scen(true, scenarios.FaultKill), model: onFail,
			build: func(b *tl) {
				killRestart(251)(b)
				b.status(3000, "running", 2, "")
			}, endMs: 8000, verdict: F, checks: map[string]scenarios.Verdict{"C1": F},
			reason: "C1: zinit reported 2 restart(s) at 3.00 s, observed 1"},
		{name: "C1 counter resets", scenario: scen(false, scenarios.FaultKill, scenarios.FaultKill),
			model: migrated(zinit.RestartOnFailure, 250, 5),
			build: counterReset, endMs: 30000, verdict: F, checks: map[string]scenarios.Verdict{"C1": F},
			check: map[string]string{"C1": "reported restarts fell from 1 to 0 at 20.0 s with no start (counter reset)"}},
		{name: "C1 counter resets allowed by the model", scenario: scen(false, scenarios.FaultKill, scenarios.FaultKill),
			model:  migrated(zinit.RestartOnFailure, 250, 5),
			params: func(p *oracle.Params) { p.CounterResets = true },
			build:  counterReset, endMs: 30000, verdict: P, checks: map[string]scenarios.Verdict{"C1": P}},
		{name: "R5 counter never resets: limit across healthy runs", scenario: scen(false, scenarios.FaultKill, scenarios.FaultKill),
			model: migrated(zinit.RestartOnFailure, 250, 1),
			build: func(b *tl) {
				p := b.spawn(0)
				b.fault(1000, scenarios.FaultKill).killed(1001, p, "SIGKILL")
				p = b.spawn(1251)
				b.fault(15000, scenarios.FaultKill).killed(15001, p, "SIGKILL")
				b.spawn(15251) // the counter was reset: one too many
			}, endMs: 25000, verdict: F, checks: map[string]scenarios.Verdict{"R5": F, "R6": F},
			check: map[string]string{"R5": "3 spawns, want exactly 1+N=2 (one too many)"}},

		// effects and evidence
		{name: "effect never observed", scenario: scen(true, scenarios.FaultKill), model: onFail,
			build: func(b *tl) {
				b.spawn(0)
				b.faultUnseen(1000, scenarios.FaultKill, "pid 101 still alive after 2 s")
			}, endMs: 8000, verdict: I, checks: map[string]scenarios.Verdict{"effect": I, "recover": F},
			reason: "effect of kill at 1.00 s never seen: pid 101 still alive after 2 s"},
		{name: "effect event missing entirely", scenario: scen(false, scenarios.FaultKill), model: onFail,
			build: func(b *tl) {
				p := b.spawn(0)
				b.faultUnseen(1000, scenarios.FaultKill, "")
				b.killed(1001, p, "SIGKILL")
				b.spawn(1251)
			}, endMs: 8000, verdict: I, checks: map[string]scenarios.Verdict{"effect": I, "R1": P},
			reason: "effect of kill at 1.00 s never seen"},
		{name: "declared fault never injected", scenario: scen(false, scenarios.FaultKill, scenarios.FaultKill), model: onFail,
			build: killRestart(251), endMs: 8000, verdict: I, checks: map[string]scenarios.Verdict{"effect": I},
			reason: "fault kill injected 1 of 2 time(s)"},
		{name: "nothing to judge", scenario: scen(false), model: onFail,
			build: func(b *tl) { b.spawn(0) }, endMs: 8000, verdict: I,
			reason: "no invariant applies to what was observed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := c.judge()
			assert.Equal(t, c.verdict, j.Verdict, "verdict; reason: %s\n%s", j.Reason, dump(j))
			for id, v := range c.checks {
				ch := checkOf(j, id)
				if assert.NotNil(t, ch, "check %s missing\n%s", id, dump(j)) {
					assert.Equal(t, v, ch.Verdict, "%s: %s", id, ch.Reason)
				}
			}
			for _, id := range c.absent {
				assert.Nil(t, checkOf(j, id), "check %s should not apply\n%s", id, dump(j))
			}
			if c.reason != "" {
				assert.Contains(t, j.Reason, c.reason)
			}
			for id, s := range c.check {
				if ch := checkOf(j, id); assert.NotNil(t, ch, id) {
					assert.Contains(t, ch.Reason, s, id)
				}
			}
			assert.NotEmpty(t, j.Reason)
			assert.NotContains(t, j.Reason, "\n")
		})
	}
}

// counterReset: N=5, a kill, a long healthy run, and zinit's count drops to 0.
// loopAgainAfterStart is a crash loop to the limit (N=3), a zinit start,
// and a second loop of 1+N spawns, with zinit reporting `reported`
// restarts after it (and again `later` restarts 5 s on; -1: no second report).
func loopAgainAfterStart(reported, later int) func(b *tl) {
	return func(b *tl) {
		crashLoop(4, "failed", "restart_limit")(b)
		b.fault(7100, scenarios.FaultStart)
		at := 7110.0
		for i := 0; i < 4; i++ {
			p := b.spawn(at)
			b.exit(at+10, p, 1)
			at += 260
		}
		b.status(at+300, "failed", reported, "restart_limit")
		if later >= 0 {
			b.status(at+5200, "failed", later, "restart_limit")
		}
	}
}

func counterReset(b *tl) {
	p := b.spawn(0)
	b.fault(1000, scenarios.FaultKill).killed(1001, p, "SIGKILL")
	p = b.spawn(1251)
	b.status(2000, "running", 1, "").status(10000, "running", 1, "")
	b.status(20000, "running", 0, "")
	b.fault(21000, scenarios.FaultKill).killed(21001, p, "SIGKILL")
	b.spawn(21251)
	b.status(22000, "running", 1, "")
}

func dump(j oracle.Judgement) string {
	var sb strings.Builder
	for _, c := range j.Checks {
		fmt.Fprintf(&sb, "  %-7s %-12s %s | expected: %s | observed: %s\n", c.ID, c.Verdict, c.Reason, c.Expected, c.Observed)
	}
	return sb.String()
}

func TestJudgeSelectedInvariants(t *testing.T) {
	s := scen(true, scenarios.FaultKill)
	s.Expect.Invariants = []string{"R1", "r4", "X9"}
	c := oracleCase{scenario: s, model: migrated(zinit.RestartOnFailure, 250, 0), build: killRestart(251), endMs: 8000}
	j := c.judge()
	var ids []string
	for _, ch := range j.Checks {
		ids = append(ids, ch.ID)
	}
	assert.Equal(t, []string{"R1", "R4", "X9", "recover", "effect"}, ids)
	assert.Equal(t, scenarios.VerdictPass, checkOf(j, "R1").Verdict)
	assert.Equal(t, scenarios.VerdictInconclusive, checkOf(j, "R4").Verdict)
	assert.Equal(t, "cannot be evaluated: no stop in the scenario", checkOf(j, "R4").Reason)
	assert.Equal(t, scenarios.VerdictInconclusive, checkOf(j, "X9").Verdict)
	assert.Equal(t, scenarios.VerdictInconclusive, j.Verdict)
}

func TestJudgeExplicitH2WithoutCheck(t *testing.T) {
	s := scen(true, scenarios.FaultHang)
	s.Expect.Invariants = []string{"H2"}
	c := oracleCase{scenario: s, model: legacy(), endMs: 12000, build: func(b *tl) {
		b.add(0, scenarios.Event{Kind: scenarios.EventSpawn, PID: 7})
		b.fault(1000, scenarios.FaultHang)
	}}
	j := c.judge()
	require.NotNil(t, checkOf(j, "H2"))
	assert.Equal(t, scenarios.VerdictFail, checkOf(j, "H2").Verdict)
	assert.Equal(t, "hang undetected for 11.0 s (no check job, legacy service)", checkOf(j, "H2").Reason)
	assert.Equal(t, "hang undetected: not restarted within 11.0 s of the hang (no check job, legacy service)", j.Reason)
}

func TestJudgeFleetWide(t *testing.T) {
	s := scenarios.Scenario{Name: "monkey", Faults: []scenarios.Fault{{Kind: scenarios.FaultMonkey}}}
	b := newTL()
	for i, name := range []string{"a", "b"} {
		at := float64(i * 1000)
		b.add(at, scenarios.Event{Kind: scenarios.EventSpawn, Service: name, Job: "main", PID: 10 + i})
		b.add(at+500, scenarios.Event{Kind: scenarios.EventFault, Service: name, Fault: "monkey"})
		b.add(at+501, scenarios.Event{Kind: scenarios.EventEffect, Service: name, Fault: "monkey", OK: bp(true)})
		b.add(at+502, scenarios.Event{Kind: scenarios.EventExit, Service: name, Job: "main", PID: 10 + i, Signal: "SIGKILL"})
	}
	b.add(2500, scenarios.Event{Kind: scenarios.EventStray, Service: "b", PID: 99, PGID: 11})
	j := oracle.Judge(oracle.JudgeInput{Scenario: s, Model: oracle.JobModelFrom("", nil, false, false), Events: b.events(),
		Params: oracle.DefaultParams(1), End: 10 * time.Second})
	var ids []string
	for _, c := range j.Checks {
		ids = append(ids, c.ID)
	}
	assert.Equal(t, []string{"S1", "P1", "effect"}, ids)
	assert.Equal(t, scenarios.VerdictFail, j.Verdict)
	assert.Equal(t, "S1: stray pid 99 (pgid 11) of a dead incarnation still there at 2.50 s", j.Reason)
	assert.Equal(t, "2 death(s), 1 stray process(es)", checkOf(j, "S1").Observed)
}

func TestJudgeInfo(t *testing.T) {
	s := scen(false, scenarios.FaultKill, scenarios.FaultKill)
	s.Expect.Info = true
	c := oracleCase{scenario: s, model: migrated(zinit.RestartOnFailure, 250, 5), build: counterReset, endMs: 30000}
	j := c.judge()
	assert.Equal(t, scenarios.VerdictInfo, j.Verdict)
	assert.Equal(t, "observed, not judged: C1 would be fail: reported restarts fell from 1 to 0 at 20.0 s with no start (counter reset)", j.Reason)
	for _, ch := range j.Checks {
		assert.Equal(t, scenarios.VerdictInfo, ch.Verdict, ch.ID)
	}
	assert.Contains(t, checkOf(j, "C1").Reason, "would be fail: ")

	// An unseen effect still makes an informational scenario inconclusive.
	c.build = func(b *tl) {
		b.spawn(0)
		b.faultUnseen(1000, scenarios.FaultKill, "")
	}
	assert.Equal(t, scenarios.VerdictInconclusive, c.judge().Verdict)
}

func TestRecoveryFigures(t *testing.T) {
	c := oracleCase{scenario: scen(true, scenarios.FaultKill), model: migrated(zinit.RestartOnFailure, 250, 0),
		build: func(b *tl) { b.err = ms(2); killRestart(251)(b) }, endMs: 8000}
	j := c.judge()
	want := scenarios.Recovery{
		Detect:  &scenarios.Measure{Ms: 6, ErrorMs: 9},
		Restart: &scenarios.Measure{Ms: 252, ErrorMs: 9},
		Healthy: &scenarios.Measure{Ms: 402, ErrorMs: 9},
	}
	assert.Equal(t, want, j.Recovery)

	h := oracleCase{scenario: scen(true, scenarios.FaultHang), model: withCheck(migrated(zinit.RestartOnFailure, 250, 0), 2000, 1000),
		build: hang(true, 250), endMs: 15000}
	hj := h.judge()
	require.NotNil(t, hj.Recovery.Detect)
	assert.InDelta(t, 2102, hj.Recovery.Detect.Ms, 0.001)
	assert.InDelta(t, 2352, hj.Recovery.Restart.Ms, 0.001)
	assert.InDelta(t, 2502, hj.Recovery.Healthy.Ms, 0.001)
	assert.InDelta(t, 5, hj.Recovery.Healthy.ErrorMs, 0.001)

	none := oracleCase{scenario: scen(true, scenarios.FaultKill), model: legacy(), build: killRestart(-1), endMs: 8000}
	nj := none.judge()
	assert.NotNil(t, nj.Recovery.Detect)
	assert.Nil(t, nj.Recovery.Restart)
	assert.Nil(t, nj.Recovery.Healthy)
}

func TestOracleParams(t *testing.T) {
	p := oracle.DefaultParams(1)
	assert.Equal(t, oracle.Params{
		FailedChecks: 1, StopTimeout: 10 * time.Second, SlackMin: 250 * time.Millisecond, SlackFraction: 0.3,
		Granularity: 5 * time.Millisecond, QuietMin: 5 * time.Second,
	}, p)
	assert.Equal(t, 250*time.Millisecond, p.Slack(500*time.Millisecond))
	assert.Equal(t, 900*time.Millisecond, p.Slack(3*time.Second))

	s := oracle.DefaultParams(0.05)
	assert.Equal(t, 50*time.Millisecond, s.SlackMin, "floor")
	assert.Equal(t, 250*time.Millisecond, s.QuietMin)
	assert.Equal(t, 500*time.Millisecond, s.StopTimeout)
	assert.Equal(t, p, oracle.DefaultParams(0), "non-positive scale means 1")

	m := oracle.JobModel{RestartDelay: 5 * time.Second, HasCheck: true, Interval: 60 * time.Second}
	assert.Equal(t, 180*time.Second, p.QuietWindow(m))
	m.Interval = time.Second
	assert.Equal(t, 15*time.Second, p.QuietWindow(m))
	assert.Equal(t, 5*time.Second, p.QuietWindow(oracle.JobModel{RestartDelay: time.Second}))

	assert.Equal(t, scenarios.OracleParams{FailedChecks: 1, StopTimeoutMs: 10000, SlackMinMs: 250, SlackFraction: 0.3}, p.Result())
}

func TestJobModelFrom(t *testing.T) {
	jobs := []zinit.Job{
		{Service: svc, Name: "main", Trigger: zinit.TriggerStart, Exec: "x", Restart: zinit.RestartOnFailure,
			RestartDelay: 5 * time.Second, MaxRestarts: 20},
		{Service: svc, Name: "check", Trigger: zinit.TriggerCheck, Exec: "y", Interval: 60 * time.Second, Timeout: 30 * time.Second},
		{Service: "other", Name: "main", Trigger: zinit.TriggerStart, Exec: "z", Restart: zinit.RestartAlways},
	}
	assert.Equal(t, oracle.JobModel{
		Service: svc, Restart: zinit.RestartOnFailure, RestartDelay: 5 * time.Second, MaxRestarts: 20,
		HasCheck: true, Interval: 60 * time.Second, Timeout: 30 * time.Second, StartJob: "main", CheckJob: "check",
	}, oracle.JobModelFrom(svc, jobs, false, false))

	// Legacy: checks change nothing, the job name is unknown.
	assert.Equal(t, oracle.JobModel{
		Service: svc, Legacy: true, Restart: zinit.RestartOnFailure, RestartDelay: 5 * time.Second, MaxRestarts: 20,
	}, oracle.JobModelFrom(svc, jobs, true, false))
	assert.Equal(t, oracle.JobModel{Service: svc, Legacy: true, RestartDelay: zinit.DefaultRestartDelay},
		oracle.JobModelFrom(svc, nil, true, false))

	// Defaults: d and T.
	def := oracle.JobModelFrom(svc, []zinit.Job{
		{Service: svc, Name: "m", Trigger: zinit.TriggerStart, Restart: zinit.RestartAlways},
		{Service: svc, Name: "c", Trigger: zinit.TriggerCheck, Interval: 2 * time.Second},
	}, false, true)
	assert.Equal(t, zinit.DefaultRestartDelay, def.RestartDelay)
	assert.Equal(t, 2*time.Second, def.Timeout)
	assert.Equal(t, zinit.RestartNever, def.Restart, "oneshot is never restarted")
}

// TestJudgeReasonsGolden pins how judgements read: one block per case.
func TestJudgeReasonsGolden(t *testing.T) {
	onFail := migrated(zinit.RestartOnFailure, 250, 0)
	checked := withCheck(onFail, 2000, 1000)
	limited := migrated(zinit.RestartOnFailure, 250, 3)
	cases := []oracleCase{
		{name: "legacy kill", scenario: scen(true, scenarios.FaultKill), model: legacy(), build: killRestart(-1), endMs: 10000},
		{name: "migrated kill", scenario: scen(true, scenarios.FaultKill), model: onFail, build: killRestart(251), endMs: 8000},
		{name: "supervisord trap", scenario: scen(true, scenarios.FaultKill), model: onFail, build: killRestart(2), endMs: 8000},
		{name: "legacy hang", scenario: scen(true, scenarios.FaultHang), model: legacy(), endMs: 12000, build: func(b *tl) {
			b.spawn(0)
			b.fault(1000, scenarios.FaultHang)
		}},
		{name: "migrated hang", scenario: scen(true, scenarios.FaultHang), model: checked, build: hang(true, 250), endMs: 15000},
		{name: "kubernetes trap", scenario: scen(true, scenarios.FaultHang), model: checked, build: hang(false, 0), endMs: 15000},
		{name: "crash loop exact", scenario: scen(false, scenarios.FaultCrashLoop), model: limited, build: crashLoop(4, "failed", "restart_limit"), endMs: 8000},
		{name: "docker off-by-one", scenario: scen(false, scenarios.FaultCrashLoop), model: limited, build: crashLoop(5, "failed", "restart_limit"), endMs: 8000},
		{name: "effect unseen", scenario: scen(true, scenarios.FaultKill), model: onFail, endMs: 8000, build: func(b *tl) {
			b.spawn(0)
			b.faultUnseen(1000, scenarios.FaultKill, "pid 101 still alive after 2 s")
		}},
	}
	var sb strings.Builder
	for _, c := range cases {
		j := c.judge()
		fmt.Fprintf(&sb, "## %s\n%s: %s\n", c.name, j.Verdict, j.Reason)
		for _, ch := range j.Checks {
			fmt.Fprintf(&sb, "  %-7s %-12s %s\n", ch.ID, ch.Verdict, ch.Reason)
			fmt.Fprintf(&sb, "          expected: %s\n          observed: %s\n", ch.Expected, ch.Observed)
		}
		if r := j.Recovery; r.Restart != nil {
			fmt.Fprintf(&sb, "  recovery: restart %.1f±%.1f ms\n", r.Restart.Ms, r.Restart.ErrorMs)
		}
		sb.WriteString("\n")
	}
	g := goldie.New(t, goldie.WithFixtureDir("testdata"), goldie.WithNameSuffix(".golden"))
	g.Assert(t, "oracle_reasons", []byte(sb.String()))
}

func BenchmarkJudge(b *testing.B) {
	tb := newTL()
	// A long crash loop with checks: 200 incarnations.
	at := 0.0
	for i := 0; i < 200; i++ {
		p := tb.spawn(at)
		tb.check(at+2000, at+2010, 0)
		tb.fault(at+2500, scenarios.FaultKill).killed(at+2501, p, "SIGKILL")
		tb.status(at+2510, "restarting", i, "")
		at += 2751
	}
	in := oracle.JudgeInput{
		Scenario: scen(true, scenarios.FaultKill), Model: withCheck(migrated(zinit.RestartOnFailure, 250, 0), 2000, 1000),
		Events: tb.events(), Params: oracle.DefaultParams(1), End: time.Duration(ms(at + 6000)),
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		oracle.Judge(in)
	}
	b.ReportMetric(float64(len(in.Events)), "events/op")
}

// TestJudgeUnderLoad: load can delay, never hasten. A late event fails
// only when the canary shows the machine on time; an early one fails at
// any load; an event missing long past its bound fails even on a loaded
// machine, when the lateness cannot explain the wait.
func TestJudgeUnderLoad(t *testing.T) {
	onFail := migrated(zinit.RestartOnFailure, 250, 0)
	checked := withCheck(onFail, 2000, 1000)
	kill := scen(true, scenarios.FaultKill)
	for _, tc := range []struct {
		name    string
		c       oracleCase
		verdict scenarios.Verdict
		reason  string
	}{
		{"on time, late restart", oracleCase{scenario: kill, model: onFail, build: killRestart(1000), endMs: 8000},
			scenarios.VerdictFail, "restarted after 1.00 s, later than d+ε=500 ms"},
		{"loaded, late restart", oracleCase{scenario: kill, model: onFail, build: killRestart(1000), endMs: 8000, lateMs: 400},
			scenarios.VerdictInconclusive, "machine too loaded to judge: timer lateness 400 ms around it, excess 500 ms: restarted after 1.00 s, later than d+ε=500 ms"},
		{"loaded, early restart", oracleCase{scenario: kill, model: onFail, build: killRestart(100), endMs: 8000, lateMs: 400},
			scenarios.VerdictFail, "restarted after 100 ms, before d=250 ms"},
		{"loaded, hang never caught long past I+T+d", oracleCase{scenario: scen(true, scenarios.FaultHang), model: checked,
			build: hang(false, -1), endMs: 20000, lateMs: 400},
			scenarios.VerdictFail, "hang undetected: not restarted within 15.0 s of the hang"},
		// The soak's case: the canary on time, zinit itself starved (its
		// status answers took 400 ms): the supervisor's lateness counts.
		{"zinit slow to answer, late restart", oracleCase{scenario: kill, model: onFail, endMs: 8000, build: func(b *tl) {
			killRestart(1000)(b)
			b.add(1400, scenarios.Event{Kind: scenarios.EventStatus, State: "restarting",
				Restarts: ip(0), ErrNs: 400 * int64(time.Millisecond)})
		}}, scenarios.VerdictInconclusive, "machine too loaded to judge: timer lateness 400 ms around it, excess 500 ms"},
		{"no canary, late restart", oracleCase{scenario: kill, model: onFail, build: killRestart(1000), endMs: 8000, noCanary: true},
			scenarios.VerdictInconclusive, "no timer-lateness canary covers it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := tc.c.judge()
			assert.Equal(t, tc.verdict, j.Verdict, dump(j))
			assert.Contains(t, j.Reason, tc.reason)
		})
	}
	// The check records the lateness it judged against.
	j := oracleCase{scenario: kill, model: onFail, build: killRestart(1000), endMs: 8000, lateMs: 400}.judge()
	r1 := checkOf(j, "R1")
	require.NotNil(t, r1)
	require.NotNil(t, r1.MachineLateMs)
	assert.InDelta(t, 400, *r1.MachineLateMs, 0.001)
}

// TestJudgeRefusedStopFails: a stop the supervisor refused is a supervisor
// defect, certain: fail, never inconclusive.
func TestJudgeRefusedStopFails(t *testing.T) {
	onFail := migrated(zinit.RestartOnFailure, 250, 0)
	j := oracleCase{scenario: scen(false, scenarios.FaultStop), model: onFail, endMs: 8000, build: func(b *tl) {
		b.spawn(0)
		b.add(1000, scenarios.Event{Kind: scenarios.EventFault, Fault: string(scenarios.FaultStop)})
		b.add(1002, scenarios.Event{Kind: scenarios.EventEffect, Fault: string(scenarios.FaultStop), OK: bp(true), Refused: true,
			Detail: "zinit refused: zinit: exit status 2: stop: not allowed"})
	}}.judge()
	assert.Equal(t, scenarios.VerdictFail, j.Verdict, dump(j))
	c := checkOf(j, oracle.CheckEffect)
	require.NotNil(t, c)
	assert.Equal(t, scenarios.VerdictFail, c.Verdict)
	assert.Contains(t, c.Reason, "zinit refused the stop at 1.00 s")
}

// TestJudgeHoleMakesCountsInconclusive: a spawn the agent missed (an exec
// of the binary it never saw as a process) turns a restart that looks
// late, and a spawn count that looks short, into inconclusive, naming the
// hole; without the hole they fail.
func TestJudgeHoleMakesCountsInconclusive(t *testing.T) {
	onFail := migrated(zinit.RestartOnFailure, 250, 0)
	late := func(b *tl) { killRestart(1000)(b) } // looks like one restart 1 s late
	c := oracleCase{scenario: scen(true, scenarios.FaultKill), model: onFail, build: late, endMs: 8000}
	assert.Equal(t, scenarios.VerdictFail, c.judge().Verdict)
	c.build = func(b *tl) {
		late(b)
		b.add(1600, scenarios.Event{Kind: scenarios.EventHole, Missed: 1, Detail: "1 exec(s) never seen"})
	}
	j := c.judge()
	assert.Equal(t, scenarios.VerdictInconclusive, j.Verdict, dump(j))
	r1 := checkOf(j, "R1")
	require.NotNil(t, r1)
	assert.Equal(t, scenarios.VerdictInconclusive, r1.Verdict)
	assert.Contains(t, r1.Reason, "the agent missed 1 spawn(s) of "+svc)
	// An early restart is no matter of a hole: it still fails.
	c.build = func(b *tl) {
		killRestart(100)(b)
		b.add(1600, scenarios.Event{Kind: scenarios.EventHole, Missed: 1})
	}
	assert.Equal(t, scenarios.VerdictFail, c.judge().Verdict, "a hole cannot make a restart early")
}
