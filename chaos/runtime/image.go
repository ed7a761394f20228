package runtime

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ory/dockertest/v3/docker"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/zinit"
)

// Image repositories the harness builds. Tags are content hashes, so a tag
// that exists is a cache hit.
const (
	BaseRepo = "zchaos/base"
	HeroRepo = "zchaos/hero"
)

// baseRecipeVersion is bumped whenever BuildBase changes what it produces
// from the same options, so old cached bases are not reused.
const baseRecipeVersion = "1"

// heroRecipeVersion is bumped whenever BuildImage's layout changes.
const heroRecipeVersion = "2"

// In-image paths of the reference image.
const (
	ImageZinitPath   = "/usr/local/bin/zinit"
	ImageHerosimPath = "/usr/local/bin/herosim"
	ImageAgentPath   = "/usr/local/bin/zchaos"
	ImageConfigDir   = "/etc/zinit"
	ImageStateDir    = "/var/lib/zinit"
	ImageSocketsDir  = "/root/hero/var/sockets"
	ImageHeroBinDir  = "/root/hero/bin"
	ImageZinitSocket = zinit.DefaultSocket
)

// BaseOptions describe the Debian base image made by debootstrap.
type BaseOptions struct {
	Suite    string   // default "bookworm"
	Variant  string   // default "minbase"
	Packages []string // default socat, curl, procps
	Mirror   string   // default http://deb.debian.org/debian
	NoCache  bool     // rebuild even if the tag exists
	// Progress receives human progress lines; nil discards them.
	Progress io.Writer
	// Client talks to the engine; nil means NewDockerClient.
	Client *docker.Client
}

func (o BaseOptions) withDefaults() BaseOptions {
	if o.Suite == "" {
		o.Suite = "bookworm"
	}
	if o.Variant == "" {
		o.Variant = "minbase"
	}
	if len(o.Packages) == 0 {
		o.Packages = []string{"socat", "curl", "procps"}
	}
	if o.Mirror == "" {
		o.Mirror = "http://deb.debian.org/debian"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

// Ref is the tag the base gets: BaseRepo:<sha256 of the recipe, 16 hex>.
// The recipe is suite, variant, sorted package list and mirror.
func (o BaseOptions) Ref() string {
	o = o.withDefaults()
	pk := slices.Clone(o.Packages)
	sort.Strings(pk)
	h := sha256.New()
	fmt.Fprintf(h, "zchaos-base %s\nsuite %s\nvariant %s\npackages %s\nmirror %s\n",
		baseRecipeVersion, o.Suite, o.Variant, strings.Join(pk, ","), o.Mirror)
	return BaseRepo + ":" + hex.EncodeToString(h.Sum(nil))[:16]
}

// BuildBase makes the Debian base image with debootstrap and imports it into
// the engine, unless an image with the recipe's tag exists already (and
// NoCache is false). It needs root and the debootstrap command. Concurrent
// callers on one host are serialised by a lock file, so the work is done
// once. It blocks for the whole build (about a minute cold).
func BuildBase(ctx context.Context, opts BaseOptions) (string, error) {
	opts = opts.withDefaults()
	ref := opts.Ref()
	cl, err := clientOrDefault(ctx, opts.Client)
	if err != nil {
		return "", err
	}
	if !opts.NoCache && imageExists(cl, ref) {
		fmt.Fprintf(opts.Progress, "base: %s cached\n", ref)
		return ref, nil
	}
	unlock, err := lockFile(ctx, "zchaos-base.lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if !opts.NoCache && imageExists(cl, ref) { // built by whoever held the lock
		fmt.Fprintf(opts.Progress, "base: %s cached\n", ref)
		return ref, nil
	}
	deboot, err := debootstrapPath()
	if err != nil {
		return "", fmt.Errorf("base image: debootstrap not installed (apt-get install debootstrap, or make deps), or build on a Debian image you have with --base IMAGE: %w", err)
	}
	if os.Geteuid() != 0 {
		return "", errors.New("base image: debootstrap needs root: build the base once as root (sudo zchaos image build --base-only), or build on a Debian image you have with --base IMAGE (socat, curl and procps installed)")
	}
	dir, err := os.MkdirTemp("", "zchaos-rootfs-")
	if err != nil {
		return "", fmt.Errorf("base image: %w", err)
	}
	defer os.RemoveAll(dir)

	fmt.Fprintf(opts.Progress, "base: debootstrap %s (%s, +%s) from %s\n", opts.Suite, opts.Variant, strings.Join(opts.Packages, ","), opts.Mirror)
	start := time.Now()
	cmd := exec.CommandContext(ctx, deboot, "--variant="+opts.Variant,
		"--include="+strings.Join(opts.Packages, ","), opts.Suite, dir, opts.Mirror)
	var tail tailBuffer
	pw := prefixWriter(opts.Progress, "base: ")
	cmd.Stdout = io.MultiWriter(&tail, pw)
	cmd.Stderr = io.MultiWriter(&tail, pw)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("base image: debootstrap: %w: %s", err, tail.String())
	}
	// Drop what only a package manager needs: smaller image, same behaviour.
	for _, glob := range []string{"var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*", "var/log/*.log"} {
		m, _ := filepath.Glob(filepath.Join(dir, glob))
		for _, p := range m {
			_ = os.RemoveAll(p)
		}
	}
	fmt.Fprintf(opts.Progress, "base: debootstrap done in %s; importing\n", time.Since(start).Round(time.Second))

	// tar (GNU) keeps hard links, devices, owners and modes exactly.
	tarCmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "-C", dir, "-cf", "-", ".")
	out, err := tarCmd.StdoutPipe()
	if err != nil {
		return "", fmt.Errorf("base image: %w", err)
	}
	var tarErr bytes.Buffer
	tarCmd.Stderr = &tarErr
	if err := tarCmd.Start(); err != nil {
		return "", fmt.Errorf("base image: tar: %w", err)
	}
	repo, tag, _ := strings.Cut(ref, ":")
	ierr := cl.ImportImage(docker.ImportImageOptions{
		Repository: repo, Tag: tag, Source: "-",
		InputStream: out, OutputStream: io.Discard, Context: ctx,
	})
	if ierr != nil {
		_ = tarCmd.Process.Kill()
	}
	werr := tarCmd.Wait()
	if ierr != nil {
		return "", fmt.Errorf("base image: import: %w", ierr)
	}
	if werr != nil {
		return "", fmt.Errorf("base image: tar: %w: %s", werr, tarErr.String())
	}
	fmt.Fprintf(opts.Progress, "base: %s built in %s\n", ref, time.Since(start).Round(time.Second))
	return ref, nil
}

