package chaos

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/scenarios"
)

// TestObserveWindowAfterManualStart: after a start that follows the
// restart limit, the runner watches the whole second crash loop and then
// the quiet window, so R5/R6 can be judged on the second loop too; and
// the catalogue scenario waits W before that start, so they can be judged
// on the first one.
func TestObserveWindowAfterManualStart(t *testing.T) {
	const scale = 0.05
	sc, err := scenarios.Lookup("manual-start-after-limit")
	require.NoError(t, err)
	st, err := DeclaredSetup(sc, scale)
	require.NoError(t, err)
	r := &Runner{TimeScale: scale}
	r.defaults()
	a := &attempt{r: r, t: task{sc: sc}, setup: st, params: r.params(),
		model: JobModelFrom(sc.Target, st.Jobs, false, false), inj: Injector{CrashMinAge: 25 * time.Millisecond}}
	m := a.model
	require.Equal(t, 3, m.MaxRestarts)
	W := a.params.QuietWindow(m)

	require.Len(t, sc.Faults, 1)
	start := sc.Faults[0]
	assert.Equal(t, scenarios.FaultStart, start.Kind)
	assert.GreaterOrEqual(t, ScaleDuration(time.Duration(start.DelayMs)*time.Millisecond, scale), W,
		"the start waits the quiet window after the limit")

	// The second loop at its fastest: N delays, 1+N lives of CrashMinAge.
	loop := time.Duration(m.MaxRestarts)*m.RestartDelay + time.Duration(m.MaxRestarts+1)*a.inj.CrashMinAge
	assert.GreaterOrEqual(t, a.observeWindow(&start), loop+W)

	// A plain start (not after the limit) is not held that long.
	plain := scenarios.Fault{Kind: scenarios.FaultStart, When: "running"}
	assert.Less(t, a.observeWindow(&plain), loop+W)
}
