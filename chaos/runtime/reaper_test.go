package runtime_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos/runtime"
)

func TestRunReaper(t *testing.T) {
	run := func(ctx context.Context, in io.Reader) (reaped []map[string]bool, armed string, err error) {
		var out strings.Builder
		err = runtime.RunReaper(ctx, in, &out, time.Millisecond, func(_ context.Context, keep map[string]bool) error {
			reaped = append(reaped, keep)
			return nil
		})
		return reaped, out.String(), err
	}

	// The harness died: everything but the kept containers is reaped.
	reaped, armed, err := run(context.Background(), strings.NewReader("keep a\nnoise\nkeep b\n"))
	require.NoError(t, err)
	assert.Equal(t, "armed\n", armed)
	assert.Equal(t, []map[string]bool{{"a": true, "b": true}}, reaped)

	// The harness ended on purpose: nothing is reaped.
	reaped, _, err = run(context.Background(), strings.NewReader("keep a\ndisarm\n"))
	require.NoError(t, err)
	assert.Empty(t, reaped)

	// Told to stop (SIGTERM) while the stream lives: nothing is reaped.
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	reaped, _, err = run(ctx, pr)
	require.NoError(t, err)
	assert.Empty(t, reaped)
}
