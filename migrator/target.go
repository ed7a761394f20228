package migrator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/zchaos/zchaos/zinit"
)

// ErrNotRunning is wrapped when no zinit answers on the target.
var ErrNotRunning = errors.New("zinit is not running")

// Target is a running zinit that Apply and Rollback change, together with
// the file system its config dir lives on. Every method blocks until done
// or ctx ends.
type Target interface {
	// Ping fails with an error wrapping ErrNotRunning when no zinit answers.
	Ping(ctx context.Context) error
	List(ctx context.Context) ([]zinit.ServiceStatus, error)
	AddService(ctx context.Context, s zinit.Service) error
	AddJob(ctx context.Context, j zinit.Job) error
	// RemoveService stops the service if needed and removes it; an absent
	// service is an error wrapping zinit.ErrNotFound.
	RemoveService(ctx context.Context, name string) error
	Start(ctx context.Context, name string) error
	Stop(ctx context.Context, name string) error
	Reload(ctx context.Context) error
	// Files is the file system of zinit's host (local, or the container's).
	Files() FileSystem
	// String names the target in reports ("socket /run/zinit.sock").
	String() string
}

// FileSystem is the small set of file operations the backup needs, on the
// machine (or container) where zinit's config dir is. Paths are absolute.
type FileSystem interface {
	// List returns the names of the regular files directly in dir, sorted.
	List(ctx context.Context, dir string) ([]string, error)
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// Sum is the SHA-256 of the file, in hex.
	Sum(ctx context.Context, path string) (string, error)
	// Exists reports whether path exists.
	Exists(ctx context.Context, path string) (bool, error)
	MkdirAll(ctx context.Context, dir string) error
	// Copy copies src to dst byte for byte, keeping the mode; dst must not
	// exist.
	Copy(ctx context.Context, src, dst string) error
	// Move renames src to dst, also across file systems.
	Move(ctx context.Context, src, dst string) error
	// WriteFile creates path with data atomically (temp file, rename).
	WriteFile(ctx context.Context, path string, data []byte) error
	// Sync makes everything written on dir's file system durable
	// (syncfs), so a backup survives a crash before the originals move.
	Sync(ctx context.Context, dir string) error

	// The batch operations below each do a whole phase in one call (one
	// `sh -c` for a container). names are plain file names (no '/', not
	// "." or "..", no NUL; else an error before anything is done). They
	// work through the names in order and stop at the first failure,
	// which is a *FileError naming the file (Name "" when the failure
	// concerns the dir itself); what was done before it is returned.

	// BackupFiles creates dstDir (and its parents, mode 0700), copies each
	// file of names from srcDir into it byte for byte keeping the mode (a
	// name already in dstDir is an error, never overwritten), checks that
	// the copy's SHA-256 equals the original's, and returns the checksums
	// in the order of names.
	BackupFiles(ctx context.Context, srcDir, dstDir string, names []string) ([]FileSum, error)
	// MoveFiles creates dstDir like BackupFiles and moves each file of
	// names from srcDir into it (across file systems too; a name already
	// in dstDir is an error). It returns how many were moved.
	MoveFiles(ctx context.Context, srcDir, dstDir string, names []string) (int, error)
	// SumFiles returns the SHA-256 of each file of names in dir, in order;
	// a missing or unreadable file is an error.
	SumFiles(ctx context.Context, dir string, names []string) ([]FileSum, error)
	// RestoreFiles creates dstDir like BackupFiles and, for each file,
	// leaves dstDir/Name alone when it already has the checksum SHA256;
	// otherwise moves whatever is there into displacedDir (created when
	// needed; a name already there is an error), copies srcDir/Name to
	// dstDir/Name keeping the mode, and checks the copy's checksum.
	RestoreFiles(ctx context.Context, srcDir, dstDir, displacedDir string, files []FileSum) ([]RestoreResult, error)
}

// FileSum is a file name with the SHA-256 of its content, in hex.
type FileSum struct {
	Name   string
	SHA256 string
}

// RestoreResult says what RestoreFiles did with one file.
type RestoreResult struct {
	Name string
	// Skipped: the file was already there with the right checksum.
	Skipped bool
	// Displaced: a different file was in the way and was moved out first.
	Displaced bool
}

