package scenarios_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/scenarios"
)

func TestParseShard(t *testing.T) {
	for in, want := range map[string]scenarios.Shard{"1/1": {1, 1}, "1/2": {1, 2}, "2/2": {2, 2}, " 3 / 7 ": {3, 7}} {
		got, err := scenarios.ParseShard(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"3/2", "0/0", "0/2", "a/b", "1", "", "1/", "/2", "-1/2", "2/-2", "1/2/3"} {
		_, err := scenarios.ParseShard(in)
		assert.Error(t, err, in)
	}
}

// unitKeys makes a plan like the runner's: scenarios × configs × attempts.
func unitKeys(nScen, repeat int, configs ...string) []string {
	var keys []string
	for s := range nScen {
		for _, c := range configs {
			for a := 1; a <= repeat; a++ {
				keys = append(keys, scenarios.UnitKey(fmt.Sprintf("scenario-%02d", s), "", c, a))
			}
		}
	}
	return keys
}

// Property: for any plan and shard count, every unit lands in exactly one
// shard in 1..n, the shards' sizes differ by at most one, and the split
// does not depend on the order of the units.
func TestAssignPartitionsEveryPlan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		keys := unitKeys(rng.IntN(40), 1+rng.IntN(4), mig, leg)
		if rng.IntN(2) == 0 {
			keys = unitKeys(rng.IntN(40), 1+rng.IntN(3), mig)
		}
		n := 1 + rng.IntN(9)
		owner := scenarios.Assign(keys, n)
		require.Len(t, owner, len(keys))
		sizes := make([]int, n+1)
		for i, o := range owner {
			require.True(t, o >= 1 && o <= n, "trial %d: unit %s in shard %d of %d", trial, keys[i], o, n)
			sizes[o]++
		}
		lo, hi := slices.Min(sizes[1:]), slices.Max(sizes[1:])
		assert.LessOrEqual(t, hi-lo, 1, "trial %d: sizes %v", trial, sizes[1:])

		// Shuffled input: every key keeps its shard.
		perm := rng.Perm(len(keys))
		shuffled := make([]string, len(keys))
		for i, p := range perm {
			shuffled[i] = keys[p]
		}
		again := scenarios.Assign(shuffled, n)
		for i, p := range perm {
			require.Equal(t, owner[p], again[i], "trial %d: %s moved when the plan was reordered", trial, keys[p])
		}
	}
}

// The split is part of the wire contract between runners of different
// builds: a change would let two versions run overlapping shards. This
// pins it for a small plan.
func TestAssignIsPinned(t *testing.T) {
	keys := unitKeys(4, 1, mig, leg)
	assert.Equal(t, []int{1, 1, 2, 2, 2, 1, 2, 1}, scenarios.Assign(keys, 2), "keys %v", keys)
	assert.Equal(t, []int{1, 1, 1, 1}, scenarios.Assign(keys[:4], 1))
}

// Sorted by name, two shards would take all legacy attempts on one runner
// and all migrated ones on the other; hashed first, both get some of each.
func TestAssignMixesConfigs(t *testing.T) {
	keys := unitKeys(19, 1, mig, leg)
	owner := scenarios.Assign(keys, 2)
	per := map[string]int{}
	for i, k := range keys {
		per[fmt.Sprintf("%d %v", owner[i], strings.HasSuffix(k, "/legacy#1"))]++
	}
	for _, k := range []string{"1 true", "1 false", "2 true", "2 false"} {
		assert.Positive(t, per[k], "shard and legacy? %s: %v", k, per)
	}
}

func TestPlanDigest(t *testing.T) {
	a := scenarios.PlanDigest(map[string]string{"x/migrated#1": "name: x", "y/migrated#1": "name: y"})
	assert.Equal(t, a, scenarios.PlanDigest(map[string]string{"y/migrated#1": "name: y", "x/migrated#1": "name: x"}))
	assert.NotEqual(t, a, scenarios.PlanDigest(map[string]string{"x/migrated#1": "name: x", "y/migrated#1": "name: y # edited"}))
	assert.NotEqual(t, a, scenarios.PlanDigest(map[string]string{"x/migrated#1": "name: x"}))
}

// shardResults splits a run of scenario results the way the runner does
// and returns one result per shard.
func shardResults(t testing.TB, all []scenarios.ScenarioResult, n int) []scenarios.ShardInput {
	t.Helper()
	keys := make([]string, len(all))
	units := map[string]string{}
	for i, s := range all {
		keys[i] = s.Key()
		units[keys[i]] = "name: " + s.Scenario
	}
	owner := scenarios.Assign(keys, n)
	start := time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC)
	var out []scenarios.ShardInput
	for i := 1; i <= n; i++ {
		r := scenarios.Result{SchemaVersion: scenarios.ResultSchemaVersion, RunID: fmt.Sprintf("zc-%d", i),
			Image: "zchaos/hero:abc", Seed: 7, TimeScale: 0.05, Plan: scenarios.PlanDigest(units), PlanAttempts: len(all),
			Shard: &scenarios.Shard{Index: i, Count: n}, StartedAt: start.Add(time.Duration(i) * time.Second), DurationMs: int64(1000 * i),
			Services: []scenarios.ServicePolicy{{Service: "svc", Config: mig}, {Service: "svc", Config: leg}}}
		for j, s := range all {
			if owner[j] == i {
				r.Scenarios = append(r.Scenarios, s)
			}
		}
		r.Decide(0)
		out = append(out, scenarios.ShardInput{Name: fmt.Sprintf("shard%d.json", i), Result: r})
	}
	return out
}

