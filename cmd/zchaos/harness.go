package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/zchaos/zchaos/chaos"
	"github.com/zchaos/zchaos/chaos/fleet"
	"github.com/zchaos/zchaos/chaos/oracle"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/scenarios"
)

// harnessOptions are the flags run and gate share.
type harnessOptions struct {
	ConfigDir     string
	Image         string
	TimeScale     float64 // set by validate from TimeScaleArg, or by calibrate
	TimeScaleArg  string  // --time-scale: a factor, or "auto"
	autoScale     bool
	Parallel      int
	Repeat        int
	Seed          int64
	SeedGiven     bool
	Out           string
	KeepOnFailure bool
	Runtime       string
	LocalDir      string
	Targets       []string // --target: the fleet services fleet scenarios target
	PolicyFile    string   // --policy
	AsBuilt       bool     // --as-built: judge the image as it boots, apply nothing
	BootTimeout   time.Duration
	BaseImage     string          // --base: the reference image's base, an image in the engine
	ShardArg      string          // --shard i/n
	shard         scenarios.Shard // parsed by validate
	parallelBase  int             // the command's --parallel at fast scales
	policy        migrator.Policy
	comp          *fleet.Composer // made by validate; the runner's Setup and the targets' source
}

func (o *harnessOptions) addFlags(fl *pflag.FlagSet, parallel int, timeScale string) {
	fl.StringVar(&o.ConfigDir, "config", "", "legacy config dir to use instead of the hero fleet fixture")
	fl.StringVar(&o.Image, "image", "", "image to run (default: build or reuse the reference image)")
	fl.StringVar(&o.TimeScaleArg, "time-scale", timeScale, "scale every duration of the job model and of the expectations (1: production timings), "+
		"or auto: measure the machine's timer lateness first and take the fastest of 0.05, 0.1, 0.25, 0.5, 1 whose tolerances exceed it")
	o.parallelBase = parallel
	fl.IntVar(&o.Parallel, "parallel", 0, fmt.Sprintf("attempts run at once (0: %d below time scale 0.25, 4 up to 0.5, 8 above, where attempts mostly wait on timers)", parallel))
	fl.IntVar(&o.Repeat, "repeat", 1, "attempts per scenario and config")
	fl.Int64Var(&o.Seed, "seed", 0, "seed of every random choice (default: random, printed)")
	fl.StringVar(&o.Out, "out", "zchaos-out", "directory for result.json, reports and forensics")
	fl.BoolVar(&o.KeepOnFailure, "keep-on-failure", false, "keep the containers of non-passing scenarios")
	fl.StringVar(&o.Runtime, "runtime", runtimeDocker, "docker, or local: zinit process trees under --local-dir, for machines without an engine "+
		"(reference binaries only, no --image; no isolation: processes run as you, on the host network)")
	fl.StringSliceVar(&o.Targets, "target", nil, "fleet scenarios target these services (repeatable; default: each scenario's selector)")
	fl.BoolVar(&o.AsBuilt, "as-built", false, "judge the image as it boots (its own config; nothing applied): conformance to the policy, a probe audit of every check, the fault scenarios on the services it declares; --time-scale states the scale it was built at")
	fl.DurationVar(&o.BootTimeout, "boot-timeout", 60*time.Second, "--as-built: how long the image's zinit may take to answer")
	fl.StringVar(&o.PolicyFile, "policy", "", "migration policy file (YAML or TOML): restart, delay, max restarts, interval, timeout, probes")
	fl.StringVar(&o.BaseImage, "base", "", "build the reference image on this Debian-based image in the engine (with socat, curl, procps) instead of the debootstrap base")
	fl.StringVar(&o.ShardArg, "shard", "", "run only shard INDEX/COUNT of the scenario × config × attempt plan (1-based, e.g. 2/3 for "+
		"CI_NODE_INDEX/CI_NODE_TOTAL); every shard needs the same --seed and a stated --time-scale; join them with report --merge")
	fl.StringVar(&o.LocalDir, "local-dir", runtime.DefaultLocalDir(), "state and root directory of --runtime local (keep it short: socket paths < 108 bytes)")
}