// Binaries are host paths of static linux builds copied into the image.
type Binaries struct {
	Zinit   string // the reference supervisor, PID 1
	Herosim string // the stand-in hero service
	Agent   string // zchaos itself, run in the container as the agent
}

// BuildBinaries builds the three static binaries (CGO_ENABLED=0,
// -trimpath) of the module in moduleDir into outDir with `go build`.
// zinitTags are build tags for zinit alone: supervisor.MutantsTag builds
// the supervisor whose defects ZINIT_MUTANT switches on (the gate's
// self-test); herosim and the agent are always the plain builds.
func BuildBinaries(ctx context.Context, moduleDir, outDir string, zinitTags ...string) (Binaries, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return Binaries{}, err
	}
	pkgs := []string{"./cmd/zinit", "./cmd/herosim", "./cmd/zchaos"}
	if len(zinitTags) > 0 {
		if err := goBuild(ctx, moduleDir, outDir, zinitTags, pkgs[:1]...); err != nil {
			return Binaries{}, err
		}
		pkgs = pkgs[1:]
	}
	if err := goBuild(ctx, moduleDir, outDir, nil, pkgs...); err != nil {
		return Binaries{}, err
	}
	return Binaries{
		Zinit:   filepath.Join(outDir, "zinit"),
		Herosim: filepath.Join(outDir, "herosim"),
		Agent:   filepath.Join(outDir, "zchaos"),
	}, nil
}

