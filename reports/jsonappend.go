package reports

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/zchaos/zchaos/scenarios"
)

// The appenders below write exactly what encoding/json (HTML escaping off)
// writes for the scenario part of a result, without reflection: a result
// of 10,000 scenarios holds about a million events. They must follow
// scenarios.ScenarioResult and scenarios.Event field by field;
// TestJSONAppendersMatchEncodingJSON fills every field (found by
// reflection, so a new field fails it) and compares the bytes.

const jsonHex = "0123456789abcdef"

// appendJSONString is encoding/json's string encoding with HTML escaping
// off: quote, backslash and control characters escaped (\b \f \n \r \t
// short), invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(dst []byte, src string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(src); {
		if b := src[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, src[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', jsonHex[b>>4], jsonHex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(src[i:min(len(src), i+utf8.UTFMax)])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, src[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, src[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', jsonHex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, src[start:]...)
	return append(dst, '"')
}

// appendJSONFloat is encoding/json's float64 encoding (ES6 number
// conversion); ok is false for NaN and infinities, which JSON cannot hold.
func appendJSONFloat(dst []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, false
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, true
}

// appendEvent writes e as encoding/json writes it compactly.
func appendEvent(b []byte, e *scenarios.Event) []byte {
	b = append(b, `{"t_ns":`...)
	b = strconv.AppendInt(b, e.TNs, 10)
	b = append(b, `,"kind":`...)
	b = appendJSONString(b, string(e.Kind))
	str := func(b []byte, key, v string) []byte {
		if v == "" {
			return b
		}
		b = append(b, key...)
		return appendJSONString(b, v)
	}
	num := func(b []byte, key string, v int64) []byte {
		if v == 0 {
			return b
		}
		b = append(b, key...)
		return strconv.AppendInt(b, v, 10)
	}
	unum := func(b []byte, key string, v uint64) []byte {
		if v == 0 {
			return b
		}
		b = append(b, key...)
		return strconv.AppendUint(b, v, 10)
	}
	b = str(b, `,"service":`, e.Service)
	b = str(b, `,"job":`, e.Job)
	b = num(b, `,"pid":`, int64(e.PID))
	b = num(b, `,"pgid":`, int64(e.PGID))
	b = str(b, `,"cmdline":`, e.Cmdline)
	if e.Code != nil {
		b = append(b, `,"code":`...)
		b = strconv.AppendInt(b, int64(*e.Code), 10)
	}
	b = str(b, `,"signal":`, e.Signal)
	if e.OK != nil {
		b = append(b, `,"ok":`...)
		b = strconv.AppendBool(b, *e.OK)
	}
	b = str(b, `,"state":`, e.State)
	if e.Restarts != nil {
		b = append(b, `,"restarts":`...)
		b = strconv.AppendInt(b, int64(*e.Restarts), 10)
	}
	b = str(b, `,"reason":`, e.Reason)
	b = str(b, `,"fault":`, e.Fault)
	b = str(b, `,"detail":`, e.Detail)
	b = num(b, `,"dur_ns":`, e.DurNs)
	b = num(b, `,"err_ns":`, e.ErrNs)
	b = str(b, `,"source":`, string(e.Source))
	b = num(b, `,"last_exit_at_ms":`, e.LastExitAtMs)
	b = num(b, `,"last_check_at_ms":`, e.LastCheckAtMs)
	b = num(b, `,"zombie_ms":`, e.ZombieMs)
	b = str(b, `,"mechanism":`, string(e.Mechanism))
	b = str(b, `,"control":`, e.Control)
	b = unum(b, `,"target_start":`, e.TargetStart)
	b = num(b, `,"missed":`, int64(e.Missed))
	if e.Refused {
		b = append(b, `,"refused":true`...)
	}
	b = str(b, `,"socket":`, e.Socket)
	b = str(b, `,"aside":`, e.Aside)
	b = unum(b, `,"socket_ino":`, e.SocketIno)
	b = num(b, `,"helper_pid":`, int64(e.HelperPID))
	b = unum(b, `,"helper_start":`, e.HelperStart)
	b = num(b, `,"late_max_ns":`, e.LateMaxNs)
	b = num(b, `,"late_p50_ns":`, e.LateP50Ns)
	b = num(b, `,"ticks":`, int64(e.Ticks))
	b = num(b, `,"folded":`, int64(e.Folded))
	return append(b, '}')
}

