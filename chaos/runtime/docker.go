package runtime

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ory/dockertest/v3/docker"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/zinit"
)

// DockerAPIVersion is the Engine API version the client pins (unless
// DOCKER_API_VERSION says otherwise): 1.41 is what Docker 20.10 speaks, and
// newer engines still accept it.
const DockerAPIVersion = "1.41"

// ErrNoEngine means no container engine answered.
var ErrNoEngine = errors.New("no container engine answers")

// removeTimeout bounds a Remove that runs after its caller's ctx ended.
const removeTimeout = 30 * time.Second

// NewDockerClient connects to the engine the docker CLI would use
// (ResolveDockerEndpoint: DOCKER_HOST, else the current Docker context,
// else unix:///var/run/docker.sock), pinned to DockerAPIVersion, and pings
// it. An engine that does not answer, or a context that cannot be read,
// yields an error wrapping ErrNoEngine that names the endpoint and where
// it came from.
func NewDockerClient(ctx context.Context) (*docker.Client, error) {
	v := os.Getenv("DOCKER_API_VERSION")
	if v == "" {
		v = DockerAPIVersion
	}
	home, _ := os.UserHomeDir()
	ep, err := ResolveDockerEndpoint(os.Getenv, home)
	if err == nil {
		err = ep.supported()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoEngine, err)
	}
	var cl *docker.Client
	switch {
	case ep.FromEnv:
		cl, err = docker.NewVersionedClientFromEnv(v)
	case ep.TLSDir != "":
		cl, err = docker.NewVersionedTLSClient(ep.Host, filepath.Join(ep.TLSDir, "cert.pem"),
			filepath.Join(ep.TLSDir, "key.pem"), filepath.Join(ep.TLSDir, "ca.pem"), v)
	default:
		cl, err = docker.NewVersionedClient(ep.Host, v)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNoEngine, ep, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := cl.PingWithContext(pctx); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNoEngine, ep, err)
	}
	return cl, nil
}

func clientOrDefault(ctx context.Context, cl *docker.Client) (*docker.Client, error) {
	if cl != nil {
		return cl, nil
	}
	return NewDockerClient(ctx)
}

// DockerRuntime runs containers on a Docker engine. It tracks every
// container it started until it is removed, so RemoveAll (deferred by the
// runner, and run on SIGINT/SIGTERM through ctx cancellation) purges them.
// It is safe for concurrent use.
type DockerRuntime struct {
	cl      *docker.Client
	version string
	tracker Tracker
	mu      sync.Mutex
	reaper  *Reaper // told of kept containers; guarded by mu
}

var _ Runtime = (*DockerRuntime)(nil)

// NewDockerRuntime connects to the engine (see NewDockerClient).
func NewDockerRuntime(ctx context.Context) (*DockerRuntime, error) {
	cl, err := NewDockerClient(ctx)
	if err != nil {
		return nil, err
	}
	return NewDockerRuntimeWithClient(cl), nil
}

// NewDockerRuntimeWithClient uses an existing client.
func NewDockerRuntimeWithClient(cl *docker.Client) *DockerRuntime {
	v := os.Getenv("DOCKER_API_VERSION")
	if v == "" {
		v = DockerAPIVersion
	}
	return &DockerRuntime{cl: cl, version: v}
}

// Client is the engine client, for image builds.
func (r *DockerRuntime) Client() *docker.Client { return r.cl }

// Name is "docker".
func (r *DockerRuntime) Name() string { return "docker" }

// RemoveAll removes every container this runtime started and that was not
// removed yet. It runs even if ctx is already cancelled (see Tracker).
func (r *DockerRuntime) RemoveAll(ctx context.Context) error { return r.tracker.RemoveAll(ctx) }

