package scenarios

import (
	"regexp"
	"time"
)

// scaledFlagRE matches the duration knobs of the stand-in service herosim
// in a command line: "--slow-start 20s", "--crash-after=1500ms".
var scaledFlagRE = regexp.MustCompile(`(--(?:slow-start|crash-after)[= ]+)([0-9][0-9a-zµ.]*)`)

// ScaleExec returns exec with the durations of herosim's timing knobs
// (--slow-start, --crash-after; Go duration syntax) multiplied by scale, so
// that a declared job's own timings shrink with the job model's when a
// scenario runs at a time scale other than 1. Anything it cannot parse is
// left as written; scale <= 0 or 1 returns exec unchanged.
func ScaleExec(exec string, scale float64) string {
	if scale <= 0 || scale == 1 {
		return exec
	}
	return scaledFlagRE.ReplaceAllStringFunc(exec, func(m string) string {
		parts := scaledFlagRE.FindStringSubmatch(m)
		d, err := time.ParseDuration(parts[2])
		if err != nil {
			return m
		}
		scaled := time.Duration(float64(d) * scale).Round(time.Millisecond)
		if scaled <= 0 {
			scaled = time.Millisecond
		}
		return parts[1] + scaled.String()
	})
}