func (o *harnessOptions) validate() error {
	switch {
	case o.TimeScaleArg == "auto" && o.AsBuilt:
		// zchaos cannot scale a config it does not apply: without a stated
		// scale an image as built runs at production timings.
		o.TimeScale = 1
	case o.TimeScaleArg == "auto":
		o.autoScale, o.TimeScale = true, oracle.ScaleLadder[0]
	default:
		ts, err := strconv.ParseFloat(o.TimeScaleArg, 64)
		if err != nil || !(ts > 0) {
			return usageErrorf("--time-scale %s: want a factor > 0 or auto", o.TimeScaleArg)
		}
		o.TimeScale = ts
	}
	switch {
	case o.Parallel < 0:
		return usageErrorf("--parallel %d: must be >= 0 (0: automatic)", o.Parallel)
	case o.Repeat < 1:
		return usageErrorf("--repeat %d: must be >= 1", o.Repeat)
	case o.Runtime != runtimeDocker && o.Runtime != runtimeLocal:
		return usageErrorf("--runtime %q: must be docker or local", o.Runtime)
	case o.Runtime == runtimeLocal && o.Image != "":
		return usageErrorf("--image: --runtime local runs only the reference binaries")
	case o.AsBuilt && o.Runtime != runtimeDocker:
		return usageErrorf("--as-built: needs the docker runtime (an image boots as built only in a container)")
	case o.BaseImage != "" && (o.Image != "" || o.Runtime != runtimeDocker):
		return usageErrorf("--base %s: builds the reference image for the docker runtime; --image and --runtime local need none", o.BaseImage)
	case o.AsBuilt && o.ConfigDir != "":
		return usageErrorf("--as-built: the image brings its own config; --config is for configs zchaos migrates")
	}
	if err := o.validateShard(); err != nil {
		return err
	}
	if o.ConfigDir != "" {
		if st, err := os.Stat(o.ConfigDir); err != nil || !st.IsDir() {
			return usageErrorf("--config %s: not a directory", o.ConfigDir)
		}
	}
	o.policy = migrator.DefaultPolicy()
	if o.PolicyFile != "" {
		p, err := migrator.LoadPolicy(o.PolicyFile)
		if err != nil {
			return &usageError{err: err}
		}
		o.policy = p
	}
	o.comp = &fleet.Composer{Policy: o.policy, ConfigDir: o.ConfigDir}
	if !o.SeedGiven {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.Seed = int64(binary.LittleEndian.Uint64(b[:]) >> 1)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return &usageError{err: fmt.Errorf("--out: %w", err)}
	}
	return nil
}

// validateShard parses --shard. The shards of one run must make the same
// random choices (targets, monkey victims, attempt seeds) and run at the
// same scale, or report --merge refuses them: a split run needs --seed
// and a time scale stated rather than calibrated on each runner.
func (o *harnessOptions) validateShard() error {
	if o.ShardArg == "" {
		return nil
	}
	sh, err := scenarios.ParseShard(o.ShardArg)
	if err != nil {
		return usageErrorf("--shard: %w", err)
	}
	o.shard = sh
	switch {
	case !sh.Sharded():
		return nil
	case !o.SeedGiven:
		return usageErrorf("--shard %s: every shard must make the same random choices: give them all the same --seed (e.g. --seed $GITHUB_RUN_ID)", sh)
	case o.autoScale:
		return usageErrorf("--shard %s: each runner would calibrate its own time scale and the shards would not merge: state one (e.g. --time-scale 0.05)", sh)
	}
	return nil
}

// parallel is --parallel, or the automatic choice for the time scale.
func (o *harnessOptions) parallel() int {
	if o.Parallel > 0 {
		return o.Parallel
	}
	return chaos.AutoParallel(o.TimeScale, o.parallelBase)
}

