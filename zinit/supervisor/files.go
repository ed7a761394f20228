package supervisor

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

var (
	// errNotRegular: the path is a FIFO, a device, a directory or a socket,
	// which the daemon never reads (a FIFO would block it).
	errNotRegular = errors.New("not a regular file")
	// errTooLarge: the file is over the daemon's size limit for it.
	errTooLarge = errors.New("file too large")
)

// readRegular reads path if it is a regular file of at most limit bytes.
// The open is non-blocking (O_NONBLOCK, O_NOCTTY), so a FIFO without a
// writer or a device never blocks the caller; fstat on the open file then
// refuses anything but a regular file, with no window for a swap between a
// check and the open. A missing file gives an error wrapping
// fs.ErrNotExist; the other errors wrap errNotRegular, errTooLarge or the
// system's error, and name the path.
func readRegular(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err // *fs.PathError: names the path
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", path, errNotRegular, fileKind(fi.Mode()))
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: %w: %d bytes, the limit is %d", path, errTooLarge, fi.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w: it grew past the limit of %d bytes while read", path, errTooLarge, limit)
	}
	return data, nil
}

// fileKind names the type of a file that is not a regular file.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "mode " + m.String()
}