// Start creates the container (labels, network none, no privileges, the
// image's entrypoint as PID 1 — no docker --init), places opts.Files, starts
// it, and returns once it is running. A failure after create removes it.
func (r *DockerRuntime) Start(ctx context.Context, opts StartOptions) (Container, error) {
	if opts.Image == "" {
		return nil, errors.New("start: no image")
	}
	name := opts.Name
	if name == "" {
		name = containerName(opts.RunID)
	}
	labels := map[string]string{LabelTool: "1"}
	if opts.RunID != "" {
		labels[LabelRun] = opts.RunID
	}
	created, err := r.cl.CreateContainer(docker.CreateContainerOptions{
		Name: name,
		Config: &docker.Config{
			Image:    opts.Image,
			Cmd:      opts.Cmd,
			Env:      opts.Env,
			Labels:   labels,
			Hostname: "zchaos",
		},
		HostConfig: &docker.HostConfig{
			// Auto-remove: a container whose init exits (stopped by its
			// dead-man switch after the harness died) disappears. A Restart
			// goes through the engine's restart, which keeps it.
			AutoRemove:  true,
			NetworkMode: "none",
			Privileged:  false,
			Init:        false,
			SecurityOpt: []string{"no-new-privileges"},
			PidsLimit:   1024, // a runaway crash loop must not fork-bomb the host
		},
		Context: ctx,
	})
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", name, err)
	}
	c := &dockerContainer{rt: r, id: created.ID, name: name, deadman: opts.DeadMan}
	r.tracker.Add(c)
	fail := func(err error) (Container, error) {
		return nil, errors.Join(err, c.Remove(ctx))
	}
	if len(opts.Files)+len(opts.Links) > 0 {
		if err := c.upload(ctx, opts.Files, opts.Links); err != nil {
			return fail(err)
		}
	}
	if err := r.cl.StartContainerWithContext(c.id, nil, ctx); err != nil {
		return fail(fmt.Errorf("start container %s: %w", name, err))
	}
	if err := c.armDeadMan(ctx); err != nil {
		return fail(err)
	}
	return c, nil
}

// Cleanup removes every container labelled LabelTool (only runID's when not
// empty), running or not, and returns their names sorted.
func (r *DockerRuntime) Cleanup(ctx context.Context, runID string) ([]string, error) {
	filter := []string{LabelTool}
	if runID != "" {
		filter = append(filter, LabelRun+"="+runID)
	}
	list, err := r.cl.ListContainers(docker.ListContainersOptions{All: true, Filters: map[string][]string{"label": filter}, Context: ctx})
	if err != nil {
		return nil, fmt.Errorf("cleanup: list containers: %w", err)
	}
	var names []string
	var errs []error
	for _, c := range list {
		err := r.cl.RemoveContainer(docker.RemoveContainerOptions{ID: c.ID, Force: true, RemoveVolumes: true, Context: ctx})
		var nsc *docker.NoSuchContainer
		if err != nil && !errors.As(err, &nsc) && !isGone(err) {
			errs = append(errs, fmt.Errorf("cleanup: remove %s: %w", c.ID[:12], err))
			continue
		}
		n := c.ID[:12]
		if len(c.Names) > 0 {
			n = strings.TrimPrefix(c.Names[0], "/")
		}
		names = append(names, n)
		r.tracker.forget(c.ID)
	}
	sort.Strings(names)
	return names, errors.Join(errs...)
}

// isGone says whether a remove error means the container is already going.
func isGone(err error) bool {
	var de *docker.Error
	if errors.As(err, &de) {
		return de.Status == http.StatusNotFound || (de.Status == http.StatusConflict && strings.Contains(de.Message, "already in progress"))
	}
	return false
}

func containerName(runID string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	if runID == "" {
		return "zchaos-" + hex.EncodeToString(b[:])
	}
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, runID)
	if len(clean) > 40 {
		clean = clean[:40]
	}
	return "zchaos-" + clean + "-" + hex.EncodeToString(b[:])
}

type dockerContainer struct {
	rt       *DockerRuntime
	id, name string
	deadman  DeadMan
	mu       sync.Mutex
	removed  bool
	guard    *dockerGuard // the running dead-man switch; guarded by mu
}

func (c *dockerContainer) ID() string   { return c.id }
func (c *dockerContainer) Name() string { return c.name }

// Exec runs argv and waits for it, returning demuxed output and the exit
// code. If ctx ends first, Exec returns ctx's error; the process inside the
// container is not killed (the engine has no exec kill; Remove ends it).
func (c *dockerContainer) Exec(ctx context.Context, argv []string, stdin io.Reader) (ExecResult, error) {
	var so, se bytes.Buffer
	id, cw, err := c.startExec(ctx, argv, stdin, &so, &se)
	if err != nil {
		return ExecResult{}, err
	}
	done := make(chan error, 1)
	go func() { done <- cw.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cw.Close()
		<-done
		return ExecResult{}, fmt.Errorf("exec %s: %w", argv[0], ctx.Err())
	}
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec %s: %w", argv[0], err)
	}
	code, err := c.waitExec(ctx, id)
	if err != nil {
		return ExecResult{}, err
	}
	return ExecResult{Stdout: so.Bytes(), Stderr: se.Bytes(), ExitCode: code}, nil
}

