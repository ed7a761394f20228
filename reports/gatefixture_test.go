package reports_test

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/zchaos/zchaos/scenarios"
)

// gateSizedResult is a result of the default gate's size class, as
// `zchaos gate --baseline` writes it before compaction: the 29-service hero
// fleet (18 socket, 7 HTTP, 4 oneshot services) migrated and legacy, 19
// scenarios migrated and the 6 fleet ones legacy, a 228-line fidelity
// ledger, and event streams at the rates the agent reported in a real run
// at time scale 0.05 (a probe of each watched service every 50 ms, a status
// every 250 ms, a canary window every 250 ms, a check run every 3 s with
// the migrator's 700-character probe command; the fleet monkey watches all
// 29 services for 28 s). Its full JSON is about 5 MB, as the real one was.
func gateSizedResult() scenarios.Result {
	rng := rand.New(rand.NewPCG(42, 7))
	kinds := map[string]string{}
	var fleet []string
	for _, n := range []string{"ai_server", "auth_server", "books_server", "calendar_server", "chat_server", "contacts_server",
		"db_server", "embedder_server", "files_server", "indexer", "mail_server", "media", "notifier", "redis_server",
		"scheduler", "search_server", "sync", "webhooks"} {
		kinds["user.hero_"+n] = "socket"
	}
	for _, n := range []string{"admin_ui", "auth_ui", "books_ui", "chat_ui", "docs_ui", "gateway", "os_ui"} {
		kinds["user.hero_"+n] = "http"
	}
	for _, n := range []string{"books_seed", "certs_init", "db_migrate", "search_reindex"} {
		kinds["user.hero_"+n] = "oneshot"
	}
	for n := range kinds {
		fleet = append(fleet, n)
	}
	sort.Strings(fleet)

	sock := func(svc string) string { return "/root/hero/var/sockets/" + strings.TrimPrefix(svc, "user.") + ".sock" }
	checkCmd := func(svc string) string {
		s := sock(svc)
		return `sh -c s=` + s + `; a=UNIX-CONNECT:` + s + `; [ -S "$s" ] || { echo "health: no socket at $s" >&2; exit 1; }; ` +
			`r=$(printf '%s\n' '{"jsonrpc":"2.0","method":"server.health","id":1}' | timeout -k 0.300 1.200 socat -t 1.200 -T 1.200 - "$a" 2>&1) || ` +
			`{ echo "health: call failed on $s: $r" >&2; exit 1; }; if printf '%s' "$r" | grep -Eq '"result"[[:space:]]*:' && ! printf '%s' "$r" | ` +
			`grep -Eq '"error"[[:space:]]*:[[:space:]]*\{'; then exit 0; fi; echo "health: no result from $s within 1.200s: $r" >&2; exit 1`
	}
	res := scenarios.Result{
		SchemaVersion: scenarios.ResultSchemaVersion, Tool: "zchaos 96179af", RunID: "zc-eda9ebf9", StartedAt: start,
		DurationMs: 133_535, Image: "zchaos/hero:8945d206529bcfa8", TimeScale: 0.05, Seed: 8777513421510722518,
		Params:      scenarios.OracleParams{FailedChecks: 1, StopTimeoutMs: 500, SlackMinMs: 50, SlackFraction: 0.3},
		Calibration: &scenarios.Calibration{Load: scenarios.Load{P50Ms: 0.08, P99Ms: 2.3, MaxMs: 2.3, Windows: 10}, Scale: 0.05, Reason: "timer lateness p99 2 ms (max 2 ms over 10 windows): scale 0.05, whose smallest tolerance 50 ms exceeds it 2 times over"},
	}
	for _, svc := range fleet {
		src := fmt.Sprintf("exec flag --socket (fleet/%s.toml:3)", strings.TrimPrefix(svc, "user."))
		m := scenarios.ServicePolicy{Service: svc, Config: "migrated", Restart: "on-failure", RestartDelayMs: 250, MaxRestarts: 20,
			IntervalMs: 3000, TimeoutMs: 1500, Probe: "server.health over " + sock(svc), ProbeSource: src}
		switch kinds[svc] {
		case "http":
			m.Probe, m.ProbeSource = "GET http://127.0.0.1:8083/health", strings.Replace(src, "--socket", "--http-port", 1)
		case "oneshot":
			m = scenarios.ServicePolicy{Service: svc, Config: "migrated", Oneshot: true, Restart: "never", RestartDelayMs: 1000, ProbeSource: "oneshot: no check job"}
		}
		l := scenarios.ServicePolicy{Service: svc, Config: "legacy", Oneshot: m.Oneshot, Restart: "never",
			Probe: `echo "No health check configured"`, ProbeSource: "legacy health TOML (no-op)"}
		res.Services = append(res.Services, m, l)
		file := "fleet/" + strings.TrimPrefix(svc, "user.") + ".toml"
		add := func(field, fidelity, detail string) {
			res.Ledger = append(res.Ledger, scenarios.LedgerEntry{Service: svc, Field: field, Fidelity: fidelity, Detail: detail + " (" + file + ")"})
		}
		add("name", "exact", "service "+svc)
		add("exec", "exact", "main job --exec, trigger start")
		add("oneshot", "exact", "start job with --restart on-failure and a check job")
		if kinds[svc] == "oneshot" {
			add("health file", "dropped", "health file "+svc+"_health checks a oneshot: dropped (a oneshot has no check job); the file is backed up and moved out")
			continue
		}
		add("restart", "behaviour-change", "legacy zinit never restarted it (a crash left it inactive); now --restart on-failure (seed default): restarted 5000 ms after a failure, at most 20 times, then state failed (reason restart_limit) until zinit start")
		add("grace", "approximated", "the first check runs one interval (60000 ms) after each spawn, so the grace after start is 60000 ms ≥ the 30000 ms wanted (seed default); no separate grace setting")
		add("probe", "exact", "check job calls server.health over "+sock(svc))
		add("health file", "behaviour-change", "fleet/"+strings.TrimPrefix(svc, "user.")+`_health.toml (echo: echo "No health check configured") ran once after start and always passed; replaced by check job: JSON-RPC server.health over socket `+sock(svc))
		add("after", "exact", "--after user.hero_db_server")
	}
	for len(res.Ledger) < 228 {
		res.Ledger = append(res.Ledger, scenarios.LedgerEntry{Service: fleet[len(res.Ledger)%len(fleet)], Field: "env.HERO_ENV", Fidelity: "exact", Detail: "-e HERO_ENV=production"})
	}

	// stream is one attempt's full event stream.
	stream := func(watched []string, durMs int64, migrated bool, faults func(add func(scenarios.Event))) []scenarios.Event {
		var evs []scenarios.Event
		add := func(e scenarios.Event) { evs = append(evs, e) }
		add(scenarios.Event{Kind: scenarios.EventAgentStart, PID: 13, Detail: "pid=13 proc_period_ms=5"})
		pid := 200
		for _, svc := range watched {
			add(scenarios.Event{TNs: 75 * ms, Kind: scenarios.EventAction, Service: svc, Detail: "start"})
			if kinds[svc] == "oneshot" {
				continue
			}
			pid++
			add(scenarios.Event{TNs: int64(300+rng.IntN(400)) * ms, Kind: scenarios.EventSpawn, Service: svc, Job: "main", PID: pid, PGID: pid,
				Cmdline: "sh -c /usr/local/bin/herosim serve --name " + strings.TrimPrefix(svc, "user.") + " --socket " + sock(svc), ErrNs: int64(rng.IntN(20)) * ms})
		}
		for t := int64(0); t < durMs; t += 50 {
			for _, svc := range watched {
				if kinds[svc] == "oneshot" {
					continue
				}
				ok := t > 700
				e := scenarios.Event{TNs: (t+int64(rng.IntN(50)))*ms + int64(rng.IntN(1e6)), Kind: scenarios.EventProbe, Service: svc, OK: bp(ok), DurNs: int64(rng.IntN(4e6))}
				if !ok {
					e.Reason, e.Detail = "failed", "dial unix "+sock(svc)+": connect: no such file or directory"
				}
				add(e)
			}
			if t%250 == 0 {
				add(scenarios.Event{TNs: t*ms + 11e6, Kind: scenarios.EventCanary, DurNs: 250 * ms, LateMaxNs: int64(rng.IntN(12e6)), LateP50Ns: int64(rng.IntN(1e5)), Ticks: 25})
				for _, svc := range watched {
					add(scenarios.Event{TNs: t*ms + int64(rng.IntN(2e8)), Kind: scenarios.EventStatus, Service: svc, State: "running", Restarts: ip(0),
						Detail: "unchanged", ErrNs: int64(rng.IntN(80e6))})
				}
			}
			if migrated && t%3000 == 2000 {
				for _, svc := range watched {
					if kinds[svc] != "socket" {
						continue
					}
					pid++
					add(scenarios.Event{TNs: t * ms, Kind: scenarios.EventCheckSpawn, Service: svc, Job: "check", PID: pid, PGID: pid, Cmdline: checkCmd(svc), ErrNs: 18 * ms})
					add(scenarios.Event{TNs: (t + 40) * ms, Kind: scenarios.EventCheckExit, Service: svc, Job: "check", PID: pid, PGID: pid, Cmdline: checkCmd(svc),
						Code: ip(0), OK: bp(true), Detail: "exit status from zinit last_check", ErrNs: 8 * ms})
				}
			}
		}
		faults(add)
		return evs
	}
	target := "user.hero_embedder_server"
	single := func(fault string) func(add func(scenarios.Event)) {
		return func(add func(scenarios.Event)) {
			add(scenarios.Event{TNs: 3100 * ms, Kind: scenarios.EventFault, Service: target, Fault: fault, PID: 201, Signal: "SIGKILL"})
			add(scenarios.Event{TNs: 3101 * ms, Kind: scenarios.EventEffect, Service: target, Fault: fault, OK: bp(true), Detail: "pid 201"})
			add(scenarios.Event{TNs: 3102 * ms, Kind: scenarios.EventExit, Service: target, Job: "main", PID: 201, Signal: "SIGKILL"})
			add(scenarios.Event{TNs: 3352 * ms, Kind: scenarios.EventSpawn, Service: target, Job: "main", PID: 990, PGID: 990})
		}
	}
	monkey := func(add func(scenarios.Event)) {
		for i := 0; i < 16; i++ {
			svc := fleet[rng.IntN(len(fleet))]
			at := int64(3000 + i*1500)
			add(scenarios.Event{TNs: at * ms, Kind: scenarios.EventFault, Service: svc, Fault: "monkey", Signal: "SIGKILL",
				Cmdline: "sh -c /usr/local/bin/herosim serve --name " + svc})
			add(scenarios.Event{TNs: (at + 1) * ms, Kind: scenarios.EventEffect, Service: svc, Fault: "monkey", OK: bp(true)})
		}
	}
	type spec struct {
		name, service, fault, desc string
		tags                       []string
		legacy                     bool
		durMs                      int64
	}
	specs := []spec{
		{"check-timeout-enforced", "test.unbounded", "health-hang", "The health endpoint hangs under a check that never gives up; zinit must kill the check's group at its timeout, then the target.", []string{"gate", "declared"}, false, 13000},
		{"clean-exit-always", "test.exit_always", "exit", "The target exits with code 0 under restart always; it must be respawned after the restart delay.", []string{"gate", "declared"}, false, 2000},
		{"clean-exit-on-failure", "test.exit_on_failure", "exit", "The target exits with code 0 under restart on-failure; it must not be restarted.", []string{"gate", "declared"}, false, 1800},
		{"crash-loop-limit", "test.crashloop", "", "A start job that crashes at once, with max-restarts 3, is spawned exactly four times and then stays failed (restart_limit).", []string{"gate", "declared"}, false, 2700},
		{"crash-restart", target, "kill", "SIGKILL the target's process group; the supervisor respawns it after the restart delay and it becomes healthy again.", []string{"gate", "fleet"}, true, 10500},
		{"fleet-monkey", "", "monkey", "Kill random fleet services for five minutes; afterwards every service is healthy, no zombie and no stray check process remains.", []string{"gate", "fleet"}, true, 28000},
		{"grace-first-spawn", "test.firstgrace", "", "A target that needs 20 s to open its socket is watched from its first spawn; no check and no check kill may come before the grace.", []string{"gate", "declared"}, false, 6000},
		{"hang-detected", target, "hang", "SIGSTOP the target (alive but unresponsive); the health check times out, the supervisor kills and respawns it.", []string{"gate", "fleet"}, true, 12700},
		{"health-error", target, "health-error", "The target's health endpoint answers a JSON-RPC error; the check must fail on the answer, kill and respawn it.", []string{"gate", "fleet"}, true, 14200},
		{"health-hang", target, "health-hang", "The target's health endpoint stops answering (process alive); the timed-out check leads to a kill and a respawn.", []string{"gate", "fleet"}, true, 13400},
		{"leader-exit-cleans-group", "test.forker", "exit", "The target and its check leave helpers in their process groups; zinit must kill and reap them once each leader is gone.", []string{"gate", "declared"}, false, 10200},
		{"manual-start-after-limit", "test.crashloop", "start", "Once a crash-looping target gave up (failed), zinit start spawns it at once and the full max-restarts budget is available again.", []string{"gate", "declared"}, false, 5000},
		{"oneshot-runs-once", "test.oneshot", "", "A oneshot start job that exits 0 under on-failure runs exactly once and is never restarted.", []string{"gate", "declared"}, false, 1800},
		{"reload-keeps-job-services", target, "reload", "zinit reload must leave services created with zinit add service/job untouched (same pid, still running and healthy).", []string{"gate", "fleet"}, false, 13000},
		{"slow-start-grace", "test.slowstart", "kill", "A target that takes 20 s to open its socket is not killed by its health check during the grace period, before or after a respawn.", []string{"gate", "declared"}, false, 11000},
		{"socket-removed", target, "remove-socket", "Delete the target's Unix socket; the failing check leads to a kill and a respawn that recreates it.", []string{"gate", "fleet"}, true, 16000},
		{"stop-during-restart-delay", "test.stoppable", "kill", "SIGKILL the target, then zinit stop it while it waits out its restart delay; no respawn may follow.", []string{"gate", "declared"}, false, 2000},
		{"stop-not-failure", "test.stopped", "stop", "zinit stop a healthy target under restart always; it must stay down, its restart count unchanged and its state not failed.", []string{"gate", "declared"}, false, 1800},
		{"supervisor-restart-restores", target, "supervisor-restart", "Restart zinit (PID 1); every persisted service comes back with its jobs and becomes healthy.", []string{"gate", "fleet"}, false, 18000},
	}
	for _, sp := range specs {
		watched := []string{sp.service}
		faults := single(sp.fault)
		if sp.service == "" {
			watched, faults = fleet, monkey
		}
		configs := []string{"migrated"}
		if sp.legacy {
			configs = append(configs, "legacy")
		}
		for _, cfg := range configs {
			s := scenarios.ScenarioResult{Scenario: sp.name, Description: sp.desc, Tags: sp.tags, Config: cfg, Service: sp.service,
				Attempt: 1, Seed: rng.Int64(), Verdict: scenarios.VerdictPass, StartedAt: start.Add(time.Duration(len(res.Scenarios)) * 5 * time.Second),
				DurationMs: sp.durMs + 2000, PhysicalMinMs: sp.durMs, Load: &scenarios.Load{P50Ms: 0.08, P99Ms: 11, MaxMs: 12, Windows: int(sp.durMs / 250)},
				Timeline: stream(watched, sp.durMs, cfg == "migrated", faults)}
			if sp.service != "" {
				for _, p := range res.Services {
					if p.Service == sp.service && p.Config == cfg {
						p := p
						s.Policy = &p
					}
				}
			}
			if cfg == "migrated" {
				s.Reason = "restarted after 251 ms (d=250 ms), healthy after 292 ms"
				s.Recovery = scenarios.Recovery{Detect: &scenarios.Measure{Ms: 49.4, ErrorMs: 12.1}, Restart: &scenarios.Measure{Ms: 251.3, ErrorMs: 7.2},
					Healthy: &scenarios.Measure{Ms: 291.9, ErrorMs: 5}}
				for i := 0; i < 7; i++ {
					s.Checks = append(s.Checks, check(fmt.Sprintf("R%d", i+1), "restart delay is a floor", scenarios.VerdictPass,
						"respawn in [250 ms, 325 ms] after the exit (d + ε, ε = max(50 ms, 0.3 × d))", "respawn 251 ms after the exit", ""))
				}
			} else {
				s.Verdict = scenarios.VerdictFail
				s.Reason = "not restarted within 3.19 s of the kill (policy never, legacy)"
				s.Recovery = scenarios.Recovery{Detect: &scenarios.Measure{Ms: 12.3, ErrorMs: 9.1}}
				s.Checks = []scenarios.InvariantCheck{check("R1", "restart delay is a floor", scenarios.VerdictFail, "respawn in [250 ms, 325 ms] after the exit", "no respawn in 3.19 s", "policy never, legacy")}
				s.Forensics = "forensics/" + sp.name + "_legacy_1"
			}
			res.Scenarios = append(res.Scenarios, s)
		}
	}
	res.Diff = scenarios.BehaviourDiffs(res)
	res.Decide(0)
	return res
}

// compacted is r with every timeline compacted, as the runner stores it.
func compacted(r scenarios.Result) scenarios.Result {
	out := r
	out.Scenarios = make([]scenarios.ScenarioResult, len(r.Scenarios))
	copy(out.Scenarios, r.Scenarios)
	for i := range out.Scenarios {
		out.Scenarios[i].Timeline = scenarios.CompactTimeline(out.Scenarios[i].Timeline)
	}
	return out
}
