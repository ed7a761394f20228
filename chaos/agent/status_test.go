package agent

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/scenarios"
)

// The last exit zinit reports travels as fields: its code or signal, and
// LastExitAtMs, which names it so the harness can pair it with the exit it saw.
func TestStatusPollerLastExitFields(t *testing.T) {
	answers := []string{
		`{"name":"svc","state":"running","pid":10,"restarts":0}`,
		`{"name":"svc","state":"restarting","pid":null,"restarts":0,"last_exit":{"code":3,"signal":null,"at_ms":1234}}`,
		`{"name":"svc","state":"running","pid":11,"restarts":1,"last_exit":{"code":null,"signal":"SIGKILL","at_ms":2345}}`,
	}
	i := 0
	sp := &statusPoller{cli: "zinit", services: []string{"svc"}, last: map[string]statusKey{},
		mono: func() int64 { return int64(i) },
		exec: func(context.Context, []string) ([]byte, error) { i++; return []byte(answers[i-1]), nil }}
	var got []scenarios.Event
	for range answers {
		got = append(got, sp.step(context.Background(), time.Second)...)
	}
	require.Len(t, got, 3)
	assert.Zero(t, got[0].LastExitAtMs, "no exit yet")
	assert.Equal(t, int64(1234), got[1].LastExitAtMs)
	require.NotNil(t, got[1].Code)
	assert.Equal(t, 3, *got[1].Code)
	assert.Equal(t, int64(2345), got[2].LastExitAtMs)
	assert.Equal(t, "SIGKILL", got[2].Signal)
	for _, e := range got {
		assert.Equal(t, scenarios.SourceAgent, e.Source)
	}
}
