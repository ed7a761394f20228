package scenarios

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
)

// Probe kinds a target selector matches (TargetSpec.Probe, TargetInfo.Probe).
const (
	ProbeSocket = "socket" // JSON-RPC server.health over a Unix socket
	ProbeHTTP   = "http"   // GET /health over HTTP
	ProbeAny    = "any"
)

// TargetInfo is one service a selector may pick: its name, how its health
// is probed (ProbeSocket, ProbeHTTP, or "" for none known), and whether it
// is a oneshot (never a target).
type TargetInfo struct {
	Name    string `json:"name"`
	Probe   string `json:"probe,omitempty"`
	Oneshot bool   `json:"oneshot,omitempty"`
}

// TargetError says a selector or a named target found no service: it
// lists the services present.
type TargetError struct {
	Scenario string
	Want     string // what was asked for
	Present  []string
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("%s: no service matches %s; services found: %s", e.Scenario, e.Want, strings.Join(e.Present, ", "))
}

// ExpandTargets resolves every fleet scenario's target against the
// services present: a selector becomes one scenario per chosen target
// (Target set, Services.Select narrowed to it when the selector says alone,
// Targets kept as provenance);
// a named target must be present. names, when given (--target), replaces
// every selector with those services. Declared scenarios pass through.
// The choices depend on the seed and the scenario's name only, so every
// config of a run gets the same targets. A *TargetError when nothing
// matches.
func ExpandTargets(scs []Scenario, present []TargetInfo, names []string, seed int64) ([]Scenario, error) {
	known := make([]string, 0, len(present))
	byName := map[string]TargetInfo{}
	for _, p := range present {
		known = append(known, p.Name)
		byName[p.Name] = p
	}
	slices.Sort(known)
	for _, n := range names {
		if _, ok := byName[n]; !ok {
			return nil, &TargetError{Scenario: "--target", Want: fmt.Sprintf("%q", n), Present: known}
		}
	}
	var out []Scenario
	for _, sc := range scs {
		if len(sc.Services.Declared) > 0 {
			out = append(out, sc)
			continue
		}
		if !sc.Targets.Selects() {
			if sc.Target != "" && byName[sc.Target].Name == "" {
				return nil, &TargetError{Scenario: sc.Name, Want: fmt.Sprintf("target %q", sc.Target), Present: known}
			}
			out = append(out, sc)
			continue
		}
		picked := names
		if len(picked) == 0 {
			picked = pick(*sc.Targets, present, seed, sc.Name)
		}
		if len(picked) == 0 {
			return nil, &TargetError{Scenario: sc.Name, Want: describeSpec(*sc.Targets), Present: known}
		}
		for _, n := range picked {
			x := sc
			x.Target = n
			if sc.Targets.Alone {
				x.Services.Select = []string{n}
			}
			out = append(out, x)
		}
	}
	return out, nil
}

// pick applies a selector: the matching services, preferred ones first,
// then a seeded shuffle; Sample of them (default 1), or all with Each.
func pick(t TargetSpec, present []TargetInfo, seed int64, scenario string) []string {
	var match []string
	for _, p := range present {
		if p.Oneshot || (t.Probe != "" && t.Probe != ProbeAny && p.Probe != t.Probe) {
			continue
		}
		match = append(match, p.Name)
	}
	slices.Sort(match)
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", seed, scenario)
	rng := rand.New(rand.NewPCG(h.Sum64(), 0))
	rng.Shuffle(len(match), func(i, j int) { match[i], match[j] = match[j], match[i] })
	var out []string
	for _, p := range t.Prefer {
		if i := slices.Index(match, p); i >= 0 {
			out = append(out, p)
			match = slices.Delete(match, i, i+1)
		}
	}
	out = append(out, match...)
	n := max(t.Sample, 1)
	if t.Each || n > len(out) {
		n = len(out)
	}
	return out[:n]
}

func describeSpec(t TargetSpec) string {
	probe := t.Probe
	if probe == "" {
		probe = ProbeAny
	}
	return fmt.Sprintf("the selector (probe %s, not a oneshot)", probe)
}

// TargetLabel says what the scenario targets, for people: a service name,
// "socket service (prefer X)" for a selector, or "" for fleet-wide.
func (s Scenario) TargetLabel() string {
	if !s.Targets.Selects() || s.Target != "" {
		return s.Target
	}
	t := *s.Targets
	what := "service"
	if t.Probe != "" && t.Probe != ProbeAny {
		what = t.Probe + " service"
	}
	switch {
	case t.Each:
		what = "each " + what
	case t.Sample > 1:
		what = fmt.Sprintf("%d %ss", t.Sample, what)
	}
	if len(t.Prefer) > 0 {
		what += " (prefer " + strings.Join(t.Prefer, ", ") + ")"
	}
	return what
}