func gateRun() []scenarios.ScenarioResult {
	return []scenarios.ScenarioResult{
		sr("crash", mig, 1, scenarios.VerdictPass, "restarted after 251 ms"),
		sr("crash", leg, 1, scenarios.VerdictFail, "not restarted"),
		sr("hang", mig, 1, scenarios.VerdictPass, "killed by its check"),
		sr("hang", leg, 1, scenarios.VerdictFail, "never detected"),
		sr("monkey", mig, 1, scenarios.VerdictPass, "all back"),
	}
}

func TestMergeGivesTheUnshardedDecision(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  []scenarios.ScenarioResult
		want scenarios.Decision
	}{
		{"promote", gateRun(), scenarios.DecisionPromote},
		{"block", append(gateRun(), sr("reload", mig, 1, scenarios.VerdictFail, "stopped by the reload")), scenarios.DecisionBlock},
	} {
		t.Run(tc.name, func(t *testing.T) {
			whole := scenarios.Result{Scenarios: slices.Clone(tc.run)}
			whole.Decide(0)
			for n := 1; n <= 4; n++ {
				in := shardResults(t, tc.run, n)
				got, err := scenarios.Merge(in)
				require.NoError(t, err, "n=%d", n)
				assert.Equal(t, tc.want, got.Decision, "n=%d", n)
				assert.Equal(t, whole.Decision, got.Decision)
				assert.Equal(t, whole.DecisionReason, got.DecisionReason, "n=%d", n)
				assert.Len(t, got.Scenarios, len(tc.run))
				assert.Nil(t, got.Shard, "a merged result is whole")
				assert.Len(t, got.MergedFrom, n)
				assert.Len(t, got.Services, 2, "services deduplicated")
				assert.Equal(t, scenarios.ConfigMigrated, got.Services[0].Config, "migrated first")
				assert.Len(t, got.Diff, 2, "behaviour diff over the whole run")
				// Shard i started at +i s and ran i s: the merged run spans 1 s .. 2n s.
				assert.Equal(t, int64(2000*n-1000), got.DurationMs, "n=%d", n)
			}
		})
	}
}

func TestMergeRefuses(t *testing.T) {
	base := func() []scenarios.ShardInput { return shardResults(t, gateRun(), 2) }
	for _, tc := range []struct {
		name   string
		edit   func([]scenarios.ShardInput) []scenarios.ShardInput
		field  string
		naming []string
	}{
		{"image", func(in []scenarios.ShardInput) []scenarios.ShardInput {
			in[1].Result.Image = "zchaos/hero:def"
			return in
		},
			"image", []string{"zchaos/hero:abc", "zchaos/hero:def", "shard1.json", "shard2.json"}},
		{"seed", func(in []scenarios.ShardInput) []scenarios.ShardInput { in[1].Result.Seed = 8; return in }, "seed", []string{"7", "8"}},
		{"scale", func(in []scenarios.ShardInput) []scenarios.ShardInput { in[1].Result.TimeScale = 0.1; return in }, "time_scale", []string{"0.05", "0.1"}},
		{"catalogue", func(in []scenarios.ShardInput) []scenarios.ShardInput {
			in[1].Result.Plan = "sha256:0000"
			return in
		}, "catalogue", []string{"sha256:0000"}},
		{"count", func(in []scenarios.ShardInput) []scenarios.ShardInput { in[1].Result.Shard.Count = 3; return in }, "shard count", []string{"2", "3"}},
		{"overlap", func(in []scenarios.ShardInput) []scenarios.ShardInput {
			in[1].Result.Scenarios = append(in[1].Result.Scenarios, in[0].Result.Scenarios[0])
			return in
		}, "attempt", []string{in0key(base()), "shard1.json", "shard2.json"}},
		{"same shard twice", func(in []scenarios.ShardInput) []scenarios.ShardInput {
			return []scenarios.ShardInput{in[0], {Name: "copy.json", Result: in[0].Result}}
		}, "attempt", []string{"copy.json", "shard1.json"}},
		{"missing", func(in []scenarios.ShardInput) []scenarios.ShardInput { return in[:1] }, "shard", []string{"2/2 missing"}},
		{"not a shard", func(in []scenarios.ShardInput) []scenarios.ShardInput { in[0].Result.Shard = nil; return in }, "shard", []string{"shard1.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scenarios.Merge(tc.edit(base()))
			var me *scenarios.MergeError
			require.True(t, errors.As(err, &me), "%v", err)
			assert.Equal(t, tc.field, me.Field)
			for _, s := range tc.naming {
				assert.Contains(t, err.Error(), s)
			}
		})
	}
}

func in0key(in []scenarios.ShardInput) string { return in[0].Result.Scenarios[0].Key() }

// BenchmarkMerge joins two shards of a 10,000-attempt run (the figure
// beside the CLI's report --merge, which also reads and writes JSON).
func BenchmarkMerge(b *testing.B) {
	var all []scenarios.ScenarioResult
	for i := range 5000 {
		for _, c := range []string{mig, leg} {
			all = append(all, sr(fmt.Sprintf("scenario-%04d", i), c, 1, scenarios.VerdictPass, "restarted after 251 ms"))
		}
	}
	in := shardResults(b, all, 2)
	b.ResetTimer()
	for b.Loop() {
		if _, err := scenarios.Merge(in); err != nil {
			b.Fatal(err)
		}
	}
}
