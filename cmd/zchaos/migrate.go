package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/chaos/fleet"
	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/reports"
	"github.com/zchaos/zchaos/zinit"
)

func newMigrateCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Migrate legacy zinit services to the job model",
		Long: `Migrate legacy zinit services to the zinit 0.4.0 job model: each long-running
service gets a main job (trigger start, restart on-failure, restart-delay 5000
ms, max-restarts 20) and a check job (every 60000 ms, timeout 30000 ms) that
really probes it (JSON-RPC server.health over its Unix socket, or HTTP);
oneshots get a start job with restart never and no check. The legacy health
files are absorbed into the check jobs.

plan shows the job model and a fidelity ledger, render writes it as a POSIX
script or JSON, apply changes a running zinit (with a checksummed backup of
the legacy files), rollback undoes an apply from its backup.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newMigratePlanCmd(f), newMigrateRenderCmd(f), newMigrateApplyCmd(f), newMigrateRollbackCmd(f))
	return cmd
}

// planInput are the flags every migrate subcommand that plans shares.
type planInput struct {
	Dir       string
	Policy    string
	TimeScale float64
}

func (in *planInput) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&in.Policy, "policy", "", "policy file (YAML or TOML): defaults, per-service overrides, socket convention")
	cmd.Flags().Float64Var(&in.TimeScale, "time-scale", 1, "scale every duration by this factor (e.g. 0.05 for scaled test runs)")
}

// buildPlan loads, plans and scales. Problems with the input are usage
// errors (exit 3), one line each on w.
func buildPlan(w io.Writer, in planInput) (*migrator.Plan, error) {
	if !(in.TimeScale > 0) {
		return nil, usageErrorf("--time-scale %v: must be > 0", in.TimeScale)
	}
	inv, pol, err := loadInput(in.Dir, in.Policy)
	if err != nil {
		return nil, err
	}
	p, err := migrator.BuildPlan(inv, pol)
	if err != nil {
		return nil, configErrors(w, "plan "+in.Dir, err)
	}
	if in.TimeScale != 1 {
		if p, err = p.Scale(in.TimeScale); err != nil {
			return nil, &usageError{err: err}
		}
	}
	return p, nil
}

// ---- plan ----

type migratePlanOptions struct {
	IO IOStreams
	planInput
	JSON bool
}

func newMigratePlanCmd(f *Factory) *cobra.Command {
	opts := migratePlanOptions{IO: f.IO}
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "plan DIR",
		Short: "Show the job model and the fidelity ledger of a migration",
		Long: `Show, per service, the job model the migration creates (main job, check job,
probe and where its target came from) and the fidelity ledger: for every
legacy field, whether it was mapped exactly, approximated (and how), dropped,
or changes behaviour (and what the operator will see differently).

Input that cannot be migrated (a file that does not parse, a duplicate name,
a cycle, an unknown dependency, a name zinit rejects, a socket path too long)
is reported one line per problem, with file and line; exit 3.`,
		Example: `  zchaos migrate plan /etc/zinit
  zchaos migrate plan ./fleet --policy policy.yaml --json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir = args[0]
			format, err := out.value()
			if err != nil {
				return err
			}
			opts.JSON = format == "json"
			return runMigratePlan(cmd.Context(), opts)
		},
	}
	opts.flags(cmd)
	out = addOutputFlag(cmd, true, "table", "table", "json")
	return cmd
}

func runMigratePlan(_ context.Context, opts migratePlanOptions) error {
	p, err := buildPlan(opts.IO.ErrOut, opts.planInput)
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeIndentedJSON(opts.IO.Out, p)
	}
	return printPlan(opts.IO.Out, opts.IO.Layout(), p)
}

