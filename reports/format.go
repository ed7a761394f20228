package reports

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zchaos/zchaos/scenarios"
)

// Counts is how many scenario results ended with each verdict.
type Counts struct {
	Pass, Fail, Inconclusive, Error, Info int
}

// Total is the number of scenario results counted.
func (c Counts) Total() int { return c.Pass + c.Fail + c.Inconclusive + c.Error + c.Info }

// String reads "3 pass, 1 fail, 1 inconclusive", leaving out zero counts
// (except pass, always shown).
func (c Counts) String() string {
	parts := []string{fmt.Sprintf("%d pass", c.Pass)}
	for _, x := range []struct {
		n    int
		name string
	}{{c.Fail, "fail"}, {c.Inconclusive, "inconclusive"}, {c.Error, "error"}, {c.Info, "info"}} {
		if x.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", x.n, x.name))
		}
	}
	return strings.Join(parts, ", ")
}

// CountVerdicts counts the verdicts of r's scenario results.
func CountVerdicts(r scenarios.Result) Counts {
	var c Counts
	for _, s := range r.Scenarios {
		switch s.Verdict {
		case scenarios.VerdictPass:
			c.Pass++
		case scenarios.VerdictFail:
			c.Fail++
		case scenarios.VerdictInconclusive:
			c.Inconclusive++
		case scenarios.VerdictError:
			c.Error++
		case scenarios.VerdictInfo:
			c.Info++
		}
	}
	return c
}

// FormatMeasure renders a recovery figure with its error: "250 ms ± 12",
// "1.50 s ± 0.02"; "-" when it was not observed.
func FormatMeasure(m *scenarios.Measure) string {
	if m == nil {
		return "-"
	}
	if math.Abs(m.Ms) < 1000 {
		return fmt.Sprintf("%.0f ms ± %.0f", m.Ms, m.ErrorMs)
	}
	return fmt.Sprintf("%.2f s ± %.2f", m.Ms/1000, m.ErrorMs/1000)
}

// formatMs renders a duration in ms for people: "250 ms", "5 s", "1.5 s", "2 min".
func formatMs(ms int64) string {
	switch {
	case ms == 0:
		return "0"
	case ms%60000 == 0 && ms >= 60000:
		return fmt.Sprintf("%d min", ms/60000)
	case ms >= 1000:
		return strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64) + " s"
	}
	return fmt.Sprintf("%d ms", ms)
}

func formatScale(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func serviceLabel(s string) string {
	if s == "" {
		return "(fleet)"
	}
	return s
}

// caseName names one scenario result: "crash-restart [migrated] user.x",
// with "#2" for a repeat.
func caseName(s scenarios.ScenarioResult) string {
	n := s.Scenario + " [" + s.Config + "] " + serviceLabel(s.Service)
	if s.Attempt > 1 {
		n += " #" + strconv.Itoa(s.Attempt)
	}
	return n
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// policyLine describes a service's applied job model in one line.
func policyLine(p scenarios.ServicePolicy) string {
	if p.Oneshot {
		return "oneshot, restart " + orDash(p.Restart)
	}
	s := "restart " + orDash(p.Restart)
	if p.Restart != "" && p.Restart != "never" {
		s += ", delay " + formatMs(p.RestartDelayMs)
		if p.MaxRestarts > 0 {
			s += fmt.Sprintf(", max %d", p.MaxRestarts)
		} else {
			s += ", unlimited"
		}
	}
	return s
}

func checkLine(p scenarios.ServicePolicy) string {
	if p.IntervalMs == 0 {
		return "none"
	}
	return "every " + formatMs(p.IntervalMs) + ", timeout " + formatMs(p.TimeoutMs)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// failingIDs lists the ids of the checks that did not pass.
func failingIDs(s scenarios.ScenarioResult) []string {
	var ids []string
	for _, c := range s.Checks {
		if c.Verdict == scenarios.VerdictFail || c.Verdict == scenarios.VerdictError || c.Verdict == scenarios.VerdictInconclusive {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// ledgerCounts counts ledger entries per fidelity, in a fixed order.
func ledgerCounts(l []scenarios.LedgerEntry) string {
	m := map[string]int{}
	for _, e := range l {
		m[e.Fidelity]++
	}
	order := []string{"exact", "approximated", "dropped", "behaviour-change"}
	var parts []string
	for _, k := range order {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
			delete(m, k)
		}
	}
	rest := make([]string, 0, len(m))
	for k := range m {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	for _, k := range rest {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

// DecisionWord is the decision as the gate's footer and the rollout note
// say it: PROMOTE, BLOCK, INCONCLUSIVE, or ERROR (retry) when the
// inconclusive decision comes from a broken harness.
func DecisionWord(d scenarios.Decision, v scenarios.Verdict) string {
	switch {
	case d == scenarios.DecisionPromote:
		return "PROMOTE"
	case d == scenarios.DecisionBlock:
		return "BLOCK"
	case v == scenarios.VerdictError:
		return "ERROR (retry)"
	}
	return "INCONCLUSIVE"
}

// FormatLoad is an attempt's machine lateness for a table cell: "p99 3 ms"
// (the canary's p99), or "-" when it was not measured.
func FormatLoad(l *scenarios.Load) string {
	if l == nil {
		return "-"
	}
	return "p99 " + formatMsFloat(l.P99Ms)
}

func formatMsFloat(ms float64) string {
	switch {
	case ms >= 1000:
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + " s"
	case ms >= 10:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
}