// standIn is the reference image's multi-call herosim, which stands in for
// every hero binary a config names; a user's image has its own binaries.
func (o *harnessOptions) standIn() string {
	if o.Image != "" {
		return ""
	}
	return runtime.ImageHerosimPath
}

// reproduce is the command line a forensics bundle starts its reproduce
// line with: zchaos run with this run's image, config and runtime.
func (o *harnessOptions) reproduce() []string {
	argv := []string{"zchaos", "run"}
	if o.Image != "" {
		argv = append(argv, "--image", o.Image)
	}
	if o.ConfigDir != "" {
		dir, err := filepath.Abs(o.ConfigDir)
		if err != nil {
			dir = o.ConfigDir
		}
		argv = append(argv, "--config", dir)
	}
	if o.Runtime != runtimeDocker {
		argv = append(argv, "--runtime", o.Runtime, "--local-dir", o.LocalDir)
	}
	return argv
}

// Runtimes --runtime names.
const (
	runtimeDocker = "docker"
	runtimeLocal  = "local"
)

// newHarness builds the runner run and gate share: the Docker runtime (or
// the local one, see newLocalHarness), the
// reference image (built or reused) or the user's image with this binary
// copied in as its agent, and the migrator's fleet setup. The returned
// release removes every container the runner made, even after ctx is
// cancelled (SIGINT); callers defer it.
func newHarness(ctx context.Context, f *Factory, o harnessOptions) (*chaos.Runner, func(), error) {
	if o.Runtime == runtimeLocal {
		return newLocalHarness(ctx, f, o)
	}
	rt, err := runtime.NewDockerRuntime(ctx)
	if err != nil {
		return nil, nil, &exitError{code: exitInfra, err: err}
	}
	r := o.runner(rt, o.Image)
	r.RunID = chaos.NewRunID()
	// The host-side backstop of the containers' dead-man switches.
	var reaper *runtime.Reaper
	if f.Reaper != nil {
		if argv := f.Reaper(r.RunID); argv != nil {
			if reaper, err = runtime.StartReaper(argv); err != nil {
				fmt.Fprintf(f.IO.ErrOut, "zchaos: warning: %v (a killed run's containers rely on their own dead-man switches)\n", err)
			}
			rt.SetReaper(reaper)
		}
	}
	release := func() { _ = rt.RemoveAll(context.WithoutCancel(ctx)); reaper.Release() }
	if o.Image == "" {
		refs, err := buildReferenceImage(ctx, f, imageBuildOptions{Base: o.BaseImage}, progressWriter(f))
		var be *runtime.BaseImageError
		if errors.As(err, &be) {
			release()
			return nil, nil, &usageError{err: err}
		}
		if err != nil {
			release()
			return nil, nil, &exitError{code: exitInfra, err: fmt.Errorf("reference image: %w", err)}
		}
		r.Image = refs.Image
	} else {
		// A user's image has no agent: copy this (static) binary in.
		self, err := f.Executable()
		if err == nil {
			r.AgentBinary, err = os.ReadFile(self)
		}
		if err != nil {
			release()
			return nil, nil, &exitError{code: exitInfra, err: fmt.Errorf("agent binary: %w", err)}
		}
	}
	return r, release, nil
}

// newLocalHarness is newHarness on the local runtime: the local image is
// laid out in a fresh directory under o.LocalDir from the same binaries
// (and fleet) as the reference image. The returned release kills every
// process tree the runner started and removes the image directory, even
// after ctx is cancelled.
func newLocalHarness(ctx context.Context, f *Factory, o harnessOptions) (*chaos.Runner, func(), error) {
	rt, err := runtime.NewLocalRuntime(o.LocalDir)
	if err != nil {
		return nil, nil, &exitError{code: exitInfra, err: err}
	}
	bins, cleanupBins, err := resolveBinaries(ctx, f, imageBuildOptions{}, progressWriter(f))
	if err != nil {
		return nil, nil, &exitError{code: exitInfra, err: fmt.Errorf("local image: %w", err)}
	}
	defer cleanupBins()
	imgDir, err := rt.ImageDir()
	if err != nil {
		return nil, nil, &exitError{code: exitInfra, err: err}
	}
	release := func() {
		_ = rt.RemoveAll(context.WithoutCancel(ctx))
		_ = os.RemoveAll(imgDir)
	}
	img, err := runtime.BuildLocalImage(imgDir, runtime.ImageOptions{Binaries: bins, Fleet: migrator.FleetFS()})
	if err != nil {
		release()
		return nil, nil, &exitError{code: exitInfra, err: fmt.Errorf("local image: %w", err)}
	}
	return o.runner(rt, img), release, nil
}

