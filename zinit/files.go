package zinit

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

var (
	// ErrNotRegular is wrapped when a file is a FIFO, a device, a
	// directory or a socket: ReadRegularFile never reads one (a FIFO with
	// no writer would block the reader, a device may never end).
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge is wrapped when a file is over the size limit for it.
	ErrTooLarge = errors.New("file too large")
)

// FileError is a file ReadRegularFile would not read whole: Err (wrapping
// ErrNotRegular, ErrTooLarge or the system's error) says why, without the
// path; Error() is "path: why".
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// ReadRegularFile reads path if it is a regular file of at most limit
// bytes. The open is non-blocking (O_NONBLOCK, O_NOCTTY), so a FIFO with
// no writer or a device never blocks the caller; fstat on the open file
// then refuses anything but a regular file, with no window for a swap
// between a check and the open. A missing file gives an error wrapping
// fs.ErrNotExist; the other errors wrap ErrNotRegular, ErrTooLarge or the
// system's error. Every error names path as given: a failed open is the
// system's *fs.PathError, the rest a *FileError.
func ReadRegularFile(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err // *fs.PathError: names the path
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	if !fi.Mode().IsRegular() {
		return nil, &FileError{Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, FileKind(fi.Mode()))}
	}
	if fi.Size() > limit {
		return nil, &FileError{Path: path, Err: fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, fi.Size(), limit)}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &FileError{Path: path, Err: fmt.Errorf("read: %w", err)}
	}
	if int64(len(data)) > limit {
		return nil, &FileError{Path: path, Err: fmt.Errorf("%w: it grew past the limit of %d bytes while read", ErrTooLarge, limit)}
	}
	return data, nil
}

// FileKind names the type of a file that is not a regular file ("a
// FIFO", "a directory", ...).
func FileKind(m fs.FileMode) string {
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
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "mode " + m.String()
}
