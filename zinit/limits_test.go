package zinit_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/zinit"
)

// TestCheckExecLimits: each limit at its edge — the longest exec and env
// string the kernel takes pass, one byte more fails; exec and env
// together over ARG_MAX fail; an env that fits the kernel but not one
// daemon request fails; every failure wraps ErrInvalid and says which
// limit.
func TestCheckExecLimits(t *testing.T) {
	require.NoError(t, zinit.CheckExecLimits("/root/hero/bin/hero_books_server serve", map[string]string{"A": "b"}))
	require.NoError(t, zinit.CheckExecLimits(strings.Repeat("x", zinit.MaxArgStrlen-1), nil))

	err := zinit.CheckExecLimits(strings.Repeat("x", zinit.MaxArgStrlen), nil)
	require.ErrorIs(t, err, zinit.ErrInvalid)
	assert.Equal(t, "invalid: exec is 131072 bytes; the kernel passes at most 131071 bytes in one argument (MAX_ARG_STRLEN): `zinit add job --exec` cannot pass it, nor zinit run it (sh -c)", err.Error())

	// The 1 MB exec of the issue.
	err = zinit.CheckExecLimits(strings.Repeat("y", 1<<20), nil)
	assert.ErrorContains(t, err, "exec is 1048576 bytes")

	// KEY=VALUE: "K=" plus the value, its NUL counted.
	require.NoError(t, zinit.CheckExecLimits("x", map[string]string{"K": strings.Repeat("v", zinit.MaxArgStrlen-3)}))
	err = zinit.CheckExecLimits("x", map[string]string{"K": strings.Repeat("v", zinit.MaxArgStrlen-2)})
	require.ErrorIs(t, err, zinit.ErrInvalid)
	assert.Contains(t, err.Error(), "env K is 131072 bytes as KEY=VALUE")

	// Strings that each fit, together over ARG_MAX.
	big := map[string]string{}
	for i := range 18 {
		big[string(rune('A'+i))] = strings.Repeat("v", 120<<10)
	}
	err = zinit.CheckExecLimits("x", big)
	require.ErrorIs(t, err, zinit.ErrInvalid)
	assert.Contains(t, err.Error(), "(ARG_MAX)")

	// Within ARG_MAX, over one request: 9 × 120 KiB ≈ 1.05 MiB.
	req := map[string]string{}
	for i := range 9 {
		req[string(rune('A'+i))] = strings.Repeat("v", 120<<10)
	}
	err = zinit.CheckExecLimits("x", req)
	require.ErrorIs(t, err, zinit.ErrInvalid)
	assert.Contains(t, err.Error(), "the daemon reads at most 1048576 in one request")
}
