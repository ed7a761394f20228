package scenarios

import (
	"math"
	"slices"
)

// LoadOf sums up the canary windows of an event stream: the median of the
// windows' median lateness, and the 99th percentile and maximum of their
// worst ticks (nil when there is no canary window).
func LoadOf(evs []Event) *Load {
	var meds, maxes []int64
	for _, e := range evs {
		if e.Kind == EventCanary {
			meds, maxes = append(meds, e.LateP50Ns), append(maxes, e.LateMaxNs)
		}
	}
	if len(maxes) == 0 {
		return nil
	}
	slices.Sort(meds)
	slices.Sort(maxes)
	toMs := func(ns int64) float64 { return math.Round(float64(ns)/1e3) / 1e3 }
	return &Load{P50Ms: toMs(meds[len(meds)/2]), P99Ms: toMs(maxes[(len(maxes)*99)/100]),
		MaxMs: toMs(maxes[len(maxes)-1]), Windows: len(maxes)}
}