// runner wires the flags into a runner on rt and image, with the fleet
// scenarios composed by chaos/fleet under the migrator's default policy.
func (o harnessOptions) runner(rt runtime.Runtime, image string) *chaos.Runner {
	return &chaos.Runner{Runtime: rt, Image: image, Setup: o.composer().Setup,
		TimeScale: o.TimeScale, Parallel: o.parallel(), Repeat: o.Repeat, Seed: o.Seed, OutDir: o.Out,
		KeepOnFailure: o.KeepOnFailure, Tool: "zchaos " + version, Reproduce: o.reproduce(), StandIn: o.standIn(),
		Shard: o.shard}
}

// composer composes fleet scenarios under the policy, from --config or
// each scenario's own fleet.
func (o harnessOptions) composer() *fleet.Composer {
	if o.comp == nil {
		return &fleet.Composer{Policy: o.policy, ConfigDir: o.ConfigDir}
	}
	return o.comp
}

// configs are the configs to run: as built, or migrated (and the legacy
// one as a baseline).
func (o harnessOptions) configs(baseline bool) []string {
	if o.AsBuilt {
		return []string{scenarios.ConfigAsBuilt}
	}
	return runConfigs(baseline)
}

// prepare builds the harness for scs: the runner (newHarness), and the
// scenarios with their targets chosen among the fleet's services, or with
// --as-built among what the image declares once discovered. Target errors
// of a fleet zchaos migrates come before any image is built. The returned
// release removes every container; call it.
func prepare(ctx context.Context, f *Factory, o harnessOptions, scs []scenarios.Scenario) (*chaos.Runner, func(), []scenarios.Scenario, error) {
	var err error
	if !o.AsBuilt {
		if scs, err = o.expandTargets(f, scs); err != nil {
			return nil, nil, nil, err
		}
	}
	r, release, err := newHarness(ctx, f, o)
	if err != nil {
		return nil, nil, nil, err
	}
	if o.autoScale {
		if err := o.calibrate(ctx, f, r); err != nil {
			release()
			return nil, nil, nil, err
		}
	}
	if o.AsBuilt {
		if err = o.discover(ctx, f, r); err == nil {
			scs, err = o.expandTargets(f, scs)
		}
		if err != nil {
			release()
			return nil, nil, nil, err
		}
	}
	return r, release, scs, nil
}

// calibrate measures the machine in a container of the image and sets the
// runner's time scale (and, when automatic, its parallelism) to the
// fastest one whose tolerances exceed the machine's lateness. A machine
// too loaded for any scale is exit 2, never a guess.
func (o harnessOptions) calibrate(ctx context.Context, f *Factory, r *chaos.Runner) error {
	if r.RunID == "" {
		r.RunID = chaos.NewRunID()
	}
	load, err := chaos.Calibrate(ctx, r.Runtime, r.Image, r.RunID, r.AgentBinary, chaos.CalibrationTime)
	if err != nil {
		return &exitError{code: exitInfra, err: fmt.Errorf("--time-scale auto: %w", err)}
	}
	scale, why, err := oracle.ChooseScale(load, oracle.ScaleLadder)
	if err != nil {
		return &exitError{code: exitInconclusive, err: fmt.Errorf("--time-scale auto: %w", err)}
	}
	r.TimeScale = scale
	if o.Parallel == 0 {
		r.Parallel = chaos.AutoParallel(scale, o.parallelBase)
	}
	o.comp.Calibration = &scenarios.Calibration{Load: load, Scale: scale, Reason: why}
	fmt.Fprintf(f.IO.ErrOut, "zchaos: --time-scale auto: %s\n", why)
	return nil
}

