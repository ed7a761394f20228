package oracle

import (
	"errors"
	"fmt"
	"time"

	"github.com/zchaos/zchaos/scenarios"
)

// ScaleLadder is what `--time-scale auto` chooses from, fastest first.
var ScaleLadder = []float64{0.05, 0.1, 0.25, 0.5, 1}

// ErrTooLoaded says no time scale's tolerances exceed the machine's
// measured timer lateness: no timing can be judged on it.
var ErrTooLoaded = errors.New("machine too loaded to judge any timing")

// ChooseScale picks the fastest scale of the ladder at which every upper
// tolerance (its smallest is the slack floor, Params.SlackMin) exceeds the
// calibration's p99 timer lateness LoadMargin times over, so a late event
// judged at that scale can be told from a late machine. The reason says
// why, with both numbers. ErrTooLoaded (wrapped, with the numbers) when
// even the slowest scale cannot.
func ChooseScale(load scenarios.Load, ladder []float64) (float64, string, error) {
	late := time.Duration(load.P99Ms * float64(time.Millisecond))
	for _, s := range ladder {
		if floor := DefaultParams(s).SlackMin; floor > LoadMargin*late {
			return s, fmt.Sprintf("timer lateness p99 %s (max %s over %d windows): scale %g, whose smallest tolerance %s exceeds it %d times over",
				fmtDur(late), fmtDur(time.Duration(load.MaxMs*float64(time.Millisecond))), load.Windows, s, fmtDur(floor), LoadMargin), nil
		}
	}
	slowest := ladder[len(ladder)-1]
	return 0, "", fmt.Errorf("%w: timer lateness p99 %s, while even scale %g tolerates only %s",
		ErrTooLoaded, fmtDur(late), slowest, fmtDur(DefaultParams(slowest).SlackMin))
}