func printPlan(w io.Writer, l reports.Layout, p *migrator.Plan) error {
	rows := make([][]string, 0, len(p.Services))
	oneshots := 0
	for _, sp := range p.Services {
		main, _ := sp.Job("main")
		kind, restart, check := "long-running", "", "-"
		if sp.Oneshot {
			kind = "oneshot"
			oneshots++
		}
		restart = main.Restart.String()
		if main.Restart != zinit.RestartNever {
			restart += fmt.Sprintf(" %dms max %d", zinit.Millis(main.EffectiveRestartDelay()), main.MaxRestarts)
		}
		if c, ok := sp.Job("check"); ok {
			check = fmt.Sprintf("every %dms timeout %dms", zinit.Millis(c.Interval), zinit.Millis(c.Timeout))
		}
		probe := string(sp.Probe.Kind)
		if sp.Probe.Target != "" && sp.Probe.Kind != migrator.ProbeCommand {
			probe += " " + sp.Probe.Target
		}
		rows = append(rows, []string{sp.Service.Name, kind, restart, check, probe, sp.Probe.Origin})
	}
	if err := printTable(w, l, []string{"Service", "Kind", "Restart", "Check", "Probe", "Target from"}, rows); err != nil {
		return err
	}
	fmt.Fprintln(w)
	counts := map[migrator.Fidelity]int{}
	var ledger [][]string
	for _, sp := range p.Services {
		for _, e := range sp.Ledger {
			counts[e.Fidelity]++
			ledger = append(ledger, []string{e.Service, e.Field, string(e.Fidelity), dashIfEmpty(e.Source), e.Detail})
		}
	}
	if err := printTable(w, l, []string{"Service", "Field", "Fidelity", "Source", "Detail"}, ledger); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d services (%d oneshots), %d health files retired, time scale %g; ledger: %d exact, %d approximated, %d dropped, %d behaviour-change\n",
		len(p.Services), oneshots, len(p.Retired), p.TimeScale, counts[migrator.FidelityExact], counts[migrator.FidelityApproximated],
		counts[migrator.FidelityDropped], counts[migrator.FidelityBehaviourChange])
	return err
}

// ---- render ----

type migrateRenderOptions struct {
	IO IOStreams
	planInput
	Format string
}

