package reports

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/zchaos/zchaos/scenarios"
)

// Formats lists the names Render accepts.
func Formats() []string {
	return []string{"table", "markdown", "markdown-details", "junit", "json", "html"}
}

// ErrUnknownFormat is wrapped by Render for a format it does not know.
var ErrUnknownFormat = errors.New("unknown report format")

// Render writes r in format (one of Formats); the table is rendered with
// the reason column.
func Render(w io.Writer, r scenarios.Result, format string) error {
	switch format {
	case "table":
		return Table(w, r, TableOptions{Wide: true})
	case "markdown", "md":
		return Markdown(w, r)
	case "markdown-details", "md-details", "details":
		return MarkdownDetails(w, r)
	case "junit", "xml":
		return JUnit(w, r)
	case "json":
		return JSON(w, r)
	case "html":
		return HTML(w, r)
	}
	return fmt.Errorf("%w %q: want %s", ErrUnknownFormat, format, strings.Join(Formats(), ", "))
}
