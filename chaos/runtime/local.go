package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/chaos/internal/procfs"
	"github.com/zchaos/zchaos/zinit"
)

// DefaultLocalDir is where the local runtime keeps its container roots and
// state files unless told otherwise. It is short on purpose: Unix socket
// paths under it must stay below 108 bytes.
func DefaultLocalDir() string { return filepath.Join(os.TempDir(), "zchaos-local") }

// localPrefixes are the in-image paths the local runtime maps under a
// container's root, in argv, env values and config files. CopyIn maps
// every absolute path under the root; only these are rewritten in argv.
var localPrefixes = []string{"/root", ImageConfigDir, "/var/lib", "/run", "/usr/local", "/opt", "/tmp"}

// LocalRuntime runs the reference image as a local process tree, for
// machines without a container engine. An "image" is a directory laid out
// like the image's root (usr/local/bin/{zinit,herosim,zchaos}, etc/zinit;
// see BuildLocalImage). Start gives each container a root directory under
// the runtime's dir, links the image's binaries and copies its config into
// it, and runs `zinit init` there in its own process group with --socket,
// --config-dir and --state-dir under that root.
//
// In-image absolute paths (under /root, /etc/zinit, /var/lib, /run,
// /usr/local, /opt, /tmp) are rewritten to the container's root in argv, env
// values, config files and CopyIn paths, so only the reference binaries
// (whose configs use those paths) are supported. There is no isolation:
// processes run as the caller, on the host network.
//
// Every container's pid is recorded in <dir>/<name>.json, so Cleanup can
// kill the trees a killed harness left behind. It is safe for concurrent use.
type LocalRuntime struct {
	dir     string
	tracker Tracker
}

var _ Runtime = (*LocalRuntime)(nil)