// goBuild builds pkgs of moduleDir into outDir, static, with tags.
func goBuild(ctx context.Context, moduleDir, outDir string, tags []string, pkgs ...string) error {
	args := []string{"build", "-trimpath", "-ldflags", "-s -w"}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.CommandContext(ctx, "go", append(append(args, "-o", outDir+string(os.PathSeparator)), pkgs...)...)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// ImageOptions describe the reference hero image: the base plus zinit,
// herosim and the agent, the fleet fixture in /etc/zinit, and zinit as PID 1.
type ImageOptions struct {
	Base     BaseOptions
	Binaries Binaries
	// Fleet is copied to /etc/zinit (the legacy TOML configs); nil leaves
	// /etc/zinit empty. The caller passes migrator.FleetFS().
	Fleet fs.FS
	// BaseImage, when set, is an image already in the engine to build the
	// hero layer on instead of the debootstrap base (Base is then
	// unused): any Debian-based image with socat, curl and procps, such as
	// debian:bookworm-slim with those installed. Nothing is pulled. A
	// missing or unfit one is a *BaseImageError.
	BaseImage string
	// HeroBins names executables to create in /root/hero/bin as links to
	// herosim (e.g. "hero_embedder_server"), so legacy exec lines run.
	HeroBins []string
	NoCache  bool
	Progress io.Writer
	Client   *docker.Client
}

// Dockerfile returns the layer recipe on top of baseRef. The entrypoint is
// zinit itself as PID 1: no shell, no watchdog loop, no docker --init. The
// image carries no LabelTool label on purpose: containers inherit image
// labels, and only containers the runtime made may match cleanup's filter.
// Every instruction costs an intermediate container with the classic
// builder, so there are as few as possible (SIGTERM is the default stop
// signal).
func Dockerfile(baseRef string) string {
	return `FROM ` + baseRef + `
COPY rootfs/ /
ENV ZINIT_SOCKET=` + ImageZinitSocket + ` \
    ZINIT_CONFIG_DIR=` + ImageConfigDir + ` \
    ZINIT_STATE_DIR=` + ImageStateDir + ` \
    PATH=` + ImageHeroBinDir + `:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENTRYPOINT ["` + ImageZinitPath + `", "init"]
`
}

// BuildImage builds the reference image on the base (building the base
// first if needed) through the engine's build API from an in-memory context,
// tagged HeroRepo:<hash of every input>; an existing tag is a cache hit
// unless NoCache. Nothing is pulled. It blocks until the build ends.
func BuildImage(ctx context.Context, opts ImageOptions) (string, error) {
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.Base.Progress == nil {
		opts.Base.Progress = opts.Progress
	}
	cl, err := clientOrDefault(ctx, opts.Client)
	if err != nil {
		return "", err
	}
	opts.Base.Client = cl
	var baseRef, baseID string
	if opts.BaseImage != "" {
		baseRef = opts.BaseImage
		if baseID, err = inspectBase(cl, baseRef); err != nil {
			return "", err
		}
	} else if baseRef, err = BuildBase(ctx, opts.Base); err != nil {
		return "", err
	}
	buildCtx, sum, err := heroContext(baseRef, baseID, opts)
	if err != nil {
		return "", err
	}
	ref := HeroRepo + ":" + sum[:16]
	if !opts.NoCache && imageExists(cl, ref) {
		fmt.Fprintf(opts.Progress, "image: %s cached\n", ref)
		return ref, nil
	}
	if opts.BaseImage != "" {
		if err := checkBase(ctx, cl, baseRef); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(opts.Progress, "image: building %s from %s\n", ref, baseRef)
	start := time.Now()
	var out tailBuffer
	err = cl.BuildImage(docker.BuildImageOptions{
		Name:                ref,
		InputStream:         bytes.NewReader(buildCtx),
		OutputStream:        io.MultiWriter(&out, prefixWriter(opts.Progress, "image: ")),
		Pull:                false, // the base is local; there is no registry
		NoCache:             opts.NoCache,
		RmTmpContainer:      true,
		ForceRmTmpContainer: true,
		NetworkMode:         "none",
		Context:             ctx,
	})
	if err != nil {
		return "", fmt.Errorf("image build: %w: %s", err, out.String())
	}
	fmt.Fprintf(opts.Progress, "image: %s built in %s\n", ref, time.Since(start).Round(time.Millisecond))
	return ref, nil
}

// heroContext makes the build context tar and the hash of all inputs;
// baseID, when known (a --base image), joins the hash, so a base retagged
// with other content makes another hero image.
func heroContext(baseRef, baseID string, opts ImageOptions) ([]byte, string, error) {
	type file struct {
		path string
		mode int64
		data []byte
		link string // symlink target when not empty
	}
	var files []file
	dirs := []string{"rootfs/", "rootfs/usr/", "rootfs/usr/local/", "rootfs/usr/local/bin/",
		"rootfs/etc/", "rootfs/etc/zinit/", "rootfs/var/", "rootfs/var/lib/", "rootfs/var/lib/zinit/",
		"rootfs/root/", "rootfs/root/hero/", "rootfs/root/hero/bin/", "rootfs/root/hero/var/",
		"rootfs/root/hero/var/sockets/", "rootfs/root/hero/var/log/"}
	for _, b := range []struct{ src, dst string }{
		{opts.Binaries.Zinit, ImageZinitPath}, {opts.Binaries.Herosim, ImageHerosimPath}, {opts.Binaries.Agent, ImageAgentPath},
	} {
		if b.src == "" {
			return nil, "", fmt.Errorf("image build: binary for %s not given", b.dst)
		}
		data, err := os.ReadFile(b.src)
		if err != nil {
			return nil, "", fmt.Errorf("image build: %w", err)
		}
		files = append(files, file{path: "rootfs" + b.dst, mode: 0o755, data: data})
	}
	for _, n := range opts.HeroBins {
		if n == "" || strings.ContainsAny(n, "/\x00") {
			return nil, "", fmt.Errorf("image build: bad hero binary name %q", n)
		}
		files = append(files, file{path: "rootfs" + ImageHeroBinDir + "/" + n, mode: 0o777, link: ImageHerosimPath})
	}
	if opts.Fleet != nil {
		err := fs.WalkDir(opts.Fleet, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == "." {
				return err
			}
			dst := "rootfs" + ImageConfigDir + "/" + p
			if d.IsDir() {
				dirs = append(dirs, dst+"/")
				return nil
			}
			data, err := fs.ReadFile(opts.Fleet, p)
			if err != nil {
				return err
			}
			files = append(files, file{path: dst, mode: 0o644, data: data})
			return nil
		})
		if err != nil {
			return nil, "", fmt.Errorf("image build: fleet fixture: %w", err)
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })

	df := Dockerfile(baseRef)
	h := sha256.New()
	fmt.Fprintf(h, "zchaos-hero %s\n%s", heroRecipeVersion, df)
	if baseID != "" {
		fmt.Fprintf(h, "base-id %s\n", baseID)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	hdr := func(name string, mode int64, size int64, typ byte, link string) error {
		return tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: size, Typeflag: typ, Linkname: link, ModTime: epoch, Format: tar.FormatPAX})
	}
	if err := hdr("Dockerfile", 0o644, int64(len(df)), tar.TypeReg, ""); err != nil {
		return nil, "", err
	}
	if _, err := tw.Write([]byte(df)); err != nil {
		return nil, "", err
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		fmt.Fprintf(h, "dir %s\n", d)
		if err := hdr(d, 0o755, 0, tar.TypeDir, ""); err != nil {
			return nil, "", err
		}
	}
	for _, f := range files {
		if f.link != "" {
			fmt.Fprintf(h, "link %s %s\n", f.path, f.link)
			if err := hdr(f.path, f.mode, 0, tar.TypeSymlink, f.link); err != nil {
				return nil, "", err
			}
			continue
		}
		sum := sha256.Sum256(f.data)
		fmt.Fprintf(h, "file %s %o %x\n", f.path, f.mode, sum)
		if err := hdr(f.path, f.mode, int64(len(f.data)), tar.TypeReg, ""); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), hex.EncodeToString(h.Sum(nil)), nil
}