func (c *dockerContainer) startExec(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (string, docker.CloseWaiter, error) {
	if len(argv) == 0 {
		return "", nil, errors.New("exec: empty argv")
	}
	ex, err := c.rt.cl.CreateExec(docker.CreateExecOptions{
		Container: c.id, Cmd: argv, AttachStdin: stdin != nil, AttachStdout: true, AttachStderr: true, Context: ctx,
	})
	if err != nil {
		return "", nil, fmt.Errorf("exec %s: create: %w", argv[0], err)
	}
	cw, err := c.rt.cl.StartExecNonBlocking(ex.ID, docker.StartExecOptions{
		InputStream: stdin, OutputStream: stdout, ErrorStream: stderr, Context: ctx,
	})
	if err != nil {
		return "", nil, fmt.Errorf("exec %s: start: %w", argv[0], err)
	}
	return ex.ID, cw, nil
}

type execInspect struct {
	Running  bool
	ExitCode int
	Pid      int
}

// waitExec polls the exec until it is no longer running (its output has
// ended already, so this is a few milliseconds at most).
func (c *dockerContainer) waitExec(ctx context.Context, id string) (int, error) {
	var ins execInspect
	err := zinit.PollUntil(ctx, clock.RealClock{}, 5*time.Millisecond, func(ctx context.Context) (bool, error) {
		ins = execInspect{}
		if err := c.rt.getJSON(ctx, "/exec/"+id+"/json", &ins); err != nil {
			return false, err
		}
		return !ins.Running, nil
	})
	if err != nil {
		return 0, fmt.Errorf("exec inspect: %w", err)
	}
	return ins.ExitCode, nil
}

// getJSON is a GET on the engine API honouring ctx (dockertest's
// InspectExec takes none, and omits the pid).
func (r *DockerRuntime) getJSON(ctx context.Context, p string, v any) error {
	resp, err := r.request(ctx, http.MethodGet, p)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// post is a POST with no body on the engine API honouring ctx
// (dockertest's RestartContainer takes none); any 2xx answer is success.
func (r *DockerRuntime) post(ctx context.Context, p string) error {
	resp, err := r.request(ctx, http.MethodPost, p)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.Body.Close()
}

// request sends method p to the engine; an answer other than 2xx is an
// error carrying the engine's message (a *docker.Error).
func (r *DockerRuntime) request(ctx context.Context, method, p string) (*http.Response, error) {
	ep := r.cl.Endpoint()
	base := ""
	switch {
	case strings.HasPrefix(ep, "unix://"):
		base = "http://unix.sock"
	case strings.HasPrefix(ep, "tcp://"):
		base = "http://" + strings.TrimPrefix(ep, "tcp://")
		if r.cl.TLSConfig != nil {
			base = "https://" + strings.TrimPrefix(ep, "tcp://")
		}
	default:
		base = strings.TrimRight(ep, "/")
	}
	req, err := http.NewRequestWithContext(ctx, method, base+"/v"+r.version+p, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.cl.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s %s: %w", method, p, &docker.Error{Status: resp.StatusCode, Message: strings.TrimSpace(string(b))})
	}
	return resp, nil
}

// Stream runs argv (through /bin/sh, which records its pid so it can be
// killed) and returns its stdout as it comes; stderr is discarded. When ctx
// ends or the reader is closed, the process gets SIGTERM. Close waits for
// the stream's goroutine; the reader reports io.EOF when the process exits.
func (c *dockerContainer) Stream(ctx context.Context, argv []string) (io.ReadCloser, error) {
	if len(argv) == 0 {
		return nil, errors.New("stream: empty argv")
	}
	var tok [6]byte
	_, _ = rand.Read(tok[:])
	pidFile := "/tmp/.zchaos-stream-" + hex.EncodeToString(tok[:])
	wrapped := append([]string{"/bin/sh", "-c", `echo $$ > "$0"; exec "$@"`, pidFile}, argv...)
	pr, pw := io.Pipe()
	_, cw, err := c.startExec(ctx, wrapped, nil, pw, io.Discard)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ended := make(chan error, 1)
		go func() { ended <- cw.Wait() }()
		select {
		case err := <-ended:
			if err == nil {
				err = io.EOF
			}
			pw.CloseWithError(err)
			return
		case <-sctx.Done():
		}
		// Stopped by the caller: end the process, then the attach.
		kctx, kcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer kcancel()
		_, _ = c.Exec(kctx, []string{"/bin/sh", "-c",
			`i=0; while [ ! -s "$0" ] && [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); done; kill -TERM "$(cat "$0")" 2>/dev/null; rm -f "$0"`, pidFile}, nil)
		pw.CloseWithError(io.EOF)
		_ = cw.Close()
		<-ended
	}()
	return &streamReader{PipeReader: pr, cancel: cancel, done: done}, nil
}

type streamReader struct {
	*io.PipeReader
	cancel context.CancelFunc
	done   <-chan struct{}
}

func (s *streamReader) Close() error {
	s.cancel()
	_ = s.PipeReader.Close()
	<-s.done
	return nil
}

// CopyIn writes files into the container through the archive API; parent
// directories are created. It works on a created or running container.
func (c *dockerContainer) CopyIn(ctx context.Context, files map[string][]byte) error {
	return c.upload(ctx, files, nil)
}

// upload writes files and symlinks into the container in one tar.
func (c *dockerContainer) upload(ctx context.Context, files map[string][]byte, links map[string]string) error {
	b, err := tarEntries(files, links)
	if err != nil {
		return err
	}
	if err := c.rt.cl.UploadToContainer(c.id, docker.UploadToContainerOptions{InputStream: bytes.NewReader(b), Path: "/", Context: ctx}); err != nil {
		return fmt.Errorf("copy into %s: %w", c.name, err)
	}
	return nil
}

// tarEntries makes a tar of files (mode 0755) and symlinks (path →
// target), every path absolute, with their parent directories, in a
// stable order.
func tarEntries(files map[string][]byte, links map[string]string) ([]byte, error) {
	paths := make([]string, 0, len(files)+len(links))
	for p := range files {
		paths = append(paths, p)
	}
	for p := range links {
		paths = append(paths, p)
	}
	for _, p := range paths {
		if !path.IsAbs(p) {
			return nil, fmt.Errorf("copy in: path %q is not absolute", p)
		}
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, p := range paths {
		clean := strings.TrimPrefix(path.Clean(p), "/")
		var parents []string
		for d := path.Dir(clean); d != "." && d != "/" && !dirs[d]; d = path.Dir(d) {
			parents = append(parents, d)
			dirs[d] = true
		}
		for i := len(parents) - 1; i >= 0; i-- {
			if err := tw.WriteHeader(&tar.Header{Name: parents[i] + "/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
				return nil, err
			}
		}
		if target, ok := links[p]; ok {
			if err := tw.WriteHeader(&tar.Header{Name: clean, Mode: 0o777, Linkname: target, Typeflag: tar.TypeSymlink}); err != nil {
				return nil, err
			}
			continue
		}
		data := files[p]
		if err := tw.WriteHeader(&tar.Header{Name: clean, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Signal sends sig to PID 1 through the engine.
func (c *dockerContainer) Signal(ctx context.Context, sig syscall.Signal) error {
	if err := c.rt.cl.KillContainer(docker.KillContainerOptions{ID: c.id, Signal: docker.Signal(sig), Context: ctx}); err != nil {
		return fmt.Errorf("signal %v to %s: %w", sig, c.name, err)
	}
	return nil
}

// Restart stops the container (SIGTERM, SIGKILL after timeout, rounded up
// to whole seconds by the engine) and starts it again with its filesystem,
// through the engine's restart: a stop and a start would auto-remove it.
// The dead-man switch died with the old init; a new one is armed.
func (c *dockerContainer) Restart(ctx context.Context, timeout time.Duration) error {
	secs := uint((timeout + time.Second - 1) / time.Second)
	if err := c.rt.post(ctx, fmt.Sprintf("/containers/%s/restart?t=%d", c.id, secs)); err != nil {
		return fmt.Errorf("restart %s: %w", c.name, err)
	}
	c.mu.Lock()
	old := c.guard
	c.guard = nil
	c.mu.Unlock()
	old.close()
	return c.armDeadMan(ctx)
}

// Logs returns PID 1's stdout and stderr so far, interleaved.
func (c *dockerContainer) Logs(ctx context.Context) ([]byte, error) {
	var buf bytes.Buffer
	err := c.rt.cl.Logs(docker.LogsOptions{Container: c.id, OutputStream: &buf, ErrorStream: &buf, Stdout: true, Stderr: true, Context: ctx})
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", c.name, err)
	}
	return buf.Bytes(), nil
}

// Remove force-removes the container and its volumes. It is idempotent and
// runs with a fresh deadline even when ctx is already cancelled, so a
// cancelled run still cleans up.
func (c *dockerContainer) Remove(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed {
		return nil
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
	defer cancel()
	err := c.rt.cl.RemoveContainer(docker.RemoveContainerOptions{ID: c.id, Force: true, RemoveVolumes: true, Context: rctx})
	var nsc *docker.NoSuchContainer
	if err != nil && !errors.As(err, &nsc) && !isGone(err) {
		return fmt.Errorf("remove %s: %w", c.name, err)
	}
	c.removed = true
	c.rt.tracker.forget(c.id)
	c.guard.close() // it died with the container
	c.guard = nil
	return nil
}

// Keep disarms the dead-man switch and forgets the container: it outlives
// this process (and RemoveAll) until `zchaos cleanup` removes it.
func (c *dockerContainer) Keep(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rt.tracker.forget(c.id)
	c.rt.getReaper().Keep(c.id)
	g := c.guard
	c.guard = nil
	if err := g.disarm(ctx, c.deadman.Disarm); err != nil {
		return fmt.Errorf("keep %s: %w", c.name, err)
	}
	return nil
}

// dockerGuard is a running dead-man switch: an exec whose stdin is a pipe
// only this process writes.
type dockerGuard struct {
	w    *io.PipeWriter
	cw   docker.CloseWaiter
	done chan struct{} // closed when the exec's attach has ended
	once sync.Once
}

// deadManArmTimeout bounds the wait for a switch to say it is armed.
const deadManArmTimeout = 30 * time.Second

// armDeadMan starts the container's dead-man switch (if it has one) and
// waits until it prints its Armed line.
func (c *dockerContainer) armDeadMan(ctx context.Context) error {
	dm := c.deadman
	if len(dm.Argv) == 0 {
		return nil
	}
	pr, pw := io.Pipe()
	armed := newLineWatch(dm.Armed)
	var stderr bytes.Buffer
	_, cw, err := c.startExec(ctx, dm.Argv, pr, armed, &limitedWriter{w: &stderr, n: 4096})
	if err != nil {
		pw.Close()
		return fmt.Errorf("dead-man switch of %s: %w", c.name, err)
	}
	g := &dockerGuard{w: pw, cw: cw, done: make(chan struct{})}
	go func() { _ = cw.Wait(); close(g.done) }() // ends with the exec (the container's end, or a disarm)
	timer := time.NewTimer(deadManArmTimeout)
	defer timer.Stop()
	select {
	case <-armed.seen:
	case <-g.done:
		g.close()
		return fmt.Errorf("dead-man switch of %s ended before it was armed: %s", c.name, strings.TrimSpace(stderr.String()))
	case <-ctx.Done():
		g.close()
		return fmt.Errorf("dead-man switch of %s: %w", c.name, ctx.Err())
	case <-timer.C:
		g.close()
		return fmt.Errorf("dead-man switch of %s: not armed after %v", c.name, deadManArmTimeout)
	}
	c.mu.Lock()
	c.guard = g
	c.mu.Unlock()
	return nil
}

// close ends this process's side of the switch's stream (the switch, if
// still alive, reads end of file) and waits briefly for the attach to end.
// It is safe on nil and idempotent.
func (g *dockerGuard) close() {
	if g == nil {
		return
	}
	g.once.Do(func() {
		_ = g.w.Close()
		select {
		case <-g.done:
		case <-time.After(5 * time.Second):
		}
		_ = g.cw.Close()
	})
}

// disarm writes the disarm line, closes the stream and waits for the
// switch to end.
func (g *dockerGuard) disarm(ctx context.Context, line string) error {
	if g == nil {
		return nil
	}
	werr := make(chan error, 1)
	go func() { _, err := io.WriteString(g.w, line); werr <- err }()
	var err error
	select {
	case err = <-werr:
	case <-g.done:
		err = errors.New("the dead-man switch had ended")
	case <-ctx.Done():
		err = ctx.Err()
	}
	g.close()
	return err
}

// lineWatch is a writer that closes seen once it has been written line
// (at the start of a line).
type lineWatch struct {
	line string
	mu   sync.Mutex
	buf  []byte
	seen chan struct{}
	once sync.Once
}

func newLineWatch(line string) *lineWatch { return &lineWatch{line: line, seen: make(chan struct{})} }

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) < 4096 {
		w.buf = append(w.buf, p...)
	}
	for _, l := range strings.SplitAfter(string(w.buf), "\n") {
		if l == w.line {
			w.once.Do(func() { close(w.seen) })
		}
	}
	return len(p), nil
}

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
