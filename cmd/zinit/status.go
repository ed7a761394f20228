package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/zinit"
)

type listOptions struct {
	client clientOptions
	json   bool
}

func newListCmd(f *Factory) *cobra.Command {
	opts := &listOptions{}
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List every service with its state",
		Args:  argsNamed(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.client = clientFlags(cmd)
			return runList(cmd.Context(), f.IO.Out, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print a JSON array of service status objects")
	return cmd
}

func runList(ctx context.Context, out io.Writer, opts *listOptions) error {
	return withClient(ctx, opts.client, func(ctx context.Context, c *zinit.Client) error {
		list, err := c.List(ctx)
		if err != nil {
			return err
		}
		if opts.json {
			if list == nil {
				list = []zinit.ServiceStatus{}
			}
			return writeJSON(out, list)
		}
		return writeTable(out, list)
	})
}

type statusOptions struct {
	client clientOptions
	name   string // "": the daemon's own status
	json   bool
}

func newStatusCmd(f *Factory) *cobra.Command {
	opts := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status [<service>] [--json]",
		Short: "Show a service's state and jobs, or the daemon's own state",
		Long: `Show a service's state and jobs. Without a service, show the daemon's own
state: whether it is degraded (persistence read-only after a state file it
could not restore in full), what it restored and what not, and the config
files it skipped.`,
		Args: argsUpTo("service"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.client = clientFlags(cmd)
			if len(args) == 1 {
				opts.name = args[0]
			}
			return runStatus(cmd.Context(), f.IO.Out, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the status object as JSON")
	return cmd
}

func runStatus(ctx context.Context, out io.Writer, opts *statusOptions) error {
	return withClient(ctx, opts.client, func(ctx context.Context, c *zinit.Client) error {
		if opts.name == "" {
			st, err := c.SystemStatus(ctx)
			if err != nil {
				return err
			}
			if opts.json {
				return writeJSON(out, st)
			}
			return writeSystemStatus(out, st)
		}
		st, err := c.Status(ctx, opts.name)
		if err != nil {
			return err
		}
		if opts.json {
			return writeJSON(out, st)
		}
		return writeStatus(out, st)
	})
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeTable prints one row per service: name, state, pid, restarts,
// reason ("-" for an absent value), sorted by name.
func writeTable(out io.Writer, list []zinit.ServiceStatus) error {
	rows := append([]zinit.ServiceStatus(nil), list...)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tPID\tRESTARTS\tREASON")
	for _, s := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", printable(s.Name), s.State, intOr(s.PID), s.Restarts, strOr(s.Reason))
	}
	return tw.Flush()
}

// writeStatus prints a service as an aligned block, its jobs indented.
// Times are UTC.
func writeStatus(out io.Writer, s zinit.ServiceStatus) error {
	tw := tabwriter.NewWriter(out, 0, 0, 1, ' ', 0)
	line := func(indent, key, val string) { fmt.Fprintf(tw, "%s%s:\t%s\n", indent, key, val) }
	line("", "name", printable(s.Name))
	line("", "state", s.State.String())
	line("", "pid", intOr(s.PID))
	line("", "restarts", strconv.Itoa(s.Restarts))
	line("", "reason", strOr(s.Reason))
	line("", "last exit", exitText(s.LastExit))
	line("", "started at", msTime(s.StartedAtMs))
	line("", "legacy", yesNo(s.Legacy))
	line("", "persist", yesNo(s.Persist))
	after := "-"
	if len(s.After) > 0 {
		after = strings.Join(s.After, ", ")
	}
	line("", "after", after)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.Jobs) == 0 {
		_, err := fmt.Fprintln(out, "jobs: none")
		return err
	}
	fmt.Fprintln(out, "jobs:")
	tw = tabwriter.NewWriter(out, 0, 0, 1, ' ', 0)
	for _, j := range s.Jobs {
		fmt.Fprintf(tw, "  %s (%s)\n", printable(j.Name), j.Trigger)
		const in = "    "
		line(in, "exec", printable(j.Exec))
		if j.Restart != nil {
			line(in, "restart", j.Restart.String())
		}
		if j.RestartDelayMs != nil {
			line(in, "restart delay", fmt.Sprintf("%d ms", *j.RestartDelayMs))
		}
		if j.MaxRestarts != nil {
			mr := strconv.Itoa(*j.MaxRestarts)
			if *j.MaxRestarts == 0 {
				mr = "unlimited"
			}
			line(in, "max restarts", mr)
		}
		if j.IntervalMs != nil {
			line(in, "interval", fmt.Sprintf("%d ms", *j.IntervalMs))
		}
		if j.TimeoutMs != nil {
			line(in, "timeout", fmt.Sprintf("%d ms", *j.TimeoutMs))
		}
		if len(j.Env) > 0 {
			line(in, "env", printable(strings.Join(zinit.Job{Env: j.Env}.EnvList(), " ")))
		}
		line(in, "persist", yesNo(j.Persist))
		line(in, "pid", intOr(j.PID))
		line(in, "restarts", strconv.Itoa(j.Restarts))
		if j.Trigger == zinit.TriggerCheck {
			line(in, "last check", checkText(j.LastCheck))
		}
	}
	return tw.Flush()
}

func exitText(e *zinit.ExitStatus) string {
	if e == nil {
		return "-"
	}
	how := "unknown"
	switch {
	case e.Signal != nil:
		how = "signal " + *e.Signal
	case e.Code != nil:
		how = "code " + strconv.Itoa(*e.Code)
	}
	return how + " at " + msTime(&e.AtMs)
}

func checkText(c *zinit.CheckResult) string {
	if c == nil {
		return "-"
	}
	res := "ok"
	if !c.OK {
		res = "failed"
		if c.Error != nil {
			res += " (" + printable(*c.Error) + ")"
		}
	}
	return fmt.Sprintf("%s at %s in %d ms", res, msTime(&c.AtMs), c.DurationMs)
}

// writeSystemStatus prints the daemon's own state as an aligned block, then
// what was not restored and the config files skipped, one per line.
func writeSystemStatus(out io.Writer, st zinit.SystemStatus) error {
	tw := tabwriter.NewWriter(out, 0, 0, 1, ' ', 0)
	line := func(key, val string) { fmt.Fprintf(tw, "%s:\t%s\n", key, val) }
	line("version", printable(st.Version))
	line("pid", strconv.Itoa(st.PID))
	state := "ok"
	if st.Degraded {
		state = "degraded"
	}
	line("state", state)
	for _, p := range st.Problems {
		line("problem", printable(p))
	}
	p := st.Persistence
	line("persistence", p.Mode)
	if p.File != "" {
		line("state file", printable(p.File))
	}
	if p.MovedTo != "" {
		line("moved aside to", printable(p.MovedTo))
	}
	if len(p.Restored) > 0 || len(p.NotRestored) > 0 {
		restored := "-"
		if len(p.Restored) > 0 {
			restored = printable(strings.Join(p.Restored, " "))
		}
		line("restored", restored)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(p.NotRestored) > 0 {
		fmt.Fprintln(out, "not restored:")
		for _, pr := range p.NotRestored {
			fmt.Fprintf(out, "  %s: %s\n", printable(pr.Entry), printable(pr.Reason))
		}
	}
	if len(st.ConfigSkipped) > 0 {
		fmt.Fprintln(out, "config files skipped:")
		for _, sk := range st.ConfigSkipped {
			fmt.Fprintf(out, "  %s\n", printable(sk.String()))
		}
	}
	return nil
}

func msTime(ms *int64) string {
	if ms == nil {
		return "-"
	}
	return time.UnixMilli(*ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

func intOr(p *int) string {
	if p == nil {
		return "-"
	}
	return strconv.Itoa(*p)
}

func strOr(p *string) string {
	if p == nil || *p == "" {
		return "-"
	}
	return printable(*p)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// printable keeps a value on one line: one holding control characters
// (newlines, tabs that would break the columns) is shown Go-quoted.
func printable(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return strconv.Quote(s)
	}
	return s
}
