package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The rollback commands the rollout note prints are spelled as this CLI
// spells them: each, with its placeholders filled, is accepted by
// `zchaos migrate rollback` (asked for its help, so nothing runs).
func TestRolloutNoteRollbackCommandsParse(t *testing.T) {
	note := runZchaosCLI(t, false, "", "report", reportResult, "--format", "markdown")
	require.Equal(t, exitPass, note.code, note.err)
	cmds := regexp.MustCompile(`(?m)^zchaos (migrate rollback [^#\n]*?)\s*(#.*)?$`).FindAllStringSubmatch(note.out, -1)
	require.Len(t, cmds, 2, "a container and a host form")
	for _, c := range cmds {
		line := strings.NewReplacer("<TIMESTAMP>", "20260313T124022.000000000Z", "<NAME>", "hero").Replace(c[1])
		args := append(strings.Fields(line), "--help")
		r := runZchaosCLI(t, false, "", args...)
		assert.Equal(t, exitPass, r.code, "zchaos %s: %s", line, r.err)
		assert.Contains(t, r.out, "Undo an apply", line)
	}
	// A flag the command does not have is refused the same way, so the
	// check above can fail.
	bad := runZchaosCLI(t, false, "", "migrate", "rollback", "--backup", "/b", "--host", "x", "--help")
	assert.Equal(t, exitUsage, bad.code)
}

// The details the note links render from the same result.
func TestReportMarkdownDetails(t *testing.T) {
	r := runZchaosCLI(t, false, "", "report", reportResult, "--format", "markdown-details")
	require.Equal(t, exitPass, r.code, r.err)
	assert.True(t, strings.HasPrefix(r.out, "# zchaos rollout report: details\n"))
	assert.Contains(t, r.out, "## Migration fidelity ledger")
}
