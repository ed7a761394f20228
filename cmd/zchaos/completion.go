package main

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zchaos/zchaos/reports"
	"github.com/zchaos/zchaos/scenarios"
)

// addCompletions teaches shell completion (zchaos completion bash|zsh|fish)
// the values the catalogue and the renderers know: scenario names for
// run's arguments and scenarios show, tags for --tag, and the closed sets
// of format flags. It finds commands by path and flags by name, so a
// command or flag that is absent is simply skipped.
func addCompletions(root *cobra.Command) {
	find := func(path ...string) *cobra.Command {
		c, _, err := root.Find(path)
		if err != nil || c == root {
			return nil
		}
		return c
	}
	if c := find("run"); c != nil {
		// Scenario names, or a YAML file of one's own.
		c.ValidArgsFunction = func(_ *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			return scenarioNames(args, prefix), cobra.ShellCompDirectiveDefault
		}
	}
	if c := find("scenarios", "show"); c != nil {
		c.ValidArgsFunction = func(_ *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return scenarioNames(nil, prefix), cobra.ShellCompDirectiveNoFileComp
		}
	}
	for _, path := range [][]string{{"gate"}, {"scenarios", "list"}} {
		if c := find(path...); c != nil {
			fixed(c, "tag", catalogueTags())
		}
	}
	if c := find("report"); c != nil {
		fixed(c, "format", reports.Formats())
		// -o is the output format where it names one (kubectl's habit); a
		// file name flag keeps file completion.
		if fl := c.Flags().Lookup("output"); fl != nil && !strings.Contains(fl.Usage, "file") {
			fixed(c, "output", reports.Formats())
		}
	}
	if c := find("migrate", "render"); c != nil {
		fixed(c, "format", []string{"script", "json"})
	}
	for _, path := range [][]string{{"run"}, {"gate"}} {
		if c := find(path...); c != nil {
			fixed(c, "runtime", []string{runtimeDocker, runtimeLocal})
			fixed(c, "time-scale", []string{"auto", "0.05", "0.1", "0.25", "0.5", "1"})
		}
	}
}

// fixed completes flag name of c with values, and no file names.
func fixed(c *cobra.Command, name string, values []string) {
	if c.Flags().Lookup(name) == nil {
		return
	}
	_ = c.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}

// scenarioNames are the catalogue's names with their description (shells
// that show one do), starting with prefix, except those already given.
func scenarioNames(given []string, prefix string) []string {
	list, err := scenarios.Catalogue()
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range list {
		if strings.HasPrefix(s.Name, prefix) && !slices.Contains(given, s.Name) {
			out = append(out, s.Name+"\t"+s.Description)
		}
	}
	return out
}

// catalogueTags are the tags the catalogue uses, sorted.
func catalogueTags() []string {
	list, err := scenarios.Catalogue()
	if err != nil {
		return nil
	}
	var tags []string
	for _, s := range list {
		for _, t := range s.Tags {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
	}
	slices.Sort(tags)
	return tags
}