// NewLocalRuntime uses dir (created if missing) for roots and state files.
func NewLocalRuntime(dir string) (*LocalRuntime, error) {
	if dir == "" {
		dir = DefaultLocalDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("local runtime: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return &LocalRuntime{dir: abs}, nil
}

// ImageDir makes a fresh directory under the runtime's dir for a local
// image (see BuildLocalImage). Its owner removes it; Cleanup with no run
// removes those a killed harness left.
func (r *LocalRuntime) ImageDir() (string, error) {
	d, err := os.MkdirTemp(r.dir, localImagePrefix)
	if err != nil {
		return "", fmt.Errorf("local image: %w", err)
	}
	return d, nil
}

const localImagePrefix = "image-"

// Name is "local".
func (r *LocalRuntime) Name() string { return "local" }

// RemoveAll removes every container this runtime started and not yet removed.
func (r *LocalRuntime) RemoveAll(ctx context.Context) error { return r.tracker.RemoveAll(ctx) }

// BuildLocalImage lays out a local "image" in dir from the same options as
// BuildImage (base options are ignored) and returns dir as its reference.
func BuildLocalImage(dir string, opts ImageOptions) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for _, b := range []struct{ src, dst string }{
		{opts.Binaries.Zinit, ImageZinitPath}, {opts.Binaries.Herosim, ImageHerosimPath}, {opts.Binaries.Agent, ImageAgentPath},
	} {
		data, err := os.ReadFile(b.src)
		if err != nil {
			return "", fmt.Errorf("local image: %w", err)
		}
		if err := writeFile(filepath.Join(abs, b.dst), data, 0o755); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(filepath.Join(abs, ImageConfigDir), 0o755); err != nil {
		return "", err
	}
	if opts.Fleet != nil {
		if err := os.CopyFS(filepath.Join(abs, ImageConfigDir), opts.Fleet); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("local image: fleet: %w", err)
		}
	}
	for _, n := range opts.HeroBins {
		p := filepath.Join(abs, ImageHeroBinDir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		_ = os.Remove(p)
		if err := os.Symlink(ImageHerosimPath, p); err != nil {
			return "", err
		}
	}
	return abs, nil
}

// localState is what <dir>/<name>.json records.
type localState struct {
	Name      string `json:"name"`
	RunID     string `json:"run"`
	Root      string `json:"root"`
	PID       int    `json:"pid"`
	StartTick uint64 `json:"start_ticks"` // /proc/<pid>/stat field 22: guards against pid reuse
}

// Start lays out the container's root and starts zinit init in it; it
// returns once zinit's socket answers a connection (or fails after 10 s).
func (r *LocalRuntime) Start(ctx context.Context, opts StartOptions) (Container, error) {
	img := opts.Image
	if st, err := os.Stat(filepath.Join(img, ImageZinitPath)); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("local start: %s is not a local image (no %s)", img, ImageZinitPath)
	}
	name := opts.Name
	if name == "" {
		name = containerName(opts.RunID)
	}
	c := &localContainer{rt: r, name: name, root: filepath.Join(r.dir, name), image: img, runID: opts.RunID, cmd: opts.Cmd, deadman: opts.DeadMan}
	if _, err := os.Stat(c.root); err == nil {
		return nil, fmt.Errorf("local start: %s exists already", c.root)
	}
	if err := c.layout(); err != nil {
		return nil, errors.Join(err, os.RemoveAll(c.root))
	}
	c.env = c.baseEnv()
	for _, kv := range opts.Env {
		c.env = append(c.env, c.mapPaths(kv))
	}
	r.tracker.Add(c)
	for link, target := range opts.Links {
		p := c.hostPath(link)
		err := os.MkdirAll(filepath.Dir(p), 0o755)
		if err == nil {
			_ = os.Remove(p)
			err = os.Symlink(c.hostPath(target), p)
		}
		if err != nil {
			return nil, errors.Join(fmt.Errorf("local start: link %s: %w", link, err), c.Remove(ctx))
		}
	}
	if len(opts.Files) > 0 {
		if err := c.CopyIn(ctx, opts.Files); err != nil {
			return nil, errors.Join(err, c.Remove(ctx))
		}
	}
	if err := c.startInit(ctx); err != nil {
		return nil, errors.Join(err, c.Remove(ctx))
	}
	if err := c.armDeadMan(ctx); err != nil {
		return nil, errors.Join(err, c.Remove(ctx))
	}
	return c, nil
}

// Cleanup kills the process trees (and every process whose environment
// names a recorded root) and deletes the roots recorded in the
// state files (only runID's when not empty), and returns their names.
// With no runID it also deletes the image directories ImageDir made.
func (r *LocalRuntime) Cleanup(ctx context.Context, runID string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(r.dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var names []string
	var errs []error
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var st localState
		if err := json.Unmarshal(b, &st); err != nil || st.Name == "" {
			continue
		}
		if runID != "" && st.RunID != runID {
			continue
		}
		killTree(st.PID, st.StartTick)
		if st.Root != "" && strings.HasPrefix(st.Root, r.dir+string(os.PathSeparator)) {
			killRoot(st.Root)
			if err := os.RemoveAll(st.Root); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		_ = os.Remove(f)
		names = append(names, st.Name)
		for _, c := range r.tracker.Live() {
			if c.Name() == st.Name {
				r.tracker.forget(c.ID())
			}
		}
	}
	if runID == "" {
		imgs, _ := filepath.Glob(filepath.Join(r.dir, localImagePrefix+"*"))
		for _, d := range imgs {
			errs = append(errs, os.RemoveAll(d))
		}
	}
	sort.Strings(names)
	return names, errors.Join(errs...)
}

type localContainer struct {
	rt                       *LocalRuntime
	name, root, image, runID string
	cmd                      []string
	env                      []string
	mu                       sync.Mutex
	proc                     *exec.Cmd
	waited                   chan struct{} // closed when proc has been waited for
	removed                  bool
	deadman                  DeadMan
	guard                    *localGuard // the running dead-man switch; guarded by mu
}

func (c *localContainer) ID() string   { return c.name }
func (c *localContainer) Name() string { return c.name }

// mapPaths rewrites in-image absolute paths in s to the container's root.
// A path under the root already (one the agent reported, handed back in a
// revert's argv) is left as it is.
func (c *localContainer) mapPaths(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		matched := false
		if i == 0 || isPathBoundary(s[i-1]) {
			if end := i + len(c.root); c.root != "" && strings.HasPrefix(s[i:], c.root) &&
				(end == len(s) || s[end] == '/' || isPathBoundary(s[end])) {
				b.WriteString(c.root) // mapped already
				i = end
				continue
			}
			for _, p := range localPrefixes {
				end := i + len(p)
				if strings.HasPrefix(s[i:], p) && (end == len(s) || s[end] == '/' || isPathBoundary(s[end])) {
					b.WriteString(c.root)
					b.WriteString(p)
					i = end
					matched = true
					break
				}
			}
		}
		if !matched {
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}

func isPathBoundary(ch byte) bool { return strings.IndexByte(" \t\n'\"=:;|&()<>,", ch) >= 0 }

func (c *localContainer) hostPath(p string) string {
	return filepath.Join(c.root, filepath.Clean("/"+p))
}

func (c *localContainer) layout() error {
	for _, d := range []string{ImageConfigDir, ImageStateDir, ImageSocketsDir, ImageHeroBinDir, "/run", "/tmp", "/usr/local/bin"} {
		if err := os.MkdirAll(c.hostPath(d), 0o755); err != nil {
			return fmt.Errorf("local start: %w", err)
		}
	}
	for _, b := range []string{ImageZinitPath, ImageHerosimPath, ImageAgentPath} {
		src := filepath.Join(c.image, b)
		if _, err := os.Stat(src); err != nil {
			continue
		}
		if err := os.Symlink(src, c.hostPath(b)); err != nil {
			return fmt.Errorf("local start: %w", err)
		}
	}
	// Hero bin links point at in-image paths: re-point them into the root.
	if ents, err := os.ReadDir(filepath.Join(c.image, ImageHeroBinDir)); err == nil {
		for _, e := range ents {
			src := filepath.Join(c.image, ImageHeroBinDir, e.Name())
			target := src
			if l, err := os.Readlink(src); err == nil {
				target = c.mapPaths(l)
			}
			if err := os.Symlink(target, c.hostPath(ImageHeroBinDir+"/"+e.Name())); err != nil {
				return fmt.Errorf("local start: %w", err)
			}
		}
	}
	// Config files: copied with in-image paths mapped.
	src := filepath.Join(c.image, ImageConfigDir)
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(c.hostPath(ImageConfigDir), rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, []byte(c.mapPaths(string(data))), 0o644)
	})
}

func (c *localContainer) baseEnv() []string {
	env := []string{
		"ZINIT_SOCKET=" + c.hostPath(ImageZinitSocket),
		"ZINIT_CONFIG_DIR=" + c.hostPath(ImageConfigDir),
		"ZINIT_STATE_DIR=" + c.hostPath(ImageStateDir),
		"ZCHAOS_LOCAL_ROOT=" + c.root,
		"HOME=" + c.hostPath("/root"),
		"PATH=" + c.hostPath(ImageHeroBinDir) + ":" + c.hostPath("/usr/local/bin") + ":" + os.Getenv("PATH"),
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "ZINIT_SOCKET", "ZINIT_CONFIG_DIR", "ZINIT_STATE_DIR", "ZCHAOS_LOCAL_ROOT", "HOME", "PATH":
		default:
			env = append(env, kv)
		}
	}
	return env
}

