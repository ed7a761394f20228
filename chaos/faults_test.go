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
// turned: the control file, the very process that was signalled, or the
// interposer and the socket it took over.
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
		"interpose": {scenarios.Event{Kind: scenarios.EventFault, PID: 14, Mechanism: scenarios.MechanismInterpose,
			Socket: "/s/svc.sock", Aside: "/s/svc.sock.zchaos-orig", SocketIno: 77, HelperPID: 99, HelperStart: 5150,
			Detail: "mechanism=interpose socket=/elsewhere"},
			[]string{"--revert", "--socket", "/s/svc.sock", "--aside", "/s/svc.sock.zchaos-orig", "--socket-ino", "77",
				"--helper-pid", "99", "--helper-start", "5150"}},
		"interpose never took over": {scenarios.Event{Kind: scenarios.EventFault, Mechanism: scenarios.MechanismInterpose,
			Socket: "/s/svc.sock"}, nil},
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
