package scenarios_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/scenarios"
)

// exampleRE finds the worked examples of docs/scenarios.md: a marker
// naming the file, then the fenced YAML block that must be it.
var exampleRE = regexp.MustCompile("(?s)<!-- example: ([^ ]+) -->\n```yaml\n(.*?)```\n")

// The worked example in docs/scenarios.md is the example file, word for
// word, and both the decoder and the JSON Schema accept it.
func TestDocsScenarioExampleValidates(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "scenarios.md"))
	require.NoError(t, err)
	found := exampleRE.FindAllSubmatch(doc, -1)
	require.NotEmpty(t, found, "docs/scenarios.md has a worked example")
	sch := compiledSchema(t)
	for _, m := range found {
		file := filepath.Join("..", "docs", string(m[1]))
		src, err := os.ReadFile(file)
		require.NoError(t, err)
		assert.Equal(t, string(src), string(m[2]), "the block in docs/scenarios.md is %s", file)
		s, err := scenarios.Parse(file, src)
		require.NoError(t, err)
		assert.NotEmpty(t, s.Faults)
		assert.NoError(t, sch.Validate(yamlInstance(t, string(src))), file)
	}
}