// FileError is a batch file operation that failed on one file. Op is the
// step (an Action: backup, move, restore, displace; or "sha256").
type FileError struct {
	Op   string
	Name string // "" when the failure concerns the dir, not a file
	Err  error
}

func (e *FileError) Error() string {
	if e.Name == "" {
		return fmt.Sprintf("%s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Name, e.Err)
}
func (e *FileError) Unwrap() error { return e.Err }

// ---- socket target ----

// SocketTarget is a zinit reached through its Unix socket (the SDK client),
// whose config dir is on this machine.
type SocketTarget struct {
	c *zinit.Client
}

// DialSocket connects to the zinit at socket. Close the target when done.
// A zinit that does not answer gives an error wrapping ErrNotRunning.
func DialSocket(ctx context.Context, socket string) (*SocketTarget, error) {
	c, err := zinit.Dial(ctx, socket)
	if err != nil {
		if errors.Is(err, zinit.ErrNotRunning) {
			return nil, fmt.Errorf("%w: %w", ErrNotRunning, err)
		}
		return nil, err
	}
	return &SocketTarget{c: c}, nil
}

// NewSocketTarget wraps an existing client (not closed by the target).
func NewSocketTarget(c *zinit.Client) *SocketTarget { return &SocketTarget{c: c} }

// Close closes the connection.
func (t *SocketTarget) Close() error { return t.c.Close() }

func (t *SocketTarget) String() string { return "socket " + t.c.Socket() }

func (t *SocketTarget) Ping(ctx context.Context) error {
	if _, err := t.c.Ping(ctx); err != nil {
		return fmt.Errorf("%w at %s: %w", ErrNotRunning, t.c.Socket(), err)
	}
	return nil
}
func (t *SocketTarget) List(ctx context.Context) ([]zinit.ServiceStatus, error) { return t.c.List(ctx) }
func (t *SocketTarget) AddService(ctx context.Context, s zinit.Service) error {
	return t.c.AddService(ctx, s)
}
func (t *SocketTarget) AddJob(ctx context.Context, j zinit.Job) error {
	res, err := t.c.AddJob(ctx, j)
	if err == nil && res.Warning != "" {
		return fmt.Errorf("job %s/%s accepted without effect: %s", j.Service, j.Name, res.Warning)
	}
	return err
}
func (t *SocketTarget) RemoveService(ctx context.Context, name string) error {
	return t.c.RemoveService(ctx, name)
}
func (t *SocketTarget) Start(ctx context.Context, name string) error { return t.c.Start(ctx, name) }
func (t *SocketTarget) Stop(ctx context.Context, name string) error  { return t.c.Stop(ctx, name) }
func (t *SocketTarget) Reload(ctx context.Context) error {
	_, err := t.c.Reload(ctx)
	return err
}
func (t *SocketTarget) Files() FileSystem { return LocalFS{} }

// ---- CLI target ----

// ExecFunc runs argv where zinit runs (e.g. `docker exec` into a container)
// and returns its output and exit code; err is for failing to run it at all.
type ExecFunc func(ctx context.Context, argv []string) (stdout, stderr []byte, code int, err error)

// CLITarget drives a zinit through its CLI, each command run by Exec (cmd
// wires Exec to `docker exec` for a container). File operations run as
// `sh -c` commands through the same Exec, so the target's file system is
// the one zinit sees. It needs sh, cat, cp, mv, mkdir, sha256sum and find
// (coreutils / findutils) where Exec runs. It is a BatchTarget: Apply and
// Rollback run each phase of zinit commands as one `sh -c` (RunBatch).
type CLITarget struct {
	Exec ExecFunc
	// Zinit is the CLI's path ("zinit" when empty).
	Zinit string
	// Socket, when set, is passed as --socket to every command.
	Socket string
	// Name labels the target in reports (e.g. "container hero").
	Name string
}

func (t *CLITarget) String() string {
	if t.Name != "" {
		return t.Name
	}
	return "zinit CLI"
}

// CLIError is a zinit CLI command that exited non-zero.
type CLIError struct {
	Argv   []string
	Code   int
	Stderr string
}

func (e *CLIError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return fmt.Sprintf("%s: exit %d: %s", strings.Join(e.Argv[:min(3, len(e.Argv))], " "), e.Code, msg)
}

// Is maps "not found" and "already exists" answers to the zinit sentinels.
func (e *CLIError) Is(target error) bool {
	s := strings.ToLower(e.Stderr)
	switch target {
	case zinit.ErrNotFound:
		return strings.Contains(s, "not found") || strings.Contains(s, "no such service")
	case zinit.ErrAlreadyExists:
		return strings.Contains(s, "already exists")
	case ErrNotRunning:
		return strings.Contains(s, "not running") || strings.Contains(s, "connection refused") ||
			strings.Contains(s, "no such file")
	}
	return false
}

func (t *CLITarget) run(ctx context.Context, argv []string) ([]byte, error) {
	argv = t.argv(argv)
	out, errOut, code, err := t.Exec(ctx, argv)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", strings.Join(argv[:min(3, len(argv))], " "), err)
	}
	if code != 0 {
		return out, &CLIError{Argv: argv, Code: code, Stderr: string(errOut)}
	}
	return out, nil
}

func (t *CLITarget) Ping(ctx context.Context) error {
	if _, err := t.List(ctx); err != nil {
		return fmt.Errorf("%w (%s): %w", ErrNotRunning, t, err)
	}
	return nil
}

func (t *CLITarget) List(ctx context.Context) ([]zinit.ServiceStatus, error) {
	out, err := t.run(ctx, []string{zinit.CLIName, "list", "--json"})
	if err != nil {
		return nil, err
	}
	var st []zinit.ServiceStatus
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("zinit list --json: %w", err)
	}
	return st, nil
}
func (t *CLITarget) AddService(ctx context.Context, s zinit.Service) error {
	_, err := t.run(ctx, s.Argv())
	return err
}
func (t *CLITarget) AddJob(ctx context.Context, j zinit.Job) error {
	_, err := t.run(ctx, j.Argv())
	return err
}
func (t *CLITarget) RemoveService(ctx context.Context, name string) error {
	_, err := t.run(ctx, removeArgv(name))
	return err
}
func (t *CLITarget) Start(ctx context.Context, name string) error {
	_, err := t.run(ctx, startArgv(name))
	return err
}
func (t *CLITarget) Stop(ctx context.Context, name string) error {
	_, err := t.run(ctx, stopArgv(name))
	return err
}
func (t *CLITarget) Reload(ctx context.Context) error {
	_, err := t.run(ctx, []string{zinit.CLIName, "reload"})
	return err
}
func (t *CLITarget) Files() FileSystem { return ShellFS{Exec: t.Exec} }