// scenarioAppender writes one scenario result as encoding/json indents it
// with prefix "    " and indent "  " (depth 2 of the document), each
// timeline event compact on its own line. A false ok (a value JSON cannot
// hold: a NaN figure, a year outside 0–9999) leaves the caller to
// encoding/json, for its error.
type scenarioAppender struct {
	b  []byte
	ok bool
}

// nl starts a line at depth d below the scenario's own.
func (a *scenarioAppender) nl(d int) {
	a.b = append(a.b, "\n    "...)
	for range d {
		a.b = append(a.b, "  "...)
	}
}

func (a *scenarioAppender) key(d int, k string) {
	a.nl(d)
	a.b = append(a.b, '"')
	a.b = append(a.b, k...)
	a.b = append(a.b, `": `...)
}

func (a *scenarioAppender) str(d int, k, v string, last bool) {
	a.key(d, k)
	a.b = appendJSONString(a.b, v)
	if !last {
		a.b = append(a.b, ',')
	}
}

func (a *scenarioAppender) int(d int, k string, v int64) {
	a.key(d, k)
	a.b = strconv.AppendInt(a.b, v, 10)
	a.b = append(a.b, ',')
}

func (a *scenarioAppender) measure(d int, k string, m *scenarios.Measure, last bool) {
	a.key(d, k)
	if m == nil {
		a.b = append(a.b, "null"...)
	} else {
		var ok1, ok2 bool
		a.b = append(a.b, '{')
		a.key(d+1, "ms")
		a.b, ok1 = appendJSONFloat(a.b, m.Ms)
		a.b = append(a.b, ',')
		a.key(d+1, "error_ms")
		a.b, ok2 = appendJSONFloat(a.b, m.ErrorMs)
		a.nl(d)
		a.b = append(a.b, '}')
		a.ok = a.ok && ok1 && ok2
	}
	if !last {
		a.b = append(a.b, ',')
	}
}