// startInit runs the entrypoint (zinit init, or opts.Cmd appended to it) and
// waits until its socket accepts a connection.
func (c *localContainer) startInit(ctx context.Context) error {
	// The config dir is the environment's (a setup may point zinit at its
	// own), as the image's entrypoint reads it.
	cfg := c.hostPath(ImageConfigDir)
	for _, kv := range c.env {
		if v, ok := strings.CutPrefix(kv, "ZINIT_CONFIG_DIR="); ok && v != "" {
			cfg = v
		}
	}
	if err := os.MkdirAll(cfg, 0o755); err != nil {
		return fmt.Errorf("local start: %w", err)
	}
	args := []string{"init", "--socket", c.hostPath(ImageZinitSocket), "--config-dir", cfg, "--state-dir", c.hostPath(ImageStateDir)}
	for _, a := range c.cmd {
		args = append(args, c.mapPaths(a))
	}
	logf, err := os.OpenFile(filepath.Join(c.root, "init.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(c.hostPath(ImageZinitPath), args...)
	cmd.Dir = c.root
	cmd.Env = c.env
	cmd.Stdout, cmd.Stderr = logf, logf
	// No parent-death signal: a kept container's zinit must outlive this
	// process; the dead-man switch stops it when this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("local start: %w", err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }() // reaps zinit; ends when it exits
	c.mu.Lock()
	c.proc, c.waited = cmd, waited
	c.mu.Unlock()
	st := localState{Name: c.name, RunID: c.runID, Root: c.root, PID: cmd.Process.Pid, StartTick: procStartTicks(cmd.Process.Pid)}
	b, _ := json.Marshal(st)
	if err := writeFile(filepath.Join(c.rt.dir, c.name+".json"), b, 0o644); err != nil {
		return err
	}
	sock := c.hostPath(ImageZinitSocket)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = zinit.PollUntil(wctx, clock.RealClock{}, 10*time.Millisecond, func(context.Context) (bool, error) {
		if conn, err := dialUnix(sock); err == nil {
			conn.Close()
			return true, nil
		}
		select {
		case <-waited:
			log, _ := os.ReadFile(filepath.Join(c.root, "init.log"))
			return false, fmt.Errorf("zinit exited: %s", bytes.TrimSpace(log))
		default:
			return false, nil
		}
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("local start: %w", ctx.Err())
	case wctx.Err() != nil:
		return fmt.Errorf("local start: zinit socket %s did not appear within 10s", sock)
	default:
		return fmt.Errorf("local start: %w", err)
	}
}

func (c *localContainer) command(ctx context.Context, argv []string) *exec.Cmd {
	mapped := make([]string, len(argv))
	for i, a := range argv {
		mapped[i] = c.mapPaths(a)
	}
	cmd := exec.CommandContext(ctx, mapped[0], mapped[1:]...)
	if !strings.Contains(mapped[0], "/") {
		// Resolve against the container's PATH, not the caller's.
		for _, dir := range []string{c.hostPath(ImageHeroBinDir), c.hostPath("/usr/local/bin")} {
			if st, err := os.Stat(filepath.Join(dir, mapped[0])); err == nil && !st.IsDir() {
				cmd = exec.CommandContext(ctx, filepath.Join(dir, mapped[0]), mapped[1:]...)
				break
			}
		}
	}
	cmd.Dir = c.root
	cmd.Env = c.env
	// Execs die with this process (what they detach is the dead-man
	// switch's to sweep).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// On cancel, end the whole process group, not only the leader.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// Exec runs argv (paths mapped, resolved on the container's PATH) and waits.
func (c *localContainer) Exec(ctx context.Context, argv []string, stdin io.Reader) (ExecResult, error) {
	if len(argv) == 0 {
		return ExecResult{}, errors.New("exec: empty argv")
	}
	cmd := c.command(ctx, argv)
	var so, se bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &so, &se
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return ExecResult{}, fmt.Errorf("exec %s: %w", argv[0], ctx.Err())
	case errors.As(err, &ee):
		code := ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal()) // as a shell reports it
		}
		return ExecResult{Stdout: so.Bytes(), Stderr: se.Bytes(), ExitCode: code}, nil
	case err != nil:
		return ExecResult{Stdout: so.Bytes(), Stderr: se.Bytes(), ExitCode: 127}, nil
	}
	return ExecResult{Stdout: so.Bytes(), Stderr: se.Bytes()}, nil
}

// Stream runs argv and returns its stdout; ctx's end or Close sends SIGTERM
// to its process group (SIGKILL 2 s later) and waits for it.
func (c *localContainer) Stream(ctx context.Context, argv []string) (io.ReadCloser, error) {
	if len(argv) == 0 {
		return nil, errors.New("stream: empty argv")
	}
	sctx, cancel := context.WithCancel(ctx)
	cmd := c.command(sctx, argv)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("stream %s: %w", argv[0], err)
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := io.Copy(pw, out)
		werr := cmd.Wait()
		if err == nil && werr != nil && sctx.Err() == nil {
			err = werr
		}
		if err == nil {
			err = io.EOF
		}
		pw.CloseWithError(err)
	}()
	return &streamReader{PipeReader: pr, cancel: cancel, done: done}, nil
}

