package reports_test

import (
	"fmt"
	"time"

	"github.com/zchaos/zchaos/scenarios"
)

// The synthetic result every golden file renders: a gate run on the hero
// fleet at time scale 0.05 with a baseline, so it holds legacy and migrated
// results, a pass, fails, an inconclusive, an error, an informational
// result, a behaviour diff and a fidelity ledger.

const (
	embedder  = "user.hero_embedder_server"
	embedSock = "/root/hero/var/sockets/hero_embedder_server.sock"
	ms        = int64(time.Millisecond)
)

func ip(i int) *int         { return &i }
func bp(b bool) *bool       { return &b }
func fp(f float64) *float64 { return &f }

// tl builds a timeline; times are in ms from the scenario's start.
type tl struct{ ev []scenarios.Event }

func (t *tl) add(e scenarios.Event) *tl { t.ev = append(t.ev, e); return t }

func (t *tl) spawn(atMs int64, svc string, pid int) *tl {
	return t.add(scenarios.Event{TNs: atMs * ms, Kind: scenarios.EventSpawn, Service: svc, Job: "main", PID: pid, PGID: pid,
		Cmdline: "/usr/local/bin/herosim serve --name " + svc, ErrNs: 10 * ms})
}

func (t *tl) exit(atMs int64, svc string, pid int, code *int, sig string) *tl {
	return t.add(scenarios.Event{TNs: atMs * ms, Kind: scenarios.EventExit, Service: svc, Job: "main", PID: pid, Code: code, Signal: sig, ErrNs: 10 * ms})
}

func (t *tl) check(atMs, durMs int64, svc string, pid int, ok bool) *tl {
	code := 0
	if !ok {
		code = 137
	}
	t.add(scenarios.Event{TNs: atMs * ms, Kind: scenarios.EventCheckSpawn, Service: svc, Job: "check", PID: pid})
	return t.add(scenarios.Event{TNs: (atMs + durMs) * ms, Kind: scenarios.EventCheckExit, Service: svc, Job: "check", PID: pid, Code: &code, OK: bp(ok)})
}

func (t *tl) probe(atMs int64, svc string, ok bool, durMs int64) *tl {
	e := scenarios.Event{TNs: atMs * ms, Kind: scenarios.EventProbe, Service: svc, OK: bp(ok), DurNs: durMs * ms}
	if !ok {
		e.Detail = "timeout"
	}
	return t.add(e)
}

func (t *tl) status(atMs int64, svc, state string, restarts int) *tl {
	return t.add(scenarios.Event{TNs: atMs * ms, Kind: scenarios.EventStatus, Service: svc, State: state, Restarts: ip(restarts)})
}

func (t *tl) fault(atMs int64, kind scenarios.EventKind, svc, name, detail string, ok *bool) *tl {
	return t.add(scenarios.Event{TNs: atMs * ms, Kind: kind, Service: svc, Fault: name, Detail: detail, OK: ok})
}

// probes adds a probe every stepMs in [fromMs, toMs).
func (t *tl) probes(fromMs, toMs, stepMs int64, svc string, ok bool) *tl {
	for x := fromMs; x < toMs; x += stepMs {
		t.probe(x, svc, ok, 3)
	}
	return t
}

var start = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

func migratedPolicy() *scenarios.ServicePolicy {
	return &scenarios.ServicePolicy{Service: embedder, Config: "migrated", Restart: "on-failure",
		RestartDelayMs: 250, MaxRestarts: 20, IntervalMs: 3000, TimeoutMs: 1500,
		Probe: "server.health over " + embedSock, ProbeSource: "socket path in the service's exec (--socket)"}
}

func legacyPolicy() *scenarios.ServicePolicy {
	return &scenarios.ServicePolicy{Service: embedder, Config: "legacy", Restart: "never",
		Probe: `echo "No health check configured"`, ProbeSource: "legacy health TOML (no-op)"}
}

func check(id, property string, v scenarios.Verdict, expected, observed, reason string) scenarios.InvariantCheck {
	return scenarios.InvariantCheck{ID: id, Property: property, Verdict: v, Expected: expected, Observed: observed, Reason: reason}
}

