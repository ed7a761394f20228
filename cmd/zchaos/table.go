package main

import (
	"io"

	"github.com/zchaos/zchaos/reports"
)

// printTable writes rows under header in the layout of the output: a box
// table fitted to the terminal's width, or plain tab-separated lines when
// the output is not a terminal (stable for scripts and golden files).
func printTable(w io.Writer, l reports.Layout, header []string, rows [][]string) error {
	return l.Grid(w, header, rows)
}