// CopyIn writes files under the root (paths mapped like in-image paths).
// The in-image paths inside text files (valid UTF-8 without NUL: configs,
// the agent spec, scripts) are mapped too; binaries are copied as they are.
func (c *localContainer) CopyIn(_ context.Context, files map[string][]byte) error {
	for p, data := range files {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("copy in: path %q is not absolute", p)
		}
		if isText(data) {
			// Configs and specs name in-image paths: map them like argv.
			data = []byte(c.mapPaths(string(data)))
		}
		if err := writeFile(c.hostPath(p), data, 0o755); err != nil {
			return fmt.Errorf("copy in: %w", err)
		}
	}
	return nil
}

func (c *localContainer) pid() (int, <-chan struct{}, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil || c.removed {
		return 0, nil, fmt.Errorf("%s: not running", c.name)
	}
	return c.proc.Process.Pid, c.waited, nil
}

// Signal sends sig to zinit.
func (c *localContainer) Signal(_ context.Context, sig syscall.Signal) error {
	pid, waited, err := c.pid()
	if err != nil {
		return err
	}
	select {
	case <-waited:
		return fmt.Errorf("signal %v to %s: not running", sig, c.name)
	default:
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signal %v to %s: %w", sig, c.name, err)
	}
	return nil
}

// Restart sends SIGTERM to zinit, SIGKILLs its tree after timeout, and runs
// it again in the same root. The dead-man switch is not in zinit's tree: it
// stays armed and finds the new zinit when it acts.
func (c *localContainer) Restart(ctx context.Context, timeout time.Duration) error {
	if err := c.stop(ctx, timeout); err != nil {
		return err
	}
	return c.startInit(ctx)
}

