package reports_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/reports"
	"github.com/zchaos/zchaos/scenarios"
)

// BenchmarkDiff10k is zchaos diff of two result files of 10,000 scenario
// results each (target: at most 1 s): both files read and decoded, the
// comparison made and its table rendered. The new run has a verdict flip
// and a slower recovery every 100 results.
func BenchmarkDiff10k(b *testing.B) {
	dir := b.TempDir()
	old := bigResult(10_000)
	new := bigResult(10_000)
	new.Scenarios = append([]scenarios.ScenarioResult(nil), new.Scenarios...)
	for i := 0; i < len(new.Scenarios); i += 100 {
		s := &new.Scenarios[i]
		if s.Verdict == scenarios.VerdictPass && !s.Baseline {
			s.Verdict, s.Reason = scenarios.VerdictFail, "slower than before"
		}
		if s.Recovery.Restart != nil {
			m := *s.Recovery.Restart
			m.Ms += 1000
			s.Recovery.Restart = &m
		}
	}
	new.Decide(0)
	paths := [2]string{filepath.Join(dir, "old.json"), filepath.Join(dir, "new.json")}
	for i, r := range []scenarios.Result{old, new} {
		fh, err := os.Create(paths[i])
		require.NoError(b, err)
		require.NoError(b, reports.JSON(fh, r))
		require.NoError(b, fh.Close())
	}
	st, err := os.Stat(paths[0])
	require.NoError(b, err)
	b.Logf("%.1f MB per file", float64(st.Size())/1e6)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var rs [2]scenarios.Result
		for j, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				b.Fatal(err)
			}
			if rs[j], err = reports.DecodeComparable(data); err != nil {
				b.Fatal(err)
			}
		}
		c := reports.Compare(rs[0], rs[1])
		if c.Regressions == 0 {
			b.Fatal("no regression found")
		}
		if err := reports.ComparisonTable(io.Discard, c, reports.TableOptions{Layout: reports.Layout{Width: 120}}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/diff")
}
