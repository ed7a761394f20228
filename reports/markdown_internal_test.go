package reports

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

// A note still too long with the tight caps is cut at a line, under the
// budget, and says where the rest is; a note that fits is left alone.
func TestCutNote(t *testing.T) {
	short := []byte("# note\n\nfits\n")
	assert.Equal(t, short, cutNote(short))

	var b bytes.Buffer
	for b.Len() < 3*MaxNoteChars {
		b.WriteString("| ü | " + strings.Repeat("é", 90) + " |\n")
	}
	cut := cutNote(b.Bytes())
	assert.LessOrEqual(t, utf8.RuneCount(cut), noteBudget)
	assert.True(t, utf8.Valid(cut))
	body, tail, ok := bytes.Cut(cut, []byte("\n\n… (cut here"))
	assert.True(t, ok, "says it was cut")
	assert.Contains(t, string(tail), DetailsFile)
	assert.True(t, bytes.HasPrefix(b.Bytes(), body) && bytes.HasSuffix(body, []byte(" |")), "cut after a whole line")
}