func sampleResult() scenarios.Result {
	pass, fail := scenarios.VerdictPass, scenarios.VerdictFail

	// crash-restart, migrated: SIGKILL at 4 s, respawn 250 ms later.
	crashM := (&tl{}).status(0, embedder, "running", 0).spawn(20, embedder, 101).
		probes(500, 4000, 500, embedder, true).check(3020, 40, embedder, 130, true).
		fault(4000, scenarios.EventFault, embedder, "kill", "SIGKILL to pgid 101", nil).
		exit(4002, embedder, 101, nil, "SIGKILL").fault(4003, scenarios.EventEffect, embedder, "kill", "pid 101 gone", bp(true)).
		status(4010, embedder, "restarting", 0).spawn(4255, embedder, 142).status(4260, embedder, "running", 1).
		probe(4500, embedder, false, 2).probes(4700, 9000, 500, embedder, true).check(7255, 35, embedder, 160, true)

	// crash-restart, legacy: the killed service never comes back.
	crashL := (&tl{}).status(0, embedder, "running", 0).spawn(15, embedder, 77).probes(500, 4000, 500, embedder, true).
		fault(4000, scenarios.EventFault, embedder, "kill", "SIGKILL to pgid 77", nil).
		exit(4001, embedder, 77, nil, "SIGKILL").fault(4002, scenarios.EventEffect, embedder, "kill", "pid 77 gone", bp(true)).
		status(4010, embedder, "inactive", 0).probes(4500, 9500, 500, embedder, false)

	// hang-detected, migrated: SIGSTOP at 3.1 s, the check run at 5.02 s times out at 6.52 s.
	hangM := (&tl{}).status(0, embedder, "running", 0).spawn(20, embedder, 101).
		probes(500, 3100, 500, embedder, true).check(3020, 30, embedder, 131, true).
		fault(3100, scenarios.EventFault, embedder, "hang", "SIGSTOP to pgid 101", nil).
		fault(3105, scenarios.EventEffect, embedder, "hang", "/proc/101/stat shows T", bp(true)).
		probes(3600, 6500, 500, embedder, false).check(6050, 1500, embedder, 170, false).
		exit(7552, embedder, 101, nil, "SIGKILL").status(7560, embedder, "restarting", 0).
		fault(7600, scenarios.EventRevert, embedder, "hang", "SIGCONT (process already gone)", nil).
		spawn(7805, embedder, 180).status(7810, embedder, "running", 1).
		probes(8000, 12000, 500, embedder, true).check(10805, 30, embedder, 190, true)

	// hang-detected, legacy: stopped forever; the no-op check keeps passing.
	hangL := (&tl{}).status(0, embedder, "running", 0).spawn(10, embedder, 55).probes(500, 3100, 500, embedder, true).
		check(3010, 5, embedder, 60, true).
		fault(3100, scenarios.EventFault, embedder, "hang", "SIGSTOP to pgid 55", nil).
		fault(3104, scenarios.EventEffect, embedder, "hang", "/proc/55/stat shows T", bp(true)).
		probes(3600, 12000, 500, embedder, false).check(6010, 5, embedder, 61, true).check(9010, 5, embedder, 62, true).
		fault(12000, scenarios.EventRevert, embedder, "hang", "SIGCONT to pgid 55", nil)

	// health-error, migrated: the knob never took effect.
	errM := (&tl{}).status(0, embedder, "running", 0).spawn(20, embedder, 101).probes(500, 9000, 500, embedder, true).
		fault(3000, scenarios.EventFault, embedder, "health-error", "SIGUSR2 to pid 101", nil).
		fault(4500, scenarios.EventEffect, embedder, "health-error", "health call still answers ok", bp(false)).
		check(3020, 30, embedder, 140, true).check(6050, 30, embedder, 141, true)

	// crash-loop-limit: 1 + 3 spawns, then failed.
	loop := &tl{}
	svc := "test.crashloop"
	loop.status(0, svc, "running", 0)
	for i := 0; i < 4; i++ {
		at := int64(10 + i*260)
		loop.spawn(at, svc, 200+i).exit(at+8, svc, 200+i, ip(3), "")
		if i < 3 {
			loop.status(at+9, svc, "restarting", i)
		}
	}
	loop.status(800, svc, "failed", 3).add(scenarios.Event{TNs: 800 * ms, Kind: scenarios.EventStatus, Service: svc, State: "failed", Reason: "restart_limit", Restarts: ip(3)})
	loop.add(scenarios.Event{TNs: 5800 * ms, Kind: scenarios.EventStatus, Service: svc, State: "failed", Reason: "restart_limit", Restarts: ip(3)})

	// fleet-monkey, migrated: the container died under the monkey.
	monkey := (&tl{}).spawn(10, embedder, 101).spawn(12, "user.hero_books_server", 102).spawn(14, "user.hero_auth_server", 103).
		fault(1000, scenarios.EventFault, "user.hero_books_server", "monkey", "SIGKILL user.hero_books_server", nil).
		exit(1001, "user.hero_books_server", 102, nil, "SIGKILL").spawn(1252, "user.hero_books_server", 110).
		fault(2000, scenarios.EventFault, embedder, "monkey", "SIGKILL user.hero_embedder_server", nil).
		exit(2001, embedder, 101, nil, "SIGKILL").spawn(2251, embedder, 111).
		add(scenarios.Event{TNs: 2400 * ms, Kind: scenarios.EventZombie, PID: 99, Detail: "zombie sh (ppid 1)"})

	// restart-counter-reset: informational.
	counter := (&tl{}).spawn(10, "test.counter", 300).exit(1000, "test.counter", 300, nil, "SIGKILL").
		spawn(1250, "test.counter", 301).status(1260, "test.counter", "running", 1).
		exit(31250, "test.counter", 301, nil, "SIGKILL").spawn(31500, "test.counter", 302).status(31510, "test.counter", "running", 2)

	res := scenarios.Result{
		SchemaVersion: scenarios.ResultSchemaVersion,
		Tool:          "zchaos v0.4.0-test",
		RunID:         "zchaos-20260314-0930-7f3a",
		StartedAt:     start,
		DurationMs:    184_250,
		Image:         "zchaos/hero-fleet:3f2a9c1e",
		TimeScale:     0.05,
		Seed:          42,
		Verdict:       scenarios.VerdictError,
		Params:        scenarios.OracleParams{FailedChecks: 1, StopTimeoutMs: 500, SlackMinMs: 250, SlackFraction: 0.3},
		Services: []scenarios.ServicePolicy{
			*migratedPolicy(), *legacyPolicy(),
			{Service: "user.hero_books_server", Config: "migrated", Restart: "on-failure", RestartDelayMs: 250, MaxRestarts: 20,
				IntervalMs: 3000, TimeoutMs: 1500, Probe: "server.health over /root/hero/var/sockets/hero_books_server.sock", ProbeSource: "socket path in the service's exec (--socket)"},
			{Service: "user.hero_ui", Config: "migrated", Restart: "on-failure", RestartDelayMs: 250, MaxRestarts: 20,
				IntervalMs: 3000, TimeoutMs: 1500, Probe: "GET http://127.0.0.1:8080/health", ProbeSource: "ports in the service's build section"},
			{Service: "user.hero_setup", Config: "migrated", Oneshot: true, Restart: "never", Probe: "-", ProbeSource: "oneshot: no check"},
		},
		Ledger: []scenarios.LedgerEntry{
			{Service: embedder, Field: "service.exec", Fidelity: "exact", Detail: "start job main runs the same command"},
			{Service: embedder, Field: "restart", Fidelity: "behaviour-change", Detail: "legacy: never restarted; migrated: on-failure, delay 5 s, max 20"},
			{Service: embedder, Field: "health", Fidelity: "behaviour-change", Detail: "no-op echo replaced by server.health over the socket | every 60 s, timeout 30 s"},
			{Service: "user.hero_ui", Field: "dependencies.after", Fidelity: "approximated", Detail: "after = [\"user.hero_auth_server\"] kept as --after; ordering only, not readiness"},
			{Service: "user.hero_setup", Field: "service.dir", Fidelity: "dropped", Detail: "the job model has no working directory: wrapped as cd <dir> && <exec>"},
		},
		Diff: []scenarios.BehaviourDiff{
			{Scenario: "crash-restart", Service: embedder, Legacy: "never restarted (inactive)", Migrated: "restarted after 255 ms, healthy after 700 ms"},
			{Scenario: "hang-detected", Service: embedder, Legacy: "hung until the end; the no-op check kept passing", Migrated: "killed 4.45 s after the hang, healthy after 4.90 s"},
		},
		FirstPassRate: fp(0.875),
	}

	sr := func(name, desc, config, service string, v scenarios.Verdict, reason string, policy *scenarios.ServicePolicy, t *tl, startOff time.Duration, durMs int64) scenarios.ScenarioResult {
		return scenarios.ScenarioResult{Scenario: name, Description: desc, Tags: []string{"gate"}, Config: config, Service: service,
			Attempt: 1, Seed: 42, Verdict: v, Reason: reason, Policy: policy, StartedAt: start.Add(startOff), DurationMs: durMs,
			PhysicalMinMs: durMs / 2, Timeline: t.ev}
	}

	crashMigrated := sr("crash-restart", "SIGKILL the target's process group; the supervisor respawns it after the restart delay.",
		"migrated", embedder, pass, "respawned after the restart delay and healthy again", migratedPolicy(), crashM, 0, 9000)
	crashMigrated.Checks = []scenarios.InvariantCheck{
		check("R1", "restart delay is a floor", pass, "respawn in [250 ms, 500 ms] after the exit", "respawn 253 ms after the exit", ""),
		check("S1", "no leaked descendants", pass, "no process of pgid 101 after the respawn", "none", ""),
		check("C1", "the supervisor's report agrees with what was observed", pass, "restarts = 1", "restarts = 1", ""),
	}
	crashMigrated.Recovery = scenarios.Recovery{
		Detect: &scenarios.Measure{Ms: 2, ErrorMs: 10}, Restart: &scenarios.Measure{Ms: 255, ErrorMs: 14}, Healthy: &scenarios.Measure{Ms: 700, ErrorMs: 500}}

	crashLegacy := sr("crash-restart", crashMigrated.Description, "legacy", embedder, fail,
		"no respawn within the quiet window: the legacy config never restarts", legacyPolicy(), crashL, 10*time.Second, 9500)
	crashLegacy.Checks = []scenarios.InvariantCheck{
		check("R1", "restart delay is a floor", fail, "respawn in [250 ms, 500 ms] after the exit", "no respawn in 5.5 s", "the service stayed inactive"),
		check("C1", "the supervisor's report agrees with what was observed", pass, "restarts = 0", "restarts = 0", ""),
	}
	crashLegacy.Recovery = scenarios.Recovery{Detect: &scenarios.Measure{Ms: 1, ErrorMs: 10}}
	crashLegacy.Forensics = "forensics/crash-restart-legacy-1"

	hangMigrated := sr("hang-detected", "SIGSTOP the target; the health check times out, the supervisor kills and respawns it.",
		"migrated", embedder, pass, "killed by the timed-out check and respawned", migratedPolicy(), hangM, 20*time.Second, 12000)
	hangMigrated.Checks = []scenarios.InvariantCheck{
		check("H2", "a hang is detected", pass, "killed by 3.1 s + 1 × (3 s + 1.5 s) + ε = 7.6 s ± 1.35 s", "killed at 7.55 s", ""),
		check("H4", "timed-out checks leave nothing behind", pass, "no check process older than 1.75 s", "oldest check 1.5 s", ""),
		check("H5", "a check kill goes through the restart policy", pass, "respawn ≥ 250 ms after the kill", "respawn 253 ms after the kill", ""),
	}
	hangMigrated.Recovery = scenarios.Recovery{
		Detect: &scenarios.Measure{Ms: 4452, ErrorMs: 12}, Restart: &scenarios.Measure{Ms: 4705, ErrorMs: 14}, Healthy: &scenarios.Measure{Ms: 4900, ErrorMs: 500}}

	hangLegacy := sr("hang-detected", hangMigrated.Description, "legacy", embedder, fail,
		"hang never detected: the process stayed stopped and the no-op check passed", legacyPolicy(), hangL, 35*time.Second, 12000)
	hangLegacy.Checks = []scenarios.InvariantCheck{
		check("H2", "a hang is detected", fail, "killed by 7.6 s ± 1.35 s", "still stopped at 12 s (pid 55, state T)", "no check failed: echo \"No health check configured\" always passes"),
		check("H4", "timed-out checks leave nothing behind", pass, "no check process older than T + ε", "oldest check 5 ms", ""),
	}
	hangLegacy.Forensics = "forensics/hang-detected-legacy-1"

	errMigrated := sr("health-error", "The health endpoint answers a JSON-RPC error; the check must fail on the answer.",
		"migrated", embedder, scenarios.VerdictInconclusive, "the fault's effect was never seen: the health call still answered ok",
		migratedPolicy(), errM, 50*time.Second, 9000)
	errMigrated.Checks = []scenarios.InvariantCheck{
		check("H2", "a hang is detected", scenarios.VerdictInconclusive, "a failed health call after the fault", "every health call answered ok", "effect probe never saw the error"),
	}
	errMigrated.Forensics = "forensics/health-error-migrated-1"

	loopRes := sr("crash-loop-limit", "A start job that crashes at once, with max-restarts 3, is spawned exactly four times and then stays failed.",
		"migrated", svc, pass, "1 + 3 spawns, then failed (restart_limit) for the quiet window",
		&scenarios.ServicePolicy{Service: svc, Config: "migrated", Restart: "on-failure", RestartDelayMs: 250, MaxRestarts: 3, Probe: "-"}, loop, 60*time.Second, 5800)
	loopRes.Checks = []scenarios.InvariantCheck{
		check("R5", "the limit is exact", pass, "4 spawns, then none for 5 s", "4 spawns, then none for 5 s", ""),
		check("R6", "the terminal state is explicit", pass, "state failed, reason restart_limit", "state failed, reason restart_limit", ""),
	}

	monkeyRes := sr("fleet-monkey", "Kill random fleet services for five minutes; afterwards every service is healthy.",
		"migrated", "", scenarios.VerdictError, "docker: container zchaos-7f3a-fleet exited unexpectedly (OOM killed)", nil, monkey, 70*time.Second, 2500)
	monkeyRes.Forensics = "forensics/fleet-monkey-migrated-1"

	counterRes := sr("restart-counter-reset", "Shows whether a long healthy run resets the restart counter.", "migrated", "test.counter",
		scenarios.VerdictInfo, "the counter did not reset: restarts went 1 → 2 after 30 s healthy",
		&scenarios.ServicePolicy{Service: "test.counter", Config: "migrated", Restart: "on-failure", RestartDelayMs: 250, MaxRestarts: 3, Probe: "-"},
		counter, 80*time.Second, 32000)
	counterRes.Tags = []string{"info"}
	crashMigrated.Load = &scenarios.Load{P50Ms: 0.06, P99Ms: 3.2, MaxMs: 8.5, Windows: 36}
	hangMigrated.Load = &scenarios.Load{P50Ms: 0.9, P99Ms: 212, MaxMs: 1400, Windows: 48}

	res.Scenarios = []scenarios.ScenarioResult{crashMigrated, crashLegacy, hangMigrated, hangLegacy, errMigrated, loopRes, monkeyRes, counterRes}
	res.Decide(0)
	return res
}

// bigResult repeats the sample's scenario results up to n, for benchmarks.
func bigResult(n int) scenarios.Result {
	r := sampleResult()
	base := r.Scenarios
	r.Scenarios = make([]scenarios.ScenarioResult, 0, n)
	for i := 0; i < n; i++ {
		s := base[i%len(base)]
		s.Scenario = fmt.Sprintf("%s-%05d", s.Scenario, i)
		r.Scenarios = append(r.Scenarios, s)
	}
	return r
}
