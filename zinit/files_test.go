package zinit_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/zchaos/zchaos/zinit"
)

// TestReadRegularFileNeverBlocks: a FIFO with no writer, a directory and
// devices are refused at once, a missing file is fs.ErrNotExist, and the
// size limit holds; every error names the path as given.
func TestReadRegularFileNeverBlocks(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, unix.Mkfifo(fifo, 0o600))
	for path, kind := range map[string]string{fifo: "a FIFO", dir: "a directory", "/dev/null": "a character device", "/dev/zero": "a character device"} {
		_, err := zinit.ReadRegularFile(path, 10)
		require.ErrorIs(t, err, zinit.ErrNotRegular, path)
		assert.Equal(t, path+": not a regular file ("+kind+")", err.Error())
	}
	_, err := zinit.ReadRegularFile(filepath.Join(dir, "absent"), 10)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), filepath.Join(dir, "absent"))
	small := filepath.Join(dir, "small")
	require.NoError(t, os.WriteFile(small, []byte("0123456789"), 0o600))
	data, err := zinit.ReadRegularFile(small, 10)
	require.NoError(t, err)
	assert.Equal(t, "0123456789", string(data))
	_, err = zinit.ReadRegularFile(small, 9)
	assert.ErrorIs(t, err, zinit.ErrTooLarge)
	assert.True(t, strings.Contains(err.Error(), "10 bytes, the limit is 9"), err.Error())
}
