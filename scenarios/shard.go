package scenarios

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
)

// Shard is one part of a run split across runners: Index of Count, both
// 1-based as written on the command line ("--shard 2/3"), as GitHub's
// matrix values and GitLab's CI_NODE_INDEX/CI_NODE_TOTAL count them. The
// zero Shard is the whole run.
type Shard struct {
	Index int `json:"index"` // 1..Count
	Count int `json:"count"` // how many shards the run was split into
}

// ParseShard reads "i/n" with 1 <= i <= n.
func ParseShard(s string) (Shard, error) {
	is, ns, ok := strings.Cut(s, "/")
	i, ierr := strconv.Atoi(strings.TrimSpace(is))
	n, nerr := strconv.Atoi(strings.TrimSpace(ns))
	switch {
	case !ok || ierr != nil || nerr != nil:
		return Shard{}, fmt.Errorf("shard %q: want INDEX/COUNT, e.g. 1/2 (1-based, as CI_NODE_INDEX/CI_NODE_TOTAL)", s)
	case n < 1:
		return Shard{}, fmt.Errorf("shard %q: the count must be at least 1", s)
	case i < 1 || i > n:
		return Shard{}, fmt.Errorf("shard %q: the index must be between 1 and %d (shards are numbered from 1)", s, n)
	}
	return Shard{Index: i, Count: n}, nil
}

// Sharded reports whether s splits the run (Count > 1).
func (s Shard) Sharded() bool { return s.Count > 1 }

func (s Shard) String() string {
	if s.Count == 0 {
		return "1/1"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// UnitKey names one scenario × config × attempt the same way on every
// machine: the scenario's name, its target when a selector chose it, the
// config and the 1-based attempt ("crash-restart@user.x/migrated#1").
func UnitKey(scenario, target, config string, attempt int) string {
	k := scenario
	if target != "" {
		k += "@" + target
	}
	return fmt.Sprintf("%s/%s#%d", k, config, attempt)
}

// Key is the result's UnitKey: what two shards must never both hold.
func (s ScenarioResult) Key() string { return UnitKey(s.Scenario, s.Service, s.Config, s.Attempt) }

// Assign returns, for each key, the 1-based shard it belongs to among
// count shards.
//
// The split orders the keys by a hash of the key (FNV-1a, ties broken by
// the key) and deals them out round-robin. Both steps depend on the keys
// alone, never on the order they were given in, the machine, the seed or
// the clock, so every runner given the same plan computes the same split.
// Round-robin makes the shards' sizes differ by at most one; ordering by
// hash first, rather than by name, keeps a scenario's configs and
// attempts from lining up on one shard (sorted by name, with two shards,
// every legacy attempt would land on one runner and every migrated one on
// the other). Keys must be distinct.
func Assign(keys []string, count int) []int {
	type unit struct {
		h   uint64
		key string
		at  int
	}
	us := make([]unit, len(keys))
	for i, k := range keys {
		h := fnv.New64a()
		h.Write([]byte(k))
		us[i] = unit{h.Sum64(), k, i}
	}
	slices.SortFunc(us, func(a, b unit) int {
		return cmp.Or(cmp.Compare(a.h, b.h), strings.Compare(a.key, b.key))
	})
	out := make([]int, len(keys))
	for pos, u := range us {
		out[u.at] = 1
		if count > 1 {
			out[u.at] = pos%count + 1
		}
	}
	return out
}

// PlanDigest fingerprints what a run was asked to do, before any sharding:
// every unit key with the source of its scenario. Shards of one run have
// the same digest; a shard run from another catalogue, another scenario
// list, other configs or another --repeat does not. units maps unit keys
// to their scenario's source (YAML).
func PlanDigest(units map[string]string) string {
	keys := make([]string, 0, len(units))
	for k := range units {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		src := sha256.Sum256([]byte(units[k]))
		fmt.Fprintf(h, "%s %x\n", k, src)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}