func newMigrateRenderCmd(f *Factory) *cobra.Command {
	opts := migrateRenderOptions{IO: f.IO}
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "render DIR",
		Short: "Write the migration as a zinit CLI script or as JSON",
		Long: `Write the migration as a POSIX sh script of zinit CLI lines in the seed's
syntax (set -eu; every argument quoted, so quotes, $, backticks and newlines
reach zinit byte for byte; idempotent: each unit is removed if present, then
re-added; it ends by starting each migrated service), or as JSON (the same
commands as argv arrays). The script does not move the legacy files: run it
after moving them out of zinit's config dir, or use migrate apply.`,
		Example: `  zchaos migrate render /etc/zinit > migrate.sh
  zchaos migrate render ./fleet -o json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir = args[0]
			opts.Format = out.format
			return runMigrateRender(cmd.Context(), opts)
		},
	}
	opts.flags(cmd)
	out = addOutputFlag(cmd, false, "script", "script", "json")
	addFormatAlias(cmd, out)
	return cmd
}

func runMigrateRender(_ context.Context, opts migrateRenderOptions) error {
	if opts.Format != "script" && opts.Format != "json" {
		return usageErrorf("-o %q: want script or json", opts.Format)
	}
	p, err := buildPlan(opts.IO.ErrOut, opts.planInput)
	if err != nil {
		return err
	}
	if opts.Format == "json" {
		return writeIndentedJSON(opts.IO.Out, p.Script())
	}
	return migrator.WriteScript(opts.IO.Out, p)
}

// ---- target ----

// targetFlags select the zinit to change.
type targetFlags struct {
	Socket    string
	Container string
	Zinit     string
}

func (t *targetFlags) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&t.Socket, "socket", "", "zinit's socket on this machine")
	cmd.Flags().StringVar(&t.Container, "container", "", "name of a running container whose zinit to change (through its CLI, by docker exec)")
	cmd.Flags().StringVar(&t.Zinit, "zinit", "zinit", "path of the zinit CLI inside the container")
}

// check says whether exactly one target was given (a usage error if not).
func (t targetFlags) check() error {
	switch {
	case t.Socket == "" && t.Container == "":
		return usageErrorf("give the target: --socket PATH or --container NAME")
	case t.Socket != "" && t.Container != "":
		return usageErrorf("--socket and --container exclude each other")
	}
	return nil
}

// open connects to the target; the returned func releases it.
func (t targetFlags) open(ctx context.Context) (migrator.Target, func(), error) {
	if t.Container != "" {
		ct, err := fleet.DockerTarget(ctx, t.Container, t.Zinit)
		if err != nil {
			return nil, nil, err
		}
		return ct, func() {}, nil
	}
	st, err := migrator.DialSocket(ctx, t.Socket)
	if err != nil {
		return nil, nil, err
	}
	return st, func() { st.Close() }, nil
}

func (t targetFlags) String() string {
	if t.Container != "" {
		return "--container " + t.Container
	}
	return "--socket " + t.Socket
}

// targetError maps apply/rollback errors: bad input exits 3, the rest
// (zinit not running, a failed step, an unwritable backup dir) exit 4.
func targetError(err error) error {
	var ce *zinit.ConfigError
	if errors.As(err, &ce) {
		return &usageError{err: err}
	}
	return &exitError{code: exitInfra, err: err}
}

// ---- apply ----

type migrateApplyOptions struct {
	IO IOStreams
	planInput
	Target     targetFlags
	ConfigDir  string
	BackupRoot string
	DryRun     bool
	JSON       bool
	Now        func() time.Time
}

func newMigrateApplyCmd(f *Factory) *cobra.Command {
	opts := migrateApplyOptions{IO: f.IO, Now: time.Now}
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "apply DIR (--socket PATH | --container NAME)",
		Short: "Migrate a running zinit, with a backup of the legacy files",
		Long: `Migrate a running zinit to the plan of DIR. First the legacy files found in
zinit's config dir are copied to a new timestamped backup dir (checksums
verified, manifest written); an unwritable backup dir stops it before
anything changes. Then the files are moved out of the config dir, the legacy
services are stopped and removed, and the job-model services and jobs are
added (persisted) and started, dependencies first.

A second apply changes nothing. If a step fails, apply stops, reports what
it did and prints the rollback command. --dry-run lists the changes only.