func imageExists(cl *docker.Client, ref string) bool {
	_, err := cl.InspectImage(ref)
	return err == nil
}

// RemoveImage deletes an image by reference; a missing image is not an error.
func RemoveImage(ctx context.Context, cl *docker.Client, ref string) error {
	err := cl.RemoveImageExtended(ref, docker.RemoveImageOptions{Force: true, Context: ctx})
	if err != nil && !errors.Is(err, docker.ErrNoSuchImage) {
		return fmt.Errorf("remove image %s: %w", ref, err)
	}
	return nil
}

// lockFile takes an exclusive flock on name in the temp dir, waiting (ctx-
// aware) while another process holds it. The returned func releases it.
func lockFile(ctx context.Context, name string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), name), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	err = zinit.PollUntil(ctx, clock.RealClock{}, 200*time.Millisecond, func(context.Context) (bool, error) {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// tailBuffer keeps the last 4 KiB written, for error messages.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}
func (t *tailBuffer) String() string { return strings.TrimSpace(string(t.b)) }

// prefixWriter writes each complete line to w with a prefix.
func prefixWriter(w io.Writer, prefix string) io.Writer {
	if w == io.Discard {
		return w
	}
	return &linePrefixer{w: w, prefix: prefix}
}

type linePrefixer struct {
	w      io.Writer
	prefix string
	buf    []byte
}

func (l *linePrefixer) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
		if line != "" {
			fmt.Fprintf(l.w, "%s%s\n", l.prefix, line)
		}
	}
	return len(p), nil
}