func (c *localContainer) stop(ctx context.Context, timeout time.Duration) error {
	pid, waited, err := c.pid()
	if err != nil {
		return err
	}
	tree := treeOf(pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-waited:
	case <-t.C:
	case <-ctx.Done():
	}
	killRefs(tree)
	select {
	case <-waited:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("stop %s: zinit did not exit", c.name)
	}
}

// Logs returns zinit's output so far.
func (c *localContainer) Logs(_ context.Context) ([]byte, error) {
	return os.ReadFile(filepath.Join(c.root, "init.log"))
}

// Remove kills the process tree, and every other process started in the
// container (its environment names the root), and deletes the root and
// state file. It is idempotent.
func (c *localContainer) Remove(ctx context.Context) error {
	c.mu.Lock()
	if c.removed {
		c.mu.Unlock()
		return nil
	}
	proc, waited := c.proc, c.waited
	c.mu.Unlock()
	if proc != nil {
		killRefs(treeOf(proc.Process.Pid))
		select {
		case <-waited:
		case <-time.After(5 * time.Second):
		}
	}
	killRoot(c.root) // the dead-man switch too
	c.mu.Lock()
	c.removed = true
	g := c.guard
	c.guard = nil
	c.mu.Unlock()
	g.close()
	c.rt.tracker.forget(c.name)
	return errors.Join(os.RemoveAll(c.root), ignoreNotExist(os.Remove(filepath.Join(c.rt.dir, c.name+".json"))))
}

// Keep disarms the dead-man switch and forgets the container: its process
// tree outlives this process (and RemoveAll) until `zchaos cleanup`.
func (c *localContainer) Keep(ctx context.Context) error {
	c.mu.Lock()
	g := c.guard
	c.guard = nil
	c.mu.Unlock()
	c.rt.tracker.forget(c.name)
	if err := g.disarm(ctx, c.deadman.Disarm); err != nil {
		return fmt.Errorf("keep %s: %w", c.name, err)
	}
	return nil
}

// localGuard is a running dead-man switch: a process (not in zinit's tree,
// not killed when this process dies) whose stdin is a pipe only this
// process holds.
type localGuard struct {
	w    *os.File
	done chan struct{} // closed when the switch has been waited for
	once sync.Once
}

// armDeadMan starts the container's dead-man switch (if it has one) and
// waits until it prints its Armed line. Its stderr goes to
// <root>/deadman.log.
func (c *localContainer) armDeadMan(ctx context.Context) error {
	dm := c.deadman
	if len(dm.Argv) == 0 {
		return nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("dead-man switch: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(c.root, "deadman.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return errors.Join(fmt.Errorf("dead-man switch: %w", err), pr.Close(), pw.Close())
	}
	defer logf.Close()
	cmd := c.command(context.Background(), dm.Argv)
	cmd.Cancel, cmd.WaitDelay = nil, 0
	// Not Pdeathsig: the switch must outlive this process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdin, cmd.Stderr = pr, logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return errors.Join(fmt.Errorf("dead-man switch: %w", err), pr.Close(), pw.Close())
	}
	if err := cmd.Start(); err != nil {
		return errors.Join(fmt.Errorf("dead-man switch: %w", err), pr.Close(), pw.Close())
	}
	_ = pr.Close() // the switch holds the read end; this process, the only write end
	g := &localGuard{w: pw, done: make(chan struct{})}
	armed := newLineWatch(dm.Armed)
	go func() { // owned by the guard: ends when the switch does
		_, _ = io.Copy(armed, out)
		_ = cmd.Wait()
		close(g.done)
	}()
	timer := time.NewTimer(deadManArmTimeout)
	defer timer.Stop()
	select {
	case <-armed.seen:
	case <-g.done:
		g.close()
		log, _ := os.ReadFile(filepath.Join(c.root, "deadman.log"))
		return fmt.Errorf("dead-man switch of %s ended before it was armed: %s", c.name, bytes.TrimSpace(log))
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		g.close()
		return fmt.Errorf("dead-man switch of %s: %w", c.name, ctx.Err())
	case <-timer.C:
		_ = cmd.Process.Kill()
		g.close()
		return fmt.Errorf("dead-man switch of %s: not armed after %v", c.name, deadManArmTimeout)
	}
	c.mu.Lock()
	c.guard = g
	c.mu.Unlock()
	return nil
}

