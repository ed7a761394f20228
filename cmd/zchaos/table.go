package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/zchaos/zchaos/reports"
)

// printTable writes rows under header: a tablewriter table on a terminal,
// plain tab-aligned text otherwise (stable for scripts and golden files).
func printTable(w io.Writer, tty bool, header []string, rows [][]string) error {
	if !tty {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, r := range append([][]string{header}, rows...) {
			for i, c := range r {
				if i > 0 {
					fmt.Fprint(tw, "\t")
				}
				fmt.Fprint(tw, c)
			}
			fmt.Fprintln(tw)
		}
		return tw.Flush()
	}
	return reports.Grid(w, header, rows)
}