// PruneImages removes every HeroRepo image except those in keep, and
// returns the refs removed. Images a container still uses are left alone
// (the engine refuses; that is not an error). The base is never removed.
func PruneImages(ctx context.Context, cl *docker.Client, keep ...string) ([]string, error) {
	imgs, err := cl.ListImages(docker.ListImagesOptions{Filters: map[string][]string{"reference": {HeroRepo}}, Context: ctx})
	if err != nil {
		return nil, fmt.Errorf("prune images: %w", err)
	}
	var removed []string
	var errs []error
	for _, img := range imgs {
		for _, tag := range img.RepoTags {
			if slices.Contains(keep, tag) || !strings.HasPrefix(tag, HeroRepo+":") {
				continue
			}
			err := cl.RemoveImageExtended(tag, docker.RemoveImageOptions{Context: ctx})
			var de *docker.Error
			switch {
			case err == nil:
				removed = append(removed, tag)
			case errors.As(err, &de) && de.Status == 409: // in use by a container
			case errors.Is(err, docker.ErrNoSuchImage):
			default:
				errs = append(errs, fmt.Errorf("prune %s: %w", tag, err))
			}
		}
	}
	sort.Strings(removed)
	return removed, errors.Join(errs...)
}

// debootstrapPath finds debootstrap on PATH or in /usr/sbin, where Debian
// installs it and where a non-login root PATH may not look.
func debootstrapPath() (string, error) {
	p, err := exec.LookPath("debootstrap")
	if err == nil {
		return p, nil
	}
	if st, serr := os.Stat("/usr/sbin/debootstrap"); serr == nil && st.Mode()&0o111 != 0 {
		return "/usr/sbin/debootstrap", nil
	}
	return "", err
}

// DerivedRepo is the repository of images derived from another one
// (BuildDerived), such as the as-built images tests make.
const DerivedRepo = "zchaos/derived"

// DerivedOptions describe an image made FROM another by adding files and
// links and setting the entrypoint and environment.
type DerivedOptions struct {
	From       string            // the image to start from (local: nothing is pulled)
	Files      map[string][]byte // absolute path → content (mode 0755)
	Links      map[string]string // absolute path → symlink target
	Env        []string          // KEY=VALUE
	Entrypoint []string          // nil: From's
	Client     *docker.Client
}

// BuildDerived builds (or reuses: the tag is a hash of every input) an
// image FROM opts.From with the files and links added, and returns its
// reference. It blocks until the build ends.
func BuildDerived(ctx context.Context, opts DerivedOptions) (string, error) {
	cl, err := clientOrDefault(ctx, opts.Client)
	if err != nil {
		return "", err
	}
	var df strings.Builder
	fmt.Fprintf(&df, "FROM %s\n", opts.From)
	files := map[string][]byte{}
	links := map[string]string{}
	for p, b := range opts.Files {
		files["/rootfs"+p] = b
	}
	for p, t := range opts.Links {
		links["/rootfs"+p] = t
	}
	if len(files)+len(links) > 0 {
		df.WriteString("COPY rootfs/ /\n")
	}
	for _, kv := range opts.Env {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&df, "ENV %s=%q\n", k, v)
	}
	if opts.Entrypoint != nil {
		ep, err := json.Marshal(opts.Entrypoint)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&df, "ENTRYPOINT %s\n", ep)
	}
	files["/Dockerfile"] = []byte(df.String())
	buildCtx, err := tarEntries(files, links)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(buildCtx)
	ref := DerivedRepo + ":" + hex.EncodeToString(sum[:8])
	if imageExists(cl, ref) {
		return ref, nil
	}
	var out tailBuffer
	err = cl.BuildImage(docker.BuildImageOptions{Name: ref, InputStream: bytes.NewReader(buildCtx), OutputStream: &out,
		RmTmpContainer: true, ForceRmTmpContainer: true, NetworkMode: "none", Context: ctx})
	if err != nil {
		return "", fmt.Errorf("derived image from %s: %w: %s", opts.From, err, out.String())
	}
	return ref, nil
}
