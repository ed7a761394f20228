package zinit

import "time"

// ScaleDuration scales a production duration to a time scale (factor < 1
// shrinks it): d × factor, rounded to whole milliseconds and never below
// 1 ms, so a positive duration stays positive. d ≤ 0 (zero is "not
// given"), factor 1 and a factor that is not > 0 leave d as it is.
func ScaleDuration(d time.Duration, factor float64) time.Duration {
	if !(factor > 0) || factor == 1 || d <= 0 {
		return d
	}
	s := time.Duration(float64(d) * factor).Round(time.Millisecond)
	if s < time.Millisecond {
		s = time.Millisecond
	}
	return s
}

// ScaleJob scales every duration of a job (restart delay, check interval,
// timeout) with ScaleDuration. Counts (max-restarts) and the exec are left
// as they are.
func ScaleJob(j Job, factor float64) Job {
	j.RestartDelay = ScaleDuration(j.RestartDelay, factor)
	j.Interval = ScaleDuration(j.Interval, factor)
	j.Timeout = ScaleDuration(j.Timeout, factor)
	return j
}
