package zinit_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/zchaos/zchaos/zinit"
)

func TestScaleDuration(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		d      time.Duration
		factor float64
		want   time.Duration
	}{
		{2468 * ms, 0.5, 1234 * ms},
		{3 * ms, 0.5, 2 * ms}, // rounded to whole ms
		{5 * time.Second, 0.05, 250 * ms},
		{5 * time.Second, 1e-9, ms}, // at least 1 ms
		{time.Microsecond, 0.01, ms},
		{0, 0.05, 0}, // not given stays not given
		{-ms, 0.05, -ms},
		{1500 * time.Microsecond, 1, 1500 * time.Microsecond}, // scale 1: as is
		{ms, 0, ms},
		{ms, -1, ms},
		{ms, math.NaN(), ms},
		{time.Second, 2, 2 * time.Second},
	} {
		assert.Equal(t, c.want, zinit.ScaleDuration(c.d, c.factor), "%v × %v", c.d, c.factor)
	}
}

func TestScaleJob(t *testing.T) {
	j := zinit.Job{Service: "s", Name: "check", Exec: "herosim --slow-start 20s", Trigger: zinit.TriggerCheck,
		Interval: time.Minute, Timeout: 30 * time.Second}
	got := zinit.ScaleJob(j, 0.05)
	assert.Equal(t, 3*time.Second, got.Interval)
	assert.Equal(t, 1500*time.Millisecond, got.Timeout)
	assert.Zero(t, got.RestartDelay, "not given stays not given")
	assert.Equal(t, j.Exec, got.Exec, "the exec is not touched")
	m := zinit.Job{Service: "s", Name: "main", Trigger: zinit.TriggerStart, RestartDelay: 5 * time.Second, MaxRestarts: 20}
	assert.Equal(t, zinit.Job{Service: "s", Name: "main", Trigger: zinit.TriggerStart, RestartDelay: 250 * time.Millisecond, MaxRestarts: 20},
		zinit.ScaleJob(m, 0.05), "counts are not scaled")
}
