package migrator

import (
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fastAgrees checks the fast path against the full decoder: when it
// answers, the decoder accepts the input and gives the same document and
// the same key lines.
func fastAgrees(t *testing.T, name string, data []byte) bool {
	t.Helper()
	doc, lines, ok := fastTOML(data)
	if !ok {
		return false
	}
	var want map[string]any
	_, err := toml.Decode(string(data), &want)
	if !assert.NoError(t, err, "%s: fast path accepted what the decoder rejects:\n%s", name, data) {
		return true
	}
	assert.Equal(t, want, doc, "%s:\n%s", name, data)
	assert.Equal(t, tomlLines(data), lines, "%s:\n%s", name, data)
	return true
}

func tomlCorpus(t *testing.T) map[string][]byte {
	t.Helper()
	corpus := map[string][]byte{}
	require.NoError(t, filepath.WalkDir("testdata", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".toml") {
			return err
		}
		b, err := os.ReadFile(p)
		corpus[p] = b
		return err
	}))
	corpus["edge"] = []byte("# top\nx = +5 # c\n[ a . b ]\nk = 'lit \"q\"'\nl = [ \"a\", 'b', ]\n[a]\nm = -0\nt = true\nf = false\ne = []\n")
	return corpus
}

func TestFastTOMLAgreesWithDecoder(t *testing.T) {
	corpus := tomlCorpus(t)
	answered := 0
	for name, data := range corpus {
		if fastAgrees(t, name, data) {
			answered++
		}
	}
	assert.Greater(t, answered, len(corpus)/2, "the fast path handles the usual files")
	// Every fleet file takes the fast path.
	for name, data := range corpus {
		if strings.Contains(name, "fleet") {
			_, _, ok := fastTOML(data)
			assert.True(t, ok, name)
		}
	}
}

// Random edits of the corpus: whenever the fast path answers, it must
// answer exactly like the decoder.
func TestFastTOMLMutations(t *testing.T) {
	corpus := tomlCorpus(t)
	var seeds [][]byte
	for _, d := range corpus {
		seeds = append(seeds, d)
	}
	alphabet := []byte("\"'[]=.#,\\ \t\n\r{}0123456789-+_abcntux\x00\x7f\x01")
	rng := rand.New(rand.NewSource(1))
	n := 3000
	if testing.Short() {
		n = 1000
	}
	for i := 0; i < n; i++ {
		b := append([]byte(nil), seeds[rng.Intn(len(seeds))]...)
		for k := rng.Intn(4) + 1; k > 0 && len(b) > 0; k-- {
			p := rng.Intn(len(b))
			switch rng.Intn(3) {
			case 0:
				b[p] = alphabet[rng.Intn(len(alphabet))]
			case 1:
				b = append(b[:p], b[p+1:]...)
			default:
				b = append(b[:p], append([]byte{alphabet[rng.Intn(len(alphabet))]}, b[p:]...)...)
			}
		}
		fastAgrees(t, "mutation", b)
	}
}

func FuzzFastTOML(f *testing.F) {
	f.Add([]byte("[service]\nname = \"a\"\nexec = \"b\"\n"))
	f.Add([]byte("[service.env]\nA = 'x'\n[service]\nafter = [\"a\", \"b\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fastAgrees(t, "fuzz", data) })
}