func (a *scenarioAppender) scenario(s *scenarios.ScenarioResult) {
	a.ok = true
	a.b = append(a.b, '{')
	a.str(1, "scenario", s.Scenario, false)
	a.str(1, "description", s.Description, false)
	a.key(1, "tags")
	switch {
	case s.Tags == nil:
		a.b = append(a.b, "null"...)
	case len(s.Tags) == 0:
		a.b = append(a.b, "[]"...)
	default:
		a.b = append(a.b, '[')
		for i, t := range s.Tags {
			if i > 0 {
				a.b = append(a.b, ',')
			}
			a.nl(2)
			a.b = appendJSONString(a.b, t)
		}
		a.nl(1)
		a.b = append(a.b, ']')
	}
	a.b = append(a.b, ',')
	a.str(1, "config", s.Config, false)
	a.key(1, "baseline")
	a.b = strconv.AppendBool(a.b, s.Baseline)
	a.b = append(a.b, ',')
	a.str(1, "service", s.Service, false)
	a.int(1, "attempt", int64(s.Attempt))
	a.int(1, "seed", s.Seed)
	a.str(1, "verdict", s.Verdict.String(), false)
	a.str(1, "reason", s.Reason, false)
	a.key(1, "checks")
	switch {
	case s.Checks == nil:
		a.b = append(a.b, "null"...)
	case len(s.Checks) == 0:
		a.b = append(a.b, "[]"...)
	default:
		a.b = append(a.b, '[')
		for i := range s.Checks {
			c := &s.Checks[i]
			if i > 0 {
				a.b = append(a.b, ',')
			}
			a.nl(2)
			a.b = append(a.b, '{')
			a.str(3, "id", c.ID, false)
			a.str(3, "property", c.Property, false)
			a.str(3, "verdict", c.Verdict.String(), false)
			a.str(3, "expected", c.Expected, false)
			a.str(3, "observed", c.Observed, false)
			a.str(3, "reason", c.Reason, c.MachineLateMs == nil)
			if c.MachineLateMs != nil {
				var ok bool
				a.key(3, "machine_late_ms")
				a.b, ok = appendJSONFloat(a.b, *c.MachineLateMs)
				a.ok = a.ok && ok
			}
			a.nl(2)
			a.b = append(a.b, '}')
		}
		a.nl(1)
		a.b = append(a.b, ']')
	}
	a.b = append(a.b, ',')
	a.key(1, "recovery")
	a.b = append(a.b, '{')
	a.measure(2, "detect", s.Recovery.Detect, false)
	a.measure(2, "restart", s.Recovery.Restart, false)
	a.measure(2, "healthy", s.Recovery.Healthy, true)
	a.nl(1)
	a.b = append(a.b, "},"...)
	a.key(1, "policy")
	if p := s.Policy; p == nil {
		a.b = append(a.b, "null"...)
	} else {
		a.b = append(a.b, '{')
		a.str(2, "service", p.Service, false)
		a.str(2, "config", p.Config, false)
		a.key(2, "oneshot")
		a.b = strconv.AppendBool(a.b, p.Oneshot)
		a.b = append(a.b, ',')
		a.str(2, "restart", p.Restart, false)
		a.int(2, "restart_delay_ms", p.RestartDelayMs)
		a.int(2, "max_restarts", int64(p.MaxRestarts))
		a.int(2, "interval_ms", p.IntervalMs)
		a.int(2, "timeout_ms", p.TimeoutMs)
		a.str(2, "probe", p.Probe, false)
		a.str(2, "probe_source", p.ProbeSource, true)
		a.nl(1)
		a.b = append(a.b, '}')
	}
	a.b = append(a.b, ',')
	a.key(1, "started_at")
	t, err := s.StartedAt.MarshalJSON()
	if err != nil {
		a.ok = false
	}
	a.b = append(a.b, t...) // RFC 3339 digits, nothing to escape
	a.b = append(a.b, ',')
	a.int(1, "duration_ms", s.DurationMs)
	a.int(1, "physical_min_ms", s.PhysicalMinMs)
	a.key(1, "load")
	if s.Load == nil {
		a.b = append(a.b, "null"...)
	} else {
		var ok [3]bool
		a.b = append(a.b, '{')
		a.key(2, "p50_ms")
		a.b, ok[0] = appendJSONFloat(a.b, s.Load.P50Ms)
		a.b = append(a.b, ',')
		a.key(2, "p99_ms")
		a.b, ok[1] = appendJSONFloat(a.b, s.Load.P99Ms)
		a.b = append(a.b, ',')
		a.key(2, "max_ms")
		a.b, ok[2] = appendJSONFloat(a.b, s.Load.MaxMs)
		a.b = append(a.b, ',')
		a.key(2, "windows")
		a.b = strconv.AppendInt(a.b, int64(s.Load.Windows), 10)
		a.nl(1)
		a.b = append(a.b, '}')
		a.ok = a.ok && ok[0] && ok[1] && ok[2]
	}
	a.b = append(a.b, ',')
	a.key(1, "timeline")
	switch {
	case s.Timeline == nil:
		a.b = append(a.b, "null"...)
	case len(s.Timeline) == 0:
		a.b = append(a.b, "[]"...)
	default:
		a.b = append(a.b, '[')
		for i := range s.Timeline {
			if i > 0 {
				a.b = append(a.b, ',')
			}
			a.nl(2)
			a.b = appendEvent(a.b, &s.Timeline[i])
		}
		a.nl(1)
		a.b = append(a.b, ']')
	}
	a.b = append(a.b, ',')
	a.str(1, "forensics", s.Forensics, s.RawEvents == "")
	if s.RawEvents != "" {
		a.str(1, "raw_events", s.RawEvents, true)
	}
	a.nl(0)
	a.b = append(a.b, '}')
}
