package scenarios_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/zchaos/zchaos/scenarios"
)

func TestScaleExec(t *testing.T) {
	for _, tc := range []struct {
		in    string
		scale float64
		want  string
	}{
		{"herosim serve --name x --slow-start 20s", 0.05, "herosim serve --name x --slow-start 1s"},
		{"herosim serve --crash-after=1500ms --exit-code 3", 0.1, "herosim serve --crash-after=150ms --exit-code 3"},
		{"herosim serve --slow-start 20s --crash-after 1m", 0.5, "herosim serve --slow-start 10s --crash-after 30s"},
		{"herosim serve --slow-start 20s", 1, "herosim serve --slow-start 20s"},
		{"herosim serve --slow-start 1us", 0.01, "herosim serve --slow-start 1ms"},
		{"herosim serve --slow-start soon", 0.05, "herosim serve --slow-start soon"},
		{"sleep 20s", 0.05, "sleep 20s"},
	} {
		assert.Equal(t, tc.want, scenarios.ScaleExec(tc.in, tc.scale), tc.in)
	}
}
