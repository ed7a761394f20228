package reports

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWrapLine(t *testing.T) {
	for _, c := range []struct {
		in    string
		width int
		want  []string
	}{
		{"255 ms ± 14", 20, []string{"255 ms ± 14"}},
		{"255 ms ± 14", 8, []string{"255 ms ±", "14"}},
		{"user.hero_embedder_server", 12, []string{"user.hero_", "embedder_", "server"}},
		{"restart-counter-reset", 10, []string{"restart-", "counter-", "reset"}},
		{"abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"a b", 1, []string{"a", "b"}},
		{"4.25 s ± 0.01", 11, []string{"4.25 s ±", "0.01"}},
		{"x 0.0001234", 8, []string{"x", "0.000123", "4"}},
		{"±±±", 1, []string{"±", "±", "±"}},
	} {
		assert.Equal(t, c.want, wrapLine(c.in, c.width), "%q at %d", c.in, c.width)
	}
}

func TestShareWidths(t *testing.T) {
	// Everything fits: natural widths.
	assert.Equal(t, []int{5, 10}, shareWidths([]int{5, 10}, []int{5, 4}, 20))
	// The longest words fit: names stay whole, the rest goes to the prose.
	assert.Equal(t, []int{8, 12}, shareWidths([]int{8, 40}, []int{8, 6}, 20))
	// Not even the words fit: the narrow column keeps its width, the wide ones share.
	assert.Equal(t, []int{3, 9, 8}, shareWidths([]int{3, 30, 30}, []int{3, 30, 30}, 20))
	// The words of the narrow columns stay whole; the widest name breaks.
	assert.Equal(t, []int{13, 19, 8, 7, 7, 7}, shareWidths([]int{13, 25, 8, 8, 13, 13}, []int{13, 25, 8, 7, 7, 7}, 61))
	// Never below one character.
	assert.Equal(t, []int{1, 1}, shareWidths([]int{30, 30}, []int{30, 30}, 0))
}