// close closes this process's end of the switch's stream. Safe on nil,
// idempotent.
func (g *localGuard) close() {
	if g == nil {
		return
	}
	g.once.Do(func() { _ = g.w.Close() })
}

// disarm writes the disarm line, closes the stream and waits for the
// switch to end.
func (g *localGuard) disarm(ctx context.Context, line string) error {
	if g == nil {
		return nil
	}
	_, err := io.WriteString(g.w, line)
	g.close()
	if err != nil {
		return err
	}
	select {
	case <-g.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Second):
		return errors.New("the dead-man switch did not end after its disarm")
	}
}

// isText says whether data looks like a text file.
func isText(data []byte) bool {
	return utf8.Valid(data) && bytes.IndexByte(data, 0) < 0
}

func ignoreNotExist(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func writeFile(p string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// procStartTicks is pid's start time (0 if it cannot be read).
func procStartTicks(pid int) uint64 {
	st, _ := procfs.ReadStat("/proc", pid)
	return st.Start
}

// procRef names one process; start guards against pid reuse.
type procRef struct {
	pid   int
	start uint64
}

// descendants lists every live descendant of pid, breadth first.
func descendants(pid int) []procRef {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]procRef{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := procfs.ReadStat("/proc", p); err == nil {
			children[st.PPID] = append(children[st.PPID], procRef{p, st.Start})
		}
	}
	var out []procRef
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, ch := range children[p] {
			out = append(out, ch)
			queue = append(queue, ch.pid)
		}
	}
	return out
}

// treeOf is pid and its descendants.
func treeOf(pid int) []procRef {
	return append([]procRef{{pid, procStartTicks(pid)}}, descendants(pid)...)
}

// killRefs SIGKILLs each process that is still the one recorded, and its
// process group (zinit puts every job in its own group).
func killRefs(refs []procRef) {
	self := syscall.Getpgrp()
	for _, r := range refs {
		st, err := procfs.ReadStat("/proc", r.pid)
		if err != nil || st.Start != r.start {
			continue
		}
		if st.PGID > 1 && st.PGID != self {
			_ = syscall.Kill(-st.PGID, syscall.SIGKILL)
		}
		_ = syscall.Kill(r.pid, syscall.SIGKILL)
	}
}

// rootProcs lists the processes whose environment says they belong to the
// container at root (ZCHAOS_LOCAL_ROOT=root): what Exec and Stream started
// outside zinit's tree, such as a watching agent or a detached killer it
// started, which killing zinit's tree would miss.
func rootProcs(root string) []procRef {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	want := []byte("ZCHAOS_LOCAL_ROOT=" + root + "\x00")
	self := os.Getpid()
	var out []procRef
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		if bytes.HasPrefix(env, want) || bytes.Contains(env, append([]byte{0}, want...)) {
			out = append(out, procRef{pid, procStartTicks(pid)})
		}
	}
	return out
}

// killRoot kills every process of the container at root that is not in
// zinit's tree (see rootProcs), with its descendants.
func killRoot(root string) {
	for _, r := range rootProcs(root) {
		killRefs(append([]procRef{r}, descendants(r.pid)...))
	}
}

// killTree kills a recorded zinit and its descendants, if pid still is the
// process that was recorded (same start time).
func killTree(pid int, startTick uint64) {
	if pid <= 1 {
		return
	}
	if st, err := procfs.ReadStat("/proc", pid); err != nil || st.Start != startTick {
		return
	}
	killRefs(treeOf(pid))
}

func dialUnix(path string) (net.Conn, error) {
	return net.DialTimeout("unix", path, 100*time.Millisecond)
}
