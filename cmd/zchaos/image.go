package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/migrator"
)

type imageBuildOptions struct {
	Base     string // --base: an image in the engine to build the hero layer on
	BaseOnly bool
	NoCache  bool
	JSON     bool
	BinDir   string
	ModDir   string
}

func newImageCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build the reference images (no registry needed)",
		Args:  usageArgs(cobra.NoArgs),
	}
	cmd.AddCommand(newImageBuildCmd(f))
	return cmd
}

func newImageBuildCmd(f *Factory) *cobra.Command {
	var opts imageBuildOptions
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build (or reuse) the Debian base and the zinit + herosim image",
		Long: `Build the images the harness runs, without any registry:

  zchaos/base:<hash>  Debian bookworm (minbase + socat, curl, procps) made by
                      debootstrap and imported into the engine; the hash is
                      that of the recipe. Needs root and debootstrap.
  zchaos/hero:<hash>  the base plus static zinit (PID 1), herosim and zchaos
                      (the agent), and the hero fleet fixture as /etc/zinit;
                      the hash is that of every input.

With --base IMAGE the hero layer is built on IMAGE instead: any Debian-based
image already in the engine with socat, curl and procps (no debootstrap, no
root). It is checked in a throwaway container first; a missing or unfit one
is refused (exit code 3), naming it.

An image whose tag exists is reused unless --no-cache. The binaries come from
--bin-dir, else from the directory of this zchaos (as 'make build' lays them
out), else they are built with 'go build' from --module-dir (default: the
current directory, if it is the zchaos module). The refs go to stdout,
progress to stderr.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := out.value()
			if err != nil {
				return err
			}
			opts.JSON = format == "json"
			return runImageBuild(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Base, "base", "", "build the hero layer on this Debian-based image in the engine (with socat, curl, procps) instead of the debootstrap base")
	cmd.Flags().BoolVar(&opts.BaseOnly, "base-only", false, "build only the Debian base")
	cmd.Flags().BoolVar(&opts.NoCache, "no-cache", false, "rebuild even if the tags exist")
	out = addOutputFlag(cmd, true, "text", "text", "json")
	cmd.Flags().StringVar(&opts.BinDir, "bin-dir", "", "directory holding static zinit and herosim builds")
	cmd.Flags().StringVar(&opts.ModDir, "module-dir", "", "zchaos module to build the binaries from")
	return cmd
}

// imageRefs is the output of image build.
type imageRefs struct {
	Base  string `json:"base"`
	Image string `json:"image,omitempty"`
}

func runImageBuild(ctx context.Context, f *Factory, opts imageBuildOptions) error {
	var refs imageRefs
	var err error
	if opts.BaseOnly && opts.Base != "" {
		return usageErrorf("--base-only builds the debootstrap base; --base %s replaces it", opts.Base)
	}
	if opts.BaseOnly {
		refs.Base, err = runtime.BuildBase(ctx, runtime.BaseOptions{NoCache: opts.NoCache, Progress: f.IO.ErrOut})
	} else {
		refs, err = buildReferenceImage(ctx, f, opts, f.IO.ErrOut)
	}
	if err != nil {
		return baseImageUsage(err)
	}
	if opts.JSON {
		enc := json.NewEncoder(f.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(refs)
	}
	fmt.Fprintf(f.IO.Out, "base  %s\n", refs.Base)
	if refs.Image != "" {
		fmt.Fprintf(f.IO.Out, "image %s\n", refs.Image)
	}
	return nil
}

// buildReferenceImage builds (or reuses) base and reference image. Other
// commands (run, gate) call it when no --image is given.
func buildReferenceImage(ctx context.Context, f *Factory, opts imageBuildOptions, progress io.Writer) (imageRefs, error) {
	if opts.Base != "" { // before any binary is built
		if err := runtime.InspectBaseImage(ctx, nil, opts.Base); err != nil {
			return imageRefs{}, err
		}
	}
	bins, cleanup, err := resolveBinaries(ctx, f, opts, progress)
	if err != nil {
		return imageRefs{}, err
	}
	defer cleanup()
	iopts := runtime.ImageOptions{
		Base:      runtime.BaseOptions{NoCache: opts.NoCache},
		BaseImage: opts.Base,
		Binaries:  bins,
		Fleet:     migrator.FleetFS(),
		NoCache:   opts.NoCache,
		Progress:  progress,
	}
	ref, err := runtime.BuildImage(ctx, iopts)
	if err != nil {
		return imageRefs{}, err
	}
	if opts.Base != "" {
		return imageRefs{Base: opts.Base, Image: ref}, nil
	}
	return imageRefs{Base: iopts.Base.Ref(), Image: ref}, nil
}

// baseImageUsage makes an unfit --base the user's error (exit 3, naming
// the image); other build errors pass through.
func baseImageUsage(err error) error {
	var be *runtime.BaseImageError
	if errors.As(err, &be) {
		return &usageError{err: err}
	}
	return err
}

// resolveBinaries finds static zinit/herosim/zchaos builds: --bin-dir, the
// running executable's directory, or a go build of the module.
func resolveBinaries(ctx context.Context, f *Factory, opts imageBuildOptions, progress io.Writer) (runtime.Binaries, func(), error) {
	noop := func() {}
	self, _ := f.Executable()
	fromDir := func(dir string) (runtime.Binaries, bool) {
		b := runtime.Binaries{Zinit: filepath.Join(dir, "zinit"), Herosim: filepath.Join(dir, "herosim"), Agent: filepath.Join(dir, "zchaos")}
		if self != "" && !isRegular(b.Agent) {
			b.Agent = self
		}
		return b, isRegular(b.Zinit) && isRegular(b.Herosim) && isRegular(b.Agent)
	}
	if opts.BinDir != "" {
		if b, ok := fromDir(opts.BinDir); ok {
			return b, noop, nil
		}
		return runtime.Binaries{}, noop, usageErrorf("--bin-dir %s: needs zinit, herosim and zchaos", opts.BinDir)
	}
	mod := opts.ModDir
	if mod == "" {
		if self != "" && !strings.Contains(self, "go-build") { // not `go run` or a test binary
			if b, ok := fromDir(filepath.Dir(self)); ok {
				return b, noop, nil
			}
		}
		mod = "."
	}
	gomod, err := os.ReadFile(filepath.Join(mod, "go.mod"))
	if err != nil || !strings.Contains(string(gomod), "module github.com/zchaos/zchaos") {
		return runtime.Binaries{}, noop, usageErrorf("no zinit/herosim binaries found: pass --bin-dir, run 'make build', or run from the zchaos module")
	}
	dir, err := os.MkdirTemp("", "zchaos-bin-")
	if err != nil {
		return runtime.Binaries{}, noop, err
	}
	fmt.Fprintf(progress, "binaries: go build in %s\n", mod)
	b, err := runtime.BuildBinaries(ctx, mod, dir)
	if err != nil {
		os.RemoveAll(dir)
		return runtime.Binaries{}, noop, fmt.Errorf("building binaries: %w", err)
	}
	return b, func() { os.RemoveAll(dir) }, nil
}

func isRegular(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
