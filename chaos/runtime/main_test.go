package runtime_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain guards the package's tests against leaked goroutines.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The Docker client's keep-alive connections outlive a test by design.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}