// imageFindings adds to res what the run learnt before its scenarios:
// the calibration, and what discovery found of an image as built.
func (o harnessOptions) imageFindings(res *scenarios.Result) {
	if b := o.composer().Built; b != nil {
		res.Conformance, res.ProbeAudit = b.Conformance, b.Audit
	}
	res.Calibration = o.composer().Calibration
}

// discover learns what the image declares as built (--as-built), checks
// it and audits its checks; its services become the fleet scenarios'
// targets. An image without zinit is the user's mistake (exit 3); a zinit
// that never answers, the infrastructure's (exit 4).
func (o harnessOptions) discover(ctx context.Context, f *Factory, r *chaos.Runner) error {
	if r.RunID == "" {
		r.RunID = chaos.NewRunID()
	}
	fmt.Fprintf(f.IO.ErrOut, "zchaos: discovering what %s declares as built (its zinit, a conformance check, a probe audit of every check)\n", r.Image)
	b, err := fleet.Discover(ctx, r.Runtime, r.Image, fleet.DiscoverOptions{RunID: r.RunID, Agent: r.AgentBinary,
		Policy: o.policy, TimeScale: o.TimeScale, Wait: o.BootTimeout})
	switch {
	case errors.Is(err, fleet.ErrNoZinit):
		return &usageError{err: fmt.Errorf("--as-built %s: %w", r.Image, err)}
	case err != nil:
		return &exitError{code: exitInfra, err: fmt.Errorf("--as-built %s: %w", r.Image, err)}
	}
	o.composer().Built = b
	return nil
}

// expandTargets resolves the fleet scenarios' targets among the fleet's
// services (--target overrides every selector); a target the fleet lacks
// is the user's mistake: exit 3, naming the services found.
func (o harnessOptions) expandTargets(f *Factory, scs []scenarios.Scenario) ([]scenarios.Scenario, error) {
	out, skipped, err := o.composer().Expand(scs, o.Targets, o.Seed)
	for _, s := range skipped {
		fmt.Fprintln(f.IO.ErrOut, "zchaos: left out:", s)
	}
	var te *scenarios.TargetError
	if errors.As(err, &te) {
		return nil, &usageError{err: err}
	}
	return out, err
}

// runScenarios runs scs on configs with progress on the error stream: a
// line per finished attempt, and on a terminal one live line rewritten in
// place with the count, the ETA and the attempts under way. Its error is only ctx's: the result holds what finished.
func runScenarios(ctx context.Context, f *Factory, r *chaos.Runner, name string, scs []scenarios.Scenario, configs []string) (scenarios.Result, error) {
	if r.RunID == "" {
		r.RunID = chaos.NewRunID()
	}
	shard := ""
	if r.Shard.Sharded() {
		shard = ", shard " + r.Shard.String()
	}
	// The run ID labels its containers: `zchaos cleanup --run ID`.
	fmt.Fprintf(f.IO.ErrOut, "zchaos %s: %d scenario(s) × %v, image %s, time scale %g, seed %d%s, run %s\n",
		name, len(scs), configs, r.Image, r.TimeScale, r.Seed, shard, r.RunID)
	prog := runProgress(f.IO)
	r.Progress = prog.update
	res, err := r.Run(ctx, scs, configs)
	prog.finish()
	if err != nil {
		return res, &exitError{code: exitInfra, err: fmt.Errorf("%s interrupted: %w", name, err)}
	}
	return res, nil
}

// runConfigs is the migrated config, and the legacy one as a baseline.
func runConfigs(baseline bool) []string {
	if baseline {
		return []string{scenarios.ConfigMigrated, scenarios.ConfigLegacy}
	}
	return []string{scenarios.ConfigMigrated}
}
