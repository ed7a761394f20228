package procfs_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/chaos/internal/procfs"
)

func TestParseStat(t *testing.T) {
	line := "4242 (my (odd) name) Z 1 4242 4242 0 -1 4194560 " + strings.Repeat("0 ", 4) + "7 3 5 2 " + "20 0 1 0 123456 " + strings.Repeat("0 ", 29) + "256\n"
	st, err := procfs.ParseStat([]byte(line))
	require.NoError(t, err)
	assert.Equal(t, procfs.Stat{Comm: "my (odd) name", State: 'Z', PPID: 1, PGID: 4242, UTime: 7, STime: 3, CUTime: 5, CSTime: 2, Start: 123456, ExitCode: 256}, st)
	for _, bad := range []string{"12 (x) S 1", "no comm", "12 (x) S x 1 1 " + strings.Repeat("0 ", 20)} {
		_, err = procfs.ParseStat([]byte(bad))
		assert.ErrorIs(t, err, procfs.ErrMalformed, bad)
	}
}

func TestReadStatSelf(t *testing.T) {
	st, err := procfs.ReadStat("/proc", os.Getpid())
	require.NoError(t, err)
	assert.Equal(t, os.Getppid(), st.PPID)
	assert.Positive(t, st.Start)
	assert.Equal(t, 0, st.ExitCode, "a live process: field 52 is 0")
	_, err = procfs.ReadStat(t.TempDir(), 1)
	assert.ErrorIs(t, err, os.ErrNotExist)
}
