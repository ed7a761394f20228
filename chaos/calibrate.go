package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/zchaos/zchaos/chaos/agent"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/scenarios"
)

// CalibrationTime is how long `--time-scale auto` measures the machine.
const CalibrationTime = 3 * time.Second

// Calibrate measures the machine's timer lateness in a container of image
// (the canary alone, for d), the way the agent measures it during an
// attempt. agentBinary, when set, is copied in (a user's image has no
// agent). The container is removed.
func Calibrate(ctx context.Context, rt runtime.Runtime, image, runID string, agentBinary []byte, d time.Duration) (scenarios.Load, error) {
	files := map[string][]byte{}
	if agentBinary != nil {
		files[agent.Path] = agentBinary
	}
	c, err := rt.Start(ctx, runtime.StartOptions{Image: image, RunID: runID, Name: runID + "-calibrate", Files: files,
		DeadMan: DeadMan()})
	if err != nil {
		return scenarios.Load{}, fmt.Errorf("calibrate: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = c.Remove(rctx)
	}()
	res, err := c.Exec(ctx, []string{agent.Path, "agent", "calibrate", "--duration-ms", strconv.FormatInt(d.Milliseconds(), 10)}, nil)
	if err != nil {
		return scenarios.Load{}, fmt.Errorf("calibrate: %w", err)
	}
	var load scenarios.Load
	if res.ExitCode != 0 || json.Unmarshal(res.Stdout, &load) != nil || load.Windows == 0 {
		return scenarios.Load{}, fmt.Errorf("calibrate: the agent measured nothing (exit %d): %s", res.ExitCode,
			firstLine(strings.TrimSpace(string(res.Stderr))))
	}
	return load, nil
}
