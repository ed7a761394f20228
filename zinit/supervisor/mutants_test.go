package supervisor

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMutantsListedAndPlaced: every defect of Mutants sits behind a
// mutant("name") switch in the engine's source, and every switch names a
// listed defect, so the list the gate's self-test reads is the truth.
func TestMutantsListedAndPlaced(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	call := regexp.MustCompile(`mutant\("([a-z0-9-]+)"\)`)
	placed := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range call.FindAllStringSubmatch(string(src), -1) {
			placed[m[1]] = true
		}
	}
	listed := map[string]bool{}
	for _, m := range Mutants {
		assert.False(t, listed[m.Name], "%s listed twice", m.Name)
		listed[m.Name] = true
		assert.True(t, placed[m.Name], "%s is listed but no mutant(%q) switch exists", m.Name, m.Name)
		assert.NotEmpty(t, m.Rule, m.Name)
		assert.NotEmpty(t, m.Defect, m.Name)
	}
	for name := range placed {
		assert.True(t, listed[name], "mutant(%q) is not listed in Mutants", name)
	}
}
