package chaos_test

import (
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/scenarios"
)

// execOnly answers every Exec with the same events and records the argvs.
type execOnly struct {
	runtime.Container
	answer []scenarios.Event
	argvs  [][]string
}

func (c *execOnly) Exec(_ context.Context, argv []string, _ io.Reader) (runtime.ExecResult, error) {
	c.argvs = append(c.argvs, argv)
	var out []byte
	for _, e := range c.answer {
		b, _ := json.Marshal(e)
		out = append(append(out, b...), '\n')
	}
	return runtime.ExecResult{Stdout: out}, nil
}

// A health fault's revert names what the fault event's fields say was
// turned: the control file, or the very process that was signalled.
func TestHealthFaultRevertFromEventFields(t *testing.T) {
	yes := true
	for name, tc := range map[string]struct {
		fault scenarios.Event
		want  []string
	}{
		"control": {scenarios.Event{Kind: scenarios.EventFault, PID: 10, Mechanism: scenarios.MechanismControl, Control: "/run/herosim/svc",
			Detail: "mechanism=control file=/somewhere/else"}, []string{"--revert", "--control", "/run/herosim/svc"}},
		"signal": {scenarios.Event{Kind: scenarios.EventFault, PID: 12, Signal: "SIGUSR1", Mechanism: scenarios.MechanismSignal, TargetStart: 4242},
			[]string{"--revert", "--pid", "12", "--start", "4242"}},
		"none": {scenarios.Event{Kind: scenarios.EventFault, Detail: "mechanism=control file=/x"}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			c := &execOnly{answer: []scenarios.Event{tc.fault, {Kind: scenarios.EventEffect, OK: &yes}}}
			_, rev, err := chaos.FaultClient{}.Inject(context.Background(), c, scenarios.Fault{Kind: scenarios.FaultHealthHang}, "svc")
			require.NoError(t, err)
			if tc.want == nil {
				assert.Nil(t, rev, "nothing known to undo: the Detail is not read")
				return
			}
			require.NotNil(t, rev)
			c.answer = []scenarios.Event{{Kind: scenarios.EventRevert, OK: &yes}}
			_, err = rev(context.Background())
			require.NoError(t, err)
			require.Len(t, c.argvs, 2)
			assert.Equal(t, tc.want, c.argvs[1][len(c.argvs[1])-len(tc.want):])
		})
	}
}
