package reports

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/zchaos/zchaos/scenarios"
)

// The rollout note (report.md) is what a release manager reads before
// promoting an image, small enough for a pull-request comment
// (MaxNoteChars): the decision and why, the legacy baseline in one
// sentence, what each class of service will do in production (the figures
// measured at the run's time scale, and the same divided by the scale),
// what changes for operators, and the rollback command. Everything else
// goes to report-details.md (MarkdownDetails), which the note links.

// MaxNoteChars bounds the rollout note: GitHub refuses a pull-request
// comment of more than 65,536 characters. Every list the note holds is
// capped, and every cell shortened, so that no result can reach it.
const MaxNoteChars = 65_536

// DetailsFile is the name the note links the details under; the gate
// writes both files side by side.
const DetailsFile = "report-details.md"

// tagDeclared marks the catalogue's scenarios that declare test services of
// their own: they show how the supervisor behaves, not how the fleet does.
const tagDeclared = "declared"

// noteCaps bound the note's lists and cells.
type noteCaps struct {
	classes    int // service classes
	classRows  int // situations per service class
	members    int // services named per class
	behaviours int // supervisor behaviours
	attention  int // scenarios needing attention
	ledger     int // ledger groups
	cell       int // characters of one table cell
}

var (
	// noteCapsUsual fits the default gate with room to spare.
	noteCapsUsual = noteCaps{classes: 8, classRows: 12, members: 40, behaviours: 30, attention: 15, ledger: 12, cell: 300}
	// noteCapsTight is for a result whose usual note would not fit.
	noteCapsTight = noteCaps{classes: 3, classRows: 5, members: 10, behaviours: 8, attention: 5, ledger: 4, cell: 120}
)

// serviceClass is a group of the fleet's services with the same job model
// and the same kind of probe.
type serviceClass struct {
	name    string // "Unix-socket services"
	policy  scenarios.ServicePolicy
	members []string
	rows    []situation
}

// situation is one scenario's figures on one service class: the slowest of
// its attempts for each figure.
type situation struct {
	scenario, service, fault string
	verdict                  scenarios.Verdict
	attempts                 int
	rec                      scenarios.Recovery
	desc                     string
}

// probeKind tells a service's probe apart: a JSON-RPC call over a Unix
// socket, an HTTP GET, another check command, or none.
func probeKind(p scenarios.ServicePolicy) string {
	switch {
	case p.Oneshot:
		return "oneshot"
	case p.IntervalMs == 0:
		return "no check"
	case strings.HasPrefix(p.Probe, "server.health over "):
		return "socket"
	case strings.HasPrefix(p.Probe, "GET "):
		return "http"
	}
	return "check"
}

func className(kind string) string {
	switch kind {
	case "oneshot":
		return "Oneshot services"
	case "no check":
		return "Services without a check"
	case "socket":
		return "Unix-socket services"
	case "http":
		return "HTTP services"
	}
	return "Services with a custom check"
}

// firstFault is the kind of a scenario's first fault ("" when none).
func firstFault(s scenarios.ScenarioResult) string {
	for _, e := range s.Timeline {
		if e.Kind == scenarios.EventFault {
			return e.Fault
		}
	}
	return ""
}