// ---- file systems ----

// LocalFS is this machine's file system.
type LocalFS struct{}

func (LocalFS) List(_ context.Context, dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// maxLocalReadBytes bounds a file LocalFS.ReadFile reads (a manifest).
const maxLocalReadBytes = 64 << 20

// ReadFile reads a regular file only, without blocking on a FIFO.
func (LocalFS) ReadFile(_ context.Context, path string) ([]byte, error) {
	return zinit.ReadRegularFile(path, maxLocalReadBytes)
}

// openRegular opens path for reading if it is a regular file (or, with
// dirOK, a directory), without blocking on a FIFO or a device: the open is
// O_NONBLOCK and the type is checked on the open file.
func openRegular(path string, dirOK bool) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() && !(dirOK && fi.IsDir()) {
		err = &zinit.FileError{Path: path, Err: fmt.Errorf("%w (%s)", zinit.ErrNotRegular, zinit.FileKind(fi.Mode()))}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (LocalFS) Sum(_ context.Context, path string) (string, error) {
	f, err := openRegular(path, false)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("sha256 %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (LocalFS) Exists(_ context.Context, path string) (bool, error) {
	_, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (LocalFS) MkdirAll(_ context.Context, dir string) error { return os.MkdirAll(dir, 0o700) }

func (LocalFS) Copy(_ context.Context, src, dst string) error {
	in, err := openRegular(src, false)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return err
	}
	_, cerr := io.Copy(out, in)
	if err := errors.Join(cerr, out.Close()); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}

func (fs LocalFS) Move(ctx context.Context, src, dst string) error {
	err := os.Rename(src, dst)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	// Across file systems: copy, check, then remove the original (which is
	// also in the backup by then).
	if err := fs.Copy(ctx, src, dst); err != nil {
		return err
	}
	a, err1 := fs.Sum(ctx, src)
	b, err2 := fs.Sum(ctx, dst)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if a != b {
		return fmt.Errorf("move %s: copy differs from the original", src)
	}
	return os.Remove(src)
}

func (LocalFS) WriteFile(_ context.Context, path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	serr := tmp.Sync()
	if err := errors.Join(werr, serr, tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// Sync flushes dir's file system (one syncfs instead of an fsync per file).
func (LocalFS) Sync(_ context.Context, dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// ShellFS runs file operations as `sh -c` commands through Exec (in a
// container, say). Paths travel as positional parameters, never spliced
// into the script, so any byte but NUL is safe in them.
type ShellFS struct{ Exec ExecFunc }

func (s ShellFS) sh(ctx context.Context, script string, args ...string) ([]byte, error) {
	argv := append([]string{"sh", "-c", script, "sh"}, args...)
	out, errOut, code, err := s.Exec(ctx, argv)
	if err != nil {
		return nil, err
	}
	if code != 0 {
		msg := strings.TrimSpace(string(errOut))
		if msg == "" {
			msg = fmt.Sprintf("exit %d", code)
		}
		return out, fmt.Errorf("%s", msg)
	}
	return out, nil
}

func (s ShellFS) List(ctx context.Context, dir string) ([]string, error) {
	out, err := s.sh(ctx, `cd -- "$1" && for f in * .[!.]* ..?*; do [ -f "$f" ] && [ ! -L "$f" ] && printf '%s\0' "$f"; done; true`, dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var names []string
	for _, n := range bytes.Split(out, []byte{0}) {
		if len(n) > 0 {
			names = append(names, string(n))
		}
	}
	sort.Strings(names)
	return names, nil
}

func (s ShellFS) ReadFile(ctx context.Context, path string) ([]byte, error) {
	// A regular file only: cat on a FIFO would block.
	out, err := s.sh(ctx, `[ -f "$1" ] || { echo "$1: not a regular file" >&2; exit 1; }; cat -- "$1"`, path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}

func (s ShellFS) Sum(ctx context.Context, path string) (string, error) {
	out, err := s.sh(ctx, `sha256sum < "$1"`, path)
	if err != nil {
		return "", fmt.Errorf("sha256 %s: %w", path, err)
	}
	f := strings.Fields(string(out))
	if len(f) == 0 || len(f[0]) != 64 {
		return "", fmt.Errorf("sha256 %s: unexpected output %q", path, out)
	}
	return f[0], nil
}

func (s ShellFS) Exists(ctx context.Context, path string) (bool, error) {
	out, err := s.sh(ctx, `if [ -e "$1" ] || [ -L "$1" ]; then echo yes; else echo no; fi`, path)
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
	return strings.TrimSpace(string(out)) == "yes", nil
}

func (s ShellFS) MkdirAll(ctx context.Context, dir string) error {
	if _, err := s.sh(ctx, `umask 077 && mkdir -p -- "$1" && [ -w "$1" ]`, dir); err != nil {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	return nil
}

func (s ShellFS) Copy(ctx context.Context, src, dst string) error {
	if _, err := s.sh(ctx, `if [ -e "$2" ]; then echo "$2 exists" >&2; exit 1; fi; cp -p -- "$1" "$2"`, src, dst); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}

func (s ShellFS) Move(ctx context.Context, src, dst string) error {
	if _, err := s.sh(ctx, `if [ -e "$2" ]; then echo "$2 exists" >&2; exit 1; fi; mv -- "$1" "$2"`, src, dst); err != nil {
		return fmt.Errorf("move %s to %s: %w", src, dst, err)
	}
	return nil
}

func (s ShellFS) WriteFile(ctx context.Context, path string, data []byte) error {
	if bytes.IndexByte(data, 0) >= 0 {
		return fmt.Errorf("write %s: %w", path, zinit.ErrNulInArgument)
	}
	if _, err := s.sh(ctx, `printf '%s' "$2" > "$1.tmp" && mv -- "$1.tmp" "$1"`, path, string(data)); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func (s ShellFS) Sync(ctx context.Context, dir string) error {
	if _, err := s.sh(ctx, `sync -f -- "$1" 2>/dev/null || sync`, dir); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
