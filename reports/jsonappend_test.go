package reports

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/scenarios"
)

// Strings that exercise every branch of encoding/json's string encoding.
var jsonTrickyStrings = []string{
	"", "plain", `quote " and \ backslash`, "<html> & 'x'", "tab\tnl\ncr\rbs\bff\f", "\x00\x01\x1f\x7f",
	"ünïcödé ± → ✅", "bad utf8 \xff\xfe end", "\xe2\x82", "line\u2028para\u2029", "\"scenarios\": null",
}

// encodingJSON is the reference: what encoding/json writes for v, compact,
// HTML escaping off.
func encodingJSON(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(v))
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// fill sets every field of v (found by reflection, so a field added to the
// model is filled too) to a non-zero value drawn from rng.
func fill(v reflect.Value, rng *rand.Rand) {
	if v.Type() == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(time.Date(2000+rng.IntN(100), 3, 14, 9, 30, rng.IntN(60), rng.IntN(2)*123456789, time.UTC)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(jsonTrickyStrings[1+rng.IntN(len(jsonTrickyStrings)-1)])
	case reflect.Int, reflect.Int64:
		if v.Type() == reflect.TypeFor[scenarios.Verdict]() {
			v.SetInt(int64(rng.IntN(6))) // 5 is an unknown verdict
			return
		}
		n := rng.Int64N(1 << 40)
		if rng.IntN(3) == 0 {
			n = -n - 1
		}
		v.SetInt(n + 1)
	case reflect.Uint64:
		v.SetUint(rng.Uint64N(1<<40) + 1)
	case reflect.Float64:
		fs := []float64{0.1, 1e-7, -2.5e-9, 1e21, 123456789.125, 250, -0.0001, 1e20}
		v.SetFloat(fs[rng.IntN(len(fs))])
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), rng)
		v.Set(p)
	case reflect.Slice:
		n := 1 + rng.IntN(3)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range s.Len() {
			fill(s.Index(i), rng)
		}
		v.Set(s)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), rng)
		}
	default:
		panic("fill: unhandled kind " + v.Kind().String() + " of " + v.Type().String())
	}
}

// zeroAt sets field i of the struct v to the zero value of its type, or
// for a pointer, to a pointer to a zero (which omitempty keeps).
func zeroAt(v reflect.Value, i int, pointee bool) {
	f := v.Field(i)
	if pointee && f.Kind() == reflect.Pointer {
		f.Set(reflect.New(f.Type().Elem()))
		return
	}
	f.Set(reflect.Zero(f.Type()))
}

func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	check := func(e scenarios.Event) {
		t.Helper()
		want := encodingJSON(t, e)
		if got := string(appendEvent(nil, &e)); got != want {
			t.Errorf("event %+v:\n got %s\nwant %s", e, got, want)
		}
	}
	check(scenarios.Event{})
	rng := rand.New(rand.NewPCG(1, 2))
	n := reflect.TypeFor[scenarios.Event]().NumField()
	for range 200 {
		var e scenarios.Event
		fill(reflect.ValueOf(&e).Elem(), rng)
		check(e)
		// Every field alone, and every field left out (nil vs pointer to zero).
		for i := range n {
			var only scenarios.Event
			reflect.ValueOf(&only).Elem().Field(i).Set(reflect.ValueOf(e).Field(i))
			check(only)
			for _, pointee := range []bool{false, true} {
				x := e
				zeroAt(reflect.ValueOf(&x).Elem(), i, pointee)
				check(x)
			}
		}
		// A random subset of fields.
		x := e
		for i := range n {
			if rng.IntN(2) == 0 {
				zeroAt(reflect.ValueOf(&x).Elem(), i, rng.IntN(2) == 0)
			}
		}
		check(x)
	}
	for _, s := range jsonTrickyStrings {
		check(scenarios.Event{Kind: scenarios.EventKind(s), Detail: s, Cmdline: s})
	}
}

// The appender writes what the encoding/json path (writeScenario) writes,
// for every field, empty and nil lists, nil and zero pointers.
func TestScenarioAppenderMatchesEncodingJSON(t *testing.T) {
	check := func(s scenarios.ScenarioResult) {
		t.Helper()
		var want, buf bytes.Buffer
		require.NoError(t, writeScenario(&want, &buf, s))
		var a scenarioAppender
		a.scenario(&s)
		require.True(t, a.ok)
		if got := string(a.b); got != want.String() {
			i := 0
			for i < len(got) && i < want.Len() && got[i] == want.String()[i] {
				i++
			}
			t.Errorf("differs at byte %d: got %.120q, want %.120q", i, got[i:], want.String()[i:])
		}
	}
	check(scenarios.ScenarioResult{})
	rng := rand.New(rand.NewPCG(3, 4))
	n := reflect.TypeFor[scenarios.ScenarioResult]().NumField()
	for range 100 {
		var s scenarios.ScenarioResult
		fill(reflect.ValueOf(&s).Elem(), rng)
		check(s)
		for i := range n {
			for _, pointee := range []bool{false, true} {
				x := s
				zeroAt(reflect.ValueOf(&x).Elem(), i, pointee)
				check(x)
			}
			// Empty, not nil, lists.
			if f := reflect.ValueOf(&s).Elem().Field(i); f.Kind() == reflect.Slice {
				x := s
				reflect.ValueOf(&x).Elem().Field(i).Set(reflect.MakeSlice(f.Type(), 0, 0))
				check(x)
			}
		}
		x := s
		x.Recovery = scenarios.Recovery{Restart: &scenarios.Measure{}}
		x.Policy = &scenarios.ServicePolicy{}
		x.Checks = []scenarios.InvariantCheck{{}}
		check(x)
	}
}

func TestAppendJSONStringAndFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		s := string(b)
		assert.Equal(t, encodingJSON(t, s), string(appendJSONString(nil, s)), "%q", s)
	}
	for _, s := range jsonTrickyStrings {
		assert.Equal(t, encodingJSON(t, s), string(appendJSONString(nil, s)), "%q", s)
	}
	for range 2000 {
		f := math.Float64frombits(rng.Uint64())
		got, ok := appendJSONFloat(nil, f)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			assert.False(t, ok)
			continue
		}
		require.True(t, ok)
		assert.Equal(t, encodingJSON(t, f), string(got), "%v", f)
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 1e-6, 9.99e-7, 1e21, 9.99e20, 0.05, 1e-9, -1e-10} {
		got, _ := appendJSONFloat(nil, f)
		assert.Equal(t, encodingJSON(t, f), string(got), "%v", f)
	}
}

// A value JSON cannot hold fails as encoding/json fails.
func TestJSONUnsupportedValueFails(t *testing.T) {
	r := scenarios.Result{SchemaVersion: 1, Scenarios: []scenarios.ScenarioResult{{Recovery: scenarios.Recovery{Detect: &scenarios.Measure{Ms: math.NaN()}}}}}
	var b bytes.Buffer
	err := JSON(&b, r)
	var uv *json.UnsupportedValueError
	assert.ErrorAs(t, err, &uv)
}