func hasTag(s scenarios.ScenarioResult, tag string) bool {
	for _, t := range s.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

// collectSituations folds a scenario's attempts on one service into one
// situation per (scenario, service), in the result's order.
func collectSituations(list []scenarios.ScenarioResult) []situation {
	index := map[[2]string]int{}
	var out []situation
	slowest := func(a, b *scenarios.Measure) *scenarios.Measure {
		if a == nil || (b != nil && b.Ms > a.Ms) {
			return b
		}
		return a
	}
	for _, s := range list {
		k := [2]string{s.Scenario, s.Service}
		i, ok := index[k]
		if !ok {
			index[k] = len(out)
			out = append(out, situation{scenario: s.Scenario, service: s.Service, fault: firstFault(s), verdict: s.Verdict,
				attempts: 1, rec: s.Recovery, desc: s.Description})
			continue
		}
		g := &out[i]
		g.attempts++
		if s.Verdict != scenarios.VerdictPass {
			g.verdict = scenarios.Worse(g.verdict, s.Verdict)
		}
		g.rec.Detect = slowest(g.rec.Detect, s.Recovery.Detect)
		g.rec.Restart = slowest(g.rec.Restart, s.Recovery.Restart)
		g.rec.Healthy = slowest(g.rec.Healthy, s.Recovery.Healthy)
	}
	return out
}

// rolloutModel is what the note says, built once from the result.
type rolloutModel struct {
	r         scenarios.Result
	scale     float64 // > 0 and != 1: figures are converted
	classes   []*serviceClass
	fleetWide []situation // scenarios of the whole fleet
	declared  []situation // scenarios on test services of their own
}

func newRolloutModel(r scenarios.Result) *rolloutModel {
	m := &rolloutModel{r: r}
	if r.TimeScale > 0 && r.TimeScale != 1 {
		m.scale = r.TimeScale
	}
	config := "" // the config judged: migrated, or the image as built
	var fleetRuns, declaredRuns, wideRuns []scenarios.ScenarioResult
	declaredSvc := map[string]bool{}
	for _, s := range r.Scenarios {
		if s.Baseline {
			continue
		}
		if config == "" {
			config = s.Config
		}
		switch {
		case hasTag(s, tagDeclared):
			declaredRuns = append(declaredRuns, s)
			declaredSvc[s.Service] = true
		case s.Service == "":
			wideRuns = append(wideRuns, s)
		default:
			fleetRuns = append(fleetRuns, s)
		}
	}
	// Classes of the fleet's services under the judged config.
	byKey := map[string]*serviceClass{}
	classOf := map[string]*serviceClass{}
	for _, p := range r.Services {
		if (config != "" && p.Config != config) || declaredSvc[p.Service] {
			continue
		}
		if config == "" && p.Config == scenarios.ConfigLegacy {
			continue
		}
		kind := probeKind(p)
		key := fmt.Sprintf("%s|%t|%s|%d|%d|%d|%d", kind, p.Oneshot, p.Restart, p.RestartDelayMs, p.MaxRestarts, p.IntervalMs, p.TimeoutMs)
		c := byKey[key]
		if c == nil {
			c = &serviceClass{name: className(kind), policy: p}
			byKey[key] = c
			m.classes = append(m.classes, c)
		}
		c.members = append(c.members, p.Service)
		classOf[p.Service] = c
	}
	sort.SliceStable(m.classes, func(i, j int) bool { return len(m.classes[i].members) > len(m.classes[j].members) })
	// Two classes of one kind are told apart by their policy.
	seen := map[string]int{}
	for _, c := range m.classes {
		seen[c.name]++
	}
	for _, c := range m.classes {
		if seen[c.name] > 1 {
			p := c.policy // at production timings
			p.RestartDelayMs, p.IntervalMs, p.TimeoutMs = m.prodMs(p.RestartDelayMs), m.prodMs(p.IntervalMs), m.prodMs(p.TimeoutMs)
			c.name += " (" + policyLine(p) + "; check " + checkLine(p) + ")"
		}
	}
	m.declared = collectSituations(declaredRuns)
	for _, sit := range collectSituations(fleetRuns) {
		if c := classOf[sit.service]; c != nil {
			c.rows = append(c.rows, sit)
		} else {
			// A target outside the fleet's services: a test service.
			m.declared = append(m.declared, sit)
		}
	}
	m.fleetWide = collectSituations(wideRuns)
	return m
}

// prod turns an as-run duration into production time (÷ the scale).
func (m *rolloutModel) prodMs(ms int64) int64 {
	if m.scale == 0 {
		return ms
	}
	return int64(float64(ms)/m.scale + 0.5)
}

// expected says, in production terms, what a service of policy p does
// after a fault of this kind (the job model of docs/job-model.md).
func (m *rolloutModel) expected(fault string, p scenarios.ServicePolicy, desc string) string {
	d := formatMs(m.prodMs(p.RestartDelayMs))
	I, T := formatMs(m.prodMs(p.IntervalMs)), formatMs(m.prodMs(p.TimeoutMs))
	IT := formatMs(m.prodMs(p.IntervalMs + p.TimeoutMs))
	restarts := p.Restart == "on-failure" || p.Restart == "always"
	respawn := "respawned " + d + " later"
	if !restarts {
		respawn = "not restarted (restart " + orDash(p.Restart) + ")"
	}
	switch scenarios.FaultKind(fault) {
	case scenarios.FaultKill, scenarios.FaultMonkey, scenarios.FaultExit:
		who := "respawned "
		if scenarios.FaultKind(fault) == scenarios.FaultMonkey {
			who = "each killed service respawned "
		}
		if !restarts {
			return "not restarted (restart " + orDash(p.Restart) + ")"
		}
		return who + d + " after its exit"
	case scenarios.FaultHang, scenarios.FaultHealthHang:
		if p.IntervalMs == 0 {
			return "never detected: no check"
		}
		return "killed by the first check to outlive its " + T + " timeout, within I + T = " + IT + "; " + respawn
	case scenarios.FaultHealthError, scenarios.FaultSocket:
		if p.IntervalMs == 0 {
			return "never detected: no check"
		}
		return "killed by the next check, within I = " + I + " (plus the check's run); " + respawn
	case scenarios.FaultReload:
		return "left running by zinit reload (same pid)"
	case scenarios.FaultSupervisor:
		return "restored with its jobs when zinit restarts (persisted), first check " + I + " after"
	case scenarios.FaultStop:
		return "stays stopped; not a failure"
	case scenarios.FaultStart:
		return "spawned at once by zinit start"
	}
	return desc
}

// figures renders a situation's recovery figures, as run or ÷ the scale.
func figures(rec scenarios.Recovery, scale float64) string {
	var parts []string
	for _, f := range []struct {
		name string
		m    *scenarios.Measure
	}{{"detect", rec.Detect}, {"restart", rec.Restart}, {"healthy", rec.Healthy}} {
		if f.m == nil {
			continue
		}
		v := *f.m
		if scale > 0 {
			v.Ms, v.ErrorMs = v.Ms/scale, v.ErrorMs/scale
		}
		parts = append(parts, f.name+" "+FormatMeasure(&v))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " · ")
}

// cell shortens plain text for a table cell of the note and escapes it.
func (md *mdWriter) cell(s string) string { return mdEscape(clip(s, md.caps.cell)) }

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

func codeList(names []string, max int) string {
	var b strings.Builder
	for i, n := range names {
		if i == max {
			fmt.Fprintf(&b, " and %d more", len(names)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(code(clip(n, 80)))
	}
	return b.String()
}

// note writes the rollout note.
func (md *mdWriter) note(r scenarios.Result) {
	m := newRolloutModel(r)
	md.line("# Rollout note: %s", code(orDash(r.Image)))
	md.line("")
	judged := "the migrated config"
	if len(r.Conformance)+len(r.ProbeAudit) > 0 {
		judged = "the image as built"
	}
	md.line("**Decision: %s** — %s (judged on %s at time scale %s).", DecisionWord(r.Decision, r.Verdict),
		mdEscape(clip(orDash(r.DecisionReason), 600)), judged, formatScale(r.TimeScale))
	md.line("")
	base := scenarios.Gate(r, r.Require).Baseline
	if b := base.Sentence(); b != "" {
		md.line("Legacy baseline: %s (the legacy config, run beside the migrated one for contrast; it decides nothing).", mdEscape(b))
	} else {
		md.line("Legacy baseline: not run (`zchaos gate --baseline` runs the legacy config beside the migrated one).")
	}
	md.line("")
	scale := "time scale " + formatScale(r.TimeScale)
	if r.Calibration != nil {
		scale += " (chosen by " + code("--time-scale auto") + ")"
	}
	md.line("Run %s, %s, took %s · %s · seed %d · %s · details: [%s](%s)", code(orDash(r.RunID)), mdEscape(formatTime(r.StartedAt)),
		mdEscape(humanMs(r.DurationMs)), scale, r.Seed, mdEscape(orDash(r.Tool)), DetailsFile, DetailsFile)
	md.line("")
	md.production(m)
	md.operators(m)
	md.rollback(r)
	md.attention(r)
	md.line("---")
	md.line("")
	md.line("Every scenario, invariant check, service policy and the full fidelity ledger: [%s](%s). Timelines: `report.html`. Machine-readable: `result.json`.", DetailsFile, DetailsFile)
}

func (md *mdWriter) production(m *rolloutModel) {
	md.line("## Expected behaviour in production")
	md.line("")
	asRun, inProd := "Measured", ""
	if m.scale > 0 {
		s := formatScale(m.scale)
		md.line("The gate ran at time scale %s: every duration of the job model and of the expectations was multiplied by %s. "+
			"**In production** below is the measured figure divided by %s — an upper estimate, since fixed costs (process start, a probe's round trip) do not scale. "+
			"Policies are stated at production timings.", s, s, s)
		asRun, inProd = "Measured (as run, scale "+s+")", "In production (measured ÷ "+s+")"
	} else {
		md.line("The gate ran at production timings (time scale 1): the figures are as measured.")
	}
	md.line("")
	header := []string{"Situation (scenario)", "Expected in production", asRun}
	if inProd != "" {
		header = append(header, inProd)
	}
	header = append(header, "Verdict")
	rowOf := func(sit situation, p scenarios.ServicePolicy) []string {
		what := sit.scenario
		if sit.service != "" {
			what += " on " + sit.service
		}
		if sit.attempts > 1 {
			what += fmt.Sprintf(" (slowest of %d attempts)", sit.attempts)
		}
		row := []string{md.cell(what), md.cell(m.expected(sit.fault, p, sit.desc)), md.cell(figures(sit.rec, 0))}
		if inProd != "" {
			row = append(row, md.cell(figures(sit.rec, m.scale)))
		}
		return append(row, verdictBadge(sit.verdict))
	}
	if len(m.classes) == 0 {
		md.line("No service policy was recorded for the judged config.")
		md.line("")
	}
	for i, c := range m.classes {
		if i == md.caps.classes {
			n := 0
			for _, c := range m.classes[i:] {
				n += len(c.members)
			}
			md.line("… and %d more service classes (%d services) in [%s](%s).", len(m.classes)-i, n, DetailsFile, DetailsFile)
			md.line("")
			break
		}
		p := c.policy
		md.line("### %s (%d)", mdEscape(clip(c.name, 200)), len(c.members))
		md.line("")
		md.line("%s.", codeList(c.members, md.caps.members))
		md.line("")
		md.line("In production: %s.", m.policyProse(p))
		md.line("")
		if len(c.rows) == 0 {
			md.line("No scenario of this run targeted one of them alone; fleet-wide scenarios below cover them too.")
			md.line("")
			continue
		}
		rows := make([][]string, 0, len(c.rows))
		for i, sit := range c.rows {
			if i == md.caps.classRows {
				break
			}
			rows = append(rows, rowOf(sit, p))
		}
		md.table(header, rows)
		if n := len(c.rows) - md.caps.classRows; n > 0 {
			md.line("… and %d more scenarios in [%s](%s).", n, DetailsFile, DetailsFile)
			md.line("")
		}
	}
	if len(m.fleetWide) > 0 {
		md.line("### Whole fleet")
		md.line("")
		var p scenarios.ServicePolicy
		if len(m.classes) > 0 {
			p = m.classes[0].policy
		}
		rows := [][]string{}
		for i, sit := range m.fleetWide {
			if i == md.caps.classRows {
				break
			}
			rows = append(rows, rowOf(sit, p))
		}
		md.table(header, rows)
	}
	if len(m.declared) > 0 {
		md.line("### Supervisor behaviours verified on test services")
		md.line("")
		md.line("Scenarios that declare services of their own, to pin down how zinit itself behaves.")
		md.line("")
		h := []string{"Scenario", "What it shows", asRun}
		if inProd != "" {
			h = append(h, inProd)
		}
		h = append(h, "Verdict")
		rows := [][]string{}
		for i, sit := range m.declared {
			if i == md.caps.behaviours {
				break
			}
			row := []string{md.cell(sit.scenario), md.cell(sit.desc), md.cell(figures(sit.rec, 0))}
			if inProd != "" {
				row = append(row, md.cell(figures(sit.rec, m.scale)))
			}
			rows = append(rows, append(row, verdictBadge(sit.verdict)))
		}
		md.table(h, rows)
		if n := len(m.declared) - md.caps.behaviours; n > 0 {
			md.line("… and %d more in [%s](%s).", n, DetailsFile, DetailsFile)
			md.line("")
		}
	}
}

// policyProse states a service class's job model at production timings,
// as Markdown.
func (m *rolloutModel) policyProse(p scenarios.ServicePolicy) string {
	if p.Oneshot {
		return "run once at start (restart " + mdEscape(orDash(p.Restart)) + "), never checked"
	}
	var parts []string
	switch p.Restart {
	case "on-failure", "always":
		s := "restarted (" + p.Restart + ") " + formatMs(m.prodMs(p.RestartDelayMs)) + " after an exit"
		if p.MaxRestarts > 0 {
			s += fmt.Sprintf(", at most %d times, then `failed` until `zinit start`", p.MaxRestarts)
		} else {
			s += ", without limit"
		}
		parts = append(parts, s)
	default:
		parts = append(parts, "never restarted (restart "+mdEscape(orDash(p.Restart))+")")
	}
	if p.IntervalMs > 0 {
		var probe string
		switch probeKind(p) {
		case "socket":
			probe = "`server.health` over its Unix socket"
		case "http":
			probe = "an HTTP GET of its health URL"
		default:
			probe = code(clip(p.Probe, 120))
		}
		parts = append(parts, fmt.Sprintf("checked every %s (%s, timeout %s), the first check %s after each start",
			formatMs(m.prodMs(p.IntervalMs)), probe, formatMs(m.prodMs(p.TimeoutMs)), formatMs(m.prodMs(p.IntervalMs))))
	} else {
		parts = append(parts, "no health check: a hang goes unnoticed")
	}
	return strings.Join(parts, "; ")
}

// humanMs is a wall time for people: "48 s", "2 min 14 s".
func humanMs(ms int64) string {
	if ms < 60_000 {
		return formatMs(ms)
	}
	s := (ms + 500) / 1000
	if s%60 == 0 {
		return fmt.Sprintf("%d min", s/60)
	}
	return fmt.Sprintf("%d min %d s", s/60, s%60)
}

func (md *mdWriter) operators(m *rolloutModel) {
	r := m.r
	md.line("## What changes for operators")
	md.line("")
	// The policy of most services speaks for the fleet.
	var p *scenarios.ServicePolicy
	for _, c := range m.classes {
		if c.policy.IntervalMs > 0 {
			p = &c.policy
			break
		}
	}
	F := r.Params.FailedChecks
	if F <= 0 {
		F = 1
	}
	checks := "a failed check run"
	if F > 1 {
		checks = strconv.Itoa(F) + " failed check runs in a row"
	}
	if p != nil {
		md.line("- **A failed probe kills the service.** %s (a non-zero exit, or still running at its %s timeout) makes zinit SIGKILL the service's whole process group at once; it is then restarted %s later, like a crash, and the restart counts toward the limit. A check is liveness only: there is no readiness gate, and no second chance.",
			upperFirst(checks), formatMs(m.prodMs(p.TimeoutMs)), formatMs(m.prodMs(p.RestartDelayMs)))
	} else {
		md.line("- **A failed probe kills the service.** %s makes zinit SIGKILL the service's whole process group at once; it is then restarted like a crash, and the restart counts toward the limit.", upperFirst(checks))
	}
	limit := "max-restarts"
	if p != nil && p.MaxRestarts > 0 {
		limit = fmt.Sprintf("max-restarts %d", p.MaxRestarts)
	}
	if r.Params.CounterResets {
		md.line("- **The restart counter** (%s) resets after a healthy run, as this run's oracle assumed.", limit)
	} else {
		line := fmt.Sprintf("- **The restart counter never resets.** %s counts every automatic restart since the last explicit `zinit start` or `zinit restart` (or boot, for a persisted service); a long healthy run does not reset it. The restart after the last allowed one does not come: the service stays `failed` (reason `restart_limit`) until someone runs `zinit start SERVICE`. Watch the `restarts` count in `zinit status`.", limit)
		for _, s := range r.Scenarios {
			if s.Scenario == "restart-counter-reset" && !s.Baseline && s.Reason != "" {
				line += " Observed in this run: " + mdEscape(clip(s.Reason, 300)) + "."
				break
			}
		}
		md.line("%s", line)
	}
	if p != nil {
		md.line("- **The grace is one interval.** The first check comes %s after every start and respawn: a service has that long to open its socket or port before a check can kill it, and a hang in that window is found only by the first check, up to %s after the start.",
			formatMs(m.prodMs(p.IntervalMs)), formatMs(m.prodMs(p.IntervalMs+p.TimeoutMs)))
	}
	if len(r.Ledger) > 0 {
		md.line("- **Services are jobs, not files.** The migration moves the legacy TOML files out of zinit's config dir into a timestamped backup and creates each service with `zinit add service` and `zinit add job` (persisted in zinit's state dir). Editing or adding a TOML file no longer changes a migrated service, and `zinit reload` leaves them alone%s; change one with `zinit add job` or by migrating again. Crashed services are restarted and checks call the service (legacy: never restarted, a no-op `echo` as health check).",
			verifiedBy(r, "reload-keeps-job-services"))
		md.ledgerSummary(r.Ledger)
	} else if len(r.Conformance)+len(r.ProbeAudit) > 0 {
		md.line("- **Judged as built.** zchaos applied nothing: the image's own config created its services; its conformance to the policy and the audit of its checks are in [%s](%s).", DetailsFile, DetailsFile)
	}
	md.line("")
}

// verifiedBy names a passing scenario that shows a statement.
func verifiedBy(r scenarios.Result, scenario string) string {
	for _, s := range r.Scenarios {
		if s.Scenario == scenario && !s.Baseline {
			return " (" + scenario + ": " + s.Verdict.String() + ")"
		}
	}
	return ""
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// ledgerSummary sums up the ledger lines that are not exact, by field.
func (md *mdWriter) ledgerSummary(l []scenarios.LedgerEntry) {
	type group struct {
		field, fidelity, example string
		n                        int
	}
	index := map[[2]string]int{}
	var groups []group
	for _, e := range l {
		if e.Fidelity == "exact" {
			continue
		}
		k := [2]string{e.Field, e.Fidelity}
		if i, ok := index[k]; ok {
			groups[i].n++
			continue
		}
		index[k] = len(groups)
		groups = append(groups, group{field: e.Field, fidelity: e.Fidelity, example: e.Service + ": " + e.Detail, n: 1})
	}
	md.line("- **The fidelity ledger** (%s): what the migration did not carry over exactly, by field:", mdEscape(ledgerCounts(l)))
	for i, g := range groups {
		if i == md.caps.ledger {
			md.line("  - … and %d more fields in [%s](%s).", len(groups)-md.caps.ledger, DetailsFile, DetailsFile)
			break
		}
		md.line("  - %s %s on %d service(s), e.g. %s", code(g.field), mdEscape(g.fidelity), g.n, mdEscape(clip(g.example, 200)))
	}
}

func (md *mdWriter) rollback(r scenarios.Result) {
	md.line("## Rollback")
	md.line("")
	if len(r.Ledger) == 0 && len(r.Conformance)+len(r.ProbeAudit) > 0 {
		md.line("This image was judged as built: zchaos migrated nothing on it. Roll back by deploying the previous image.")
		md.line("")
		return
	}
	md.line("`zchaos migrate apply` printed its backup dir (by default under `<config-dir>.zchaos-backup/`, e.g. `/etc/zinit.zchaos-backup/`). To undo the migration on a host or container:")
	md.line("")
	md.line("```sh")
	md.line("zchaos migrate rollback --backup /etc/zinit.zchaos-backup/<TIMESTAMP> --container <NAME>   # zinit in a container")
	md.line("zchaos migrate rollback --backup /etc/zinit.zchaos-backup/<TIMESTAMP> --socket /run/zinit.sock   # zinit on this host")
	md.line("```")
	md.line("")
	md.line("It checks the backup against its manifest (a mismatch changes nothing), stops and removes the migrated services, puts the legacy files back byte for byte and runs `zinit reload`. Running it twice is harmless.")
	md.line("")
}

// attention lists the judged scenarios that did not pass and the baseline
// surprises.
func (md *mdWriter) attention(r scenarios.Result) {
	d := scenarios.Gate(r, r.Require)
	var lines []string
	for _, g := range d.Groups {
		if g.Verdict == scenarios.VerdictPass {
			continue
		}
		what := g.Scenario
		if g.Service != "" {
			what += " on " + g.Service
		}
		lines = append(lines, fmt.Sprintf("- %s %s: %s", verdictBadge(g.Verdict), mdEscape(what), mdEscape(clip(g.Reason, 400))))
	}
	for _, s := range d.Surprises {
		lines = append(lines, "- ⚠️ "+mdEscape(clip(s, 400)))
	}
	for _, f := range r.Conformance {
		if f.Severity == scenarios.SeverityError {
			lines = append(lines, fmt.Sprintf("- ❌ %s: %s (%s)", mdEscape(f.Service), mdEscape(clip(f.Message, 300)), mdEscape(f.Code)))
		}
	}
	for _, a := range r.ProbeAudit {
		if a.Verdict != scenarios.VerdictPass {
			lines = append(lines, fmt.Sprintf("- %s probe audit of %s %s: %s", verdictBadge(a.Verdict), mdEscape(a.Service), mdEscape(a.Job), mdEscape(clip(a.Reason, 300))))
		}
	}
	if len(lines) == 0 {
		return
	}
	md.line("## Needs attention")
	md.line("")
	for i, l := range lines {
		if i == md.caps.attention {
			md.line("- … and %d more in [%s](%s).", len(lines)-md.caps.attention, DetailsFile, DetailsFile)
			break
		}
		md.line("%s", l)
	}
	md.line("")
}
