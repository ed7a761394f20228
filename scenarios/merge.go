package scenarios

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MergeError says why shard results cannot be merged into one.
type MergeError struct {
	Field  string // what disagrees or is wrong: image, seed, time_scale, catalogue, require, shard, attempt
	Detail string // the values and the files, for people
}

func (e *MergeError) Error() string { return e.Detail }

// ShardInput is one shard result to merge and where it came from (for
// messages).
type ShardInput struct {
	Name   string // file name
	Result Result
}

// Merge joins the results of the shards of one run (--shard i/n, every i
// from 1 to n, each once) into one result and decides it. It refuses,
// with a *MergeError, results that are not shards, shards that disagree
// on image, seed, time scale, catalogue (the plan digest) or require,
// shards that overlap (the duplicated attempt is named), and a set with a
// shard missing: a decision on part of the plan would promote what was
// never run.
func Merge(in []ShardInput) (Result, error) {
	if len(in) == 0 {
		return Result{}, &MergeError{Field: "shard", Detail: "no shard result to merge"}
	}
	for _, s := range in {
		if s.Result.Shard == nil {
			return Result{}, &MergeError{Field: "shard", Detail: fmt.Sprintf("%s is not a shard result (it has no shard field): run with --shard i/n", s.Name)}
		}
	}
	first := in[0]
	agree := []struct {
		field string
		value func(Result) string
	}{
		{"shard count", func(r Result) string { return strconv.Itoa(r.Shard.Count) }},
		{"image", func(r Result) string { return r.Image }},
		{"seed", func(r Result) string { return strconv.FormatInt(r.Seed, 10) }},
		{"time_scale", func(r Result) string { return strconv.FormatFloat(r.TimeScale, 'g', -1, 64) }},
		{"catalogue", func(r Result) string {
			return fmt.Sprintf("%s (%d attempts)", cmp.Or(r.Plan, "none recorded"), r.PlanAttempts)
		}},
		{"require", func(r Result) string { return strconv.Itoa(r.Require) }},
	}
	for _, a := range agree {
		want := a.value(first.Result)
		for _, s := range in[1:] {
			if got := a.value(s.Result); got != want {
				return Result{}, &MergeError{Field: a.field, Detail: fmt.Sprintf("the shards disagree on the %s: %s has %s, %s has %s",
					a.field, first.Name, want, s.Name, got)}
			}
		}
	}
	count := first.Result.Shard.Count
	owner := map[string]string{}
	for _, s := range in {
		for _, sc := range s.Result.Scenarios {
			k := sc.Key()
			if prev, ok := owner[k]; ok {
				return Result{}, &MergeError{Field: "attempt", Detail: fmt.Sprintf("the shards overlap: attempt %s is in %s and in %s", k, prev, s.Name)}
			}
			owner[k] = s.Name
		}
	}
	byIndex := map[int]string{}
	for _, s := range in {
		i := s.Result.Shard.Index
		if prev, ok := byIndex[i]; ok {
			return Result{}, &MergeError{Field: "shard", Detail: fmt.Sprintf("shard %s is given twice: %s and %s", s.Result.Shard, prev, s.Name)}
		}
		byIndex[i] = s.Name
	}
	var missing []string
	for i := 1; i <= count; i++ {
		if _, ok := byIndex[i]; !ok {
			missing = append(missing, Shard{Index: i, Count: count}.String())
		}
	}
	if len(missing) > 0 {
		return Result{}, &MergeError{Field: "shard", Detail: fmt.Sprintf("shard %s missing: a decision needs every shard of the run", strings.Join(missing, ", "))}
	}
	if n := len(owner); n != first.Result.PlanAttempts {
		return Result{}, &MergeError{Field: "attempt", Detail: fmt.Sprintf("the shards hold %d attempts, their plan has %d", n, first.Result.PlanAttempts)}
	}

	sorted := slices.Clone(in)
	slices.SortFunc(sorted, func(a, b ShardInput) int { return cmp.Compare(a.Result.Shard.Index, b.Result.Shard.Index) })
	out := first.Result
	out.Shard, out.Scenarios, out.Services, out.Ledger, out.Diff = nil, nil, nil, nil, nil
	out.MergedFrom = nil
	var runIDs []string
	end := time.Time{}
	seen := map[string]bool{}
	for _, s := range sorted {
		r := s.Result
		runIDs = append(runIDs, r.RunID)
		if r.StartedAt.Before(out.StartedAt) {
			out.StartedAt = r.StartedAt
		}
		if e := r.StartedAt.Add(time.Duration(r.DurationMs) * time.Millisecond); e.After(end) {
			end = e
		}
		out.MergedFrom = append(out.MergedFrom, MergedShard{Shard: *r.Shard, RunID: r.RunID, StartedAt: r.StartedAt,
			DurationMs: r.DurationMs, Attempts: len(r.Scenarios)})
		out.Scenarios = append(out.Scenarios, r.Scenarios...)
		for _, p := range r.Services {
			if k := "svc\x00" + p.Service + "\x00" + p.Config; !seen[k] {
				seen[k] = true
				out.Services = append(out.Services, p)
			}
		}
		for _, l := range r.Ledger {
			if k := "ledger\x00" + l.Service + "\x00" + l.Field + "\x00" + l.Detail; !seen[k] {
				seen[k] = true
				out.Ledger = append(out.Ledger, l)
			}
		}
	}
	out.RunID = strings.Join(runIDs, "+")
	out.DurationMs = end.Sub(out.StartedAt).Milliseconds()
	// The runner's orders: migrated before legacy, then by name.
	cfgRank := func(c string) int {
		if c == ConfigLegacy {
			return 1
		}
		return 0
	}
	slices.SortStableFunc(out.Services, func(a, b ServicePolicy) int {
		return cmp.Or(cmp.Compare(cfgRank(a.Config), cfgRank(b.Config)), strings.Compare(a.Service, b.Service))
	})
	slices.SortStableFunc(out.Scenarios, func(a, b ScenarioResult) int {
		return cmp.Or(strings.Compare(a.Scenario, b.Scenario), strings.Compare(a.Service, b.Service),
			cmp.Compare(cfgRank(a.Config), cfgRank(b.Config)), cmp.Compare(a.Attempt, b.Attempt))
	})
	configs := map[string]bool{}
	for _, s := range out.Scenarios {
		configs[s.Config] = true
	}
	if configs[ConfigLegacy] && configs[ConfigMigrated] {
		out.Diff = BehaviourDiffs(out)
	}
	out.Decide(first.Result.Require)
	return out, nil
}
