package agent

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// TestMain guards the package's tests against leaked goroutines. With
// testAgentMainEnv set, the test binary is `zchaos agent interpose`
// instead (the detached helper RunInject starts).
func TestMain(m *testing.M) {
	if os.Getenv(testAgentMainEnv) == "1" {
		os.Exit(testAgentMain(os.Args[1:]))
	}
	goleak.VerifyTestMain(m,
		// The Docker client's keep-alive connections outlive a test by design.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

// signalContext ends on SIGTERM or SIGINT, as the agent's does.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