--config-dir is zinit's config dir on the target: DIR itself with --socket,
/etc/zinit in a container. Exit codes: 0 done, 3 bad input, 4 zinit not
running, backup impossible, or a failed step.`,
		Example: `  zchaos migrate apply /etc/zinit --socket /run/zinit.sock
  zchaos migrate apply ./fleet --container hero --dry-run`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir = args[0]
			format, err := out.value()
			if err != nil {
				return err
			}
			opts.JSON = format == "json"
			return runMigrateApply(cmd.Context(), opts)
		},
	}
	opts.flags(cmd)
	opts.Target.flags(cmd)
	cmd.Flags().StringVar(&opts.ConfigDir, "config-dir", "", "zinit's legacy config dir on the target (default: DIR with --socket, /etc/zinit with --container)")
	cmd.Flags().StringVar(&opts.BackupRoot, "backup-root", "", "where timestamped backup dirs go (default: <config-dir>.zchaos-backup)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "list the changes, make none")
	out = addOutputFlag(cmd, true, "table", "table", "json")
	return cmd
}

func runMigrateApply(ctx context.Context, opts migrateApplyOptions) error {
	if err := opts.Target.check(); err != nil {
		return err
	}
	p, err := buildPlan(opts.IO.ErrOut, opts.planInput)
	if err != nil {
		return err
	}
	cfg := opts.ConfigDir
	if cfg == "" {
		cfg = opts.Dir
		if opts.Target.Container != "" {
			cfg = zinit.DefaultConfigDir
		}
	}
	t, release, err := opts.Target.open(ctx)
	if err != nil {
		return targetError(err)
	}
	defer release()
	rep, aerr := migrator.Apply(ctx, p, t, migrator.ApplyOptions{
		ConfigDir: cfg, BackupRoot: opts.BackupRoot, DryRun: opts.DryRun, Now: opts.Now,
	})
	if opts.JSON {
		if err := writeIndentedJSON(opts.IO.Out, rep); err != nil {
			return err
		}
	} else if err := printChanges(opts.IO.Out, opts.IO.Layout(), rep.Changes); err != nil {
		return err
	}
	if aerr != nil {
		var se *migrator.StepError
		if errors.As(aerr, &se) && se.Backup != "" {
			fmt.Fprintf(opts.IO.ErrOut, "zchaos: apply stopped after %d changes; roll back with: zchaos migrate rollback --backup %s %s\n",
				len(rep.Changes), zinit.ShellQuote(se.Backup), opts.Target)
		}
		return targetError(aerr)
	}
	if opts.JSON {
		return nil
	}
	verb := "applied"
	if rep.DryRun {
		verb = "would apply (dry run)"
	}
	fmt.Fprintf(opts.IO.Out, "%s %d changes to %s; %d services already as planned", verb, len(rep.Changes), rep.Target, len(rep.Unchanged))
	if rep.Backup != "" {
		fmt.Fprintf(opts.IO.Out, "; backup %s", rep.Backup)
	}
	_, err = fmt.Fprintln(opts.IO.Out)
	return err
}

func printChanges(w io.Writer, l reports.Layout, changes []migrator.Change) error {
	if len(changes) == 0 {
		return nil
	}
	rows := make([][]string, 0, len(changes))
	for _, c := range changes {
		rows = append(rows, []string{c.Action, c.Unit, dashIfEmpty(c.Detail)})
	}
	return printTable(w, l, []string{"Action", "Unit", "Detail"}, rows)
}

// ---- rollback ----

type migrateRollbackOptions struct {
	IO     IOStreams
	Backup string
	Target targetFlags
	JSON   bool
}

func newMigrateRollbackCmd(f *Factory) *cobra.Command {
	opts := migrateRollbackOptions{IO: f.IO}
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "rollback --backup DIR (--socket PATH | --container NAME)",
		Short: "Undo a migration from its backup dir",
		Long: `Undo an apply: verify every file of the backup dir against its manifest (a
mismatch changes nothing), stop and remove the migrated services, copy the
legacy files back into the config dir byte for byte (a different file in the
way is first moved into the backup), then zinit reload starts the legacy
services again. Running it twice is harmless.`,
		Example: `  zchaos migrate rollback --backup /etc/zinit.zchaos-backup/20260313T124022.000000000Z --socket /run/zinit.sock`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := out.value()
			if err != nil {
				return err
			}
			opts.JSON = format == "json"
			return runMigrateRollback(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Backup, "backup", "", "the backup dir apply printed (on the target)")
	opts.Target.flags(cmd)
	out = addOutputFlag(cmd, true, "table", "table", "json")
	return cmd
}

func runMigrateRollback(ctx context.Context, opts migrateRollbackOptions) error {
	if opts.Backup == "" {
		return usageErrorf("--backup DIR is required")
	}
	if err := opts.Target.check(); err != nil {
		return err
	}
	t, release, err := opts.Target.open(ctx)
	if err != nil {
		return targetError(err)
	}
	defer release()
	rep, rerr := migrator.Rollback(ctx, opts.Backup, t)
	if opts.JSON {
		if err := writeIndentedJSON(opts.IO.Out, rep); err != nil {
			return err
		}
	} else if err := printChanges(opts.IO.Out, opts.IO.Layout(), rep.Changes); err != nil {
		return err
	}
	if rerr != nil {
		return targetError(rerr)
	}
	if !opts.JSON {
		fmt.Fprintf(opts.IO.Out, "rolled back %s: %d changes\n", opts.Backup, len(rep.Changes))
	}
	return nil
}
