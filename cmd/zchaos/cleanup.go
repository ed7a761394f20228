package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/chaos/runtime"
)

type cleanupOptions struct {
	RunID    string
	JSON     bool
	LocalDir string
	Images   bool
}

func newCleanupCmd(f *Factory) *cobra.Command {
	var opts cleanupOptions
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove containers and processes left behind by runs",
		Long: `Remove every container labelled by zchaos (only those of one run with
--run), running or not, and the process trees recorded by the local runtime,
and say what was removed. Runs purge their own containers on exit and on
SIGINT, and a killed run's containers stop themselves (their dead-man
switch); this is the manual sweep for whatever is left.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := out.value()
			if err != nil {
				return err
			}
			opts.JSON = format == "json"
			return runCleanup(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().StringVar(&opts.RunID, "run", "", "only this run's leftovers")
	out = addOutputFlag(cmd, true, "text", "text", "json")
	cmd.Flags().BoolVar(&opts.Images, "images", false, "also remove reference images (zchaos/hero:*) no container uses; the base is kept")
	cmd.Flags().StringVar(&opts.LocalDir, "local-dir", runtime.DefaultLocalDir(), "state directory of the local runtime")
	return cmd
}

// cleanupResult is the output of cleanup.
type cleanupResult struct {
	Docker       []string `json:"docker"`
	Local        []string `json:"local"`
	Images       []string `json:"images,omitempty"`
	DockerSkip   string   `json:"docker_skipped,omitempty"` // why the engine was not asked
	RunID        string   `json:"run,omitempty"`
	RemovedTotal int      `json:"removed"`
}

func runCleanup(ctx context.Context, f *Factory, opts cleanupOptions) error {
	res := cleanupResult{Docker: []string{}, Local: []string{}, RunID: opts.RunID}
	var errs []error
	rt, err := runtime.NewDockerRuntime(ctx)
	switch {
	case errors.Is(err, runtime.ErrNoEngine):
		res.DockerSkip = err.Error()
	case err != nil:
		errs = append(errs, err)
	default:
		names, err := rt.Cleanup(ctx, opts.RunID)
		res.Docker = append(res.Docker, names...)
		errs = append(errs, err)
		if opts.Images {
			imgs, err := runtime.PruneImages(ctx, rt.Client())
			res.Images = imgs
			errs = append(errs, err)
		}
	}
	if st, err := os.Stat(opts.LocalDir); err == nil && st.IsDir() {
		lrt, err := runtime.NewLocalRuntime(opts.LocalDir)
		if err != nil {
			errs = append(errs, err)
		} else {
			names, err := lrt.Cleanup(ctx, opts.RunID)
			res.Local = append(res.Local, names...)
			errs = append(errs, err)
		}
	}
	res.RemovedTotal = len(res.Docker) + len(res.Local) + len(res.Images)
	if opts.JSON {
		enc := json.NewEncoder(f.IO.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		if res.DockerSkip != "" {
			fmt.Fprintf(f.IO.ErrOut, "docker: skipped: %s\n", res.DockerSkip)
		}
		scope := "zchaos"
		if opts.RunID != "" {
			scope = "run " + opts.RunID
		}
		if res.RemovedTotal == 0 {
			fmt.Fprintf(f.IO.Out, "nothing to remove (%s)\n", scope)
		}
		if len(res.Docker) > 0 {
			fmt.Fprintf(f.IO.Out, "removed %d container(s) of %s: %s\n", len(res.Docker), scope, strings.Join(res.Docker, ", "))
		}
		if len(res.Images) > 0 {
			fmt.Fprintf(f.IO.Out, "removed %d image(s): %s\n", len(res.Images), strings.Join(res.Images, ", "))
		}
		if len(res.Local) > 0 {
			fmt.Fprintf(f.IO.Out, "removed %d local process tree(s) of %s: %s\n", len(res.Local), scope, strings.Join(res.Local, ", "))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return &exitError{code: exitInfra, err: err}
	}
	return nil
}
