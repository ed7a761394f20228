package reports_test

import (
	"io"
	"testing"
	"time"

	"github.com/zchaos/zchaos/reports"
)

// BenchmarkRenderAll10k renders every format for a result of 10,000
// scenario results (target: at most 2 s for all formats together). It
// reports the time of each format and the total, in seconds.
func BenchmarkRenderAll10k(b *testing.B) {
	r := bigResult(10_000)
	per := map[string]time.Duration{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, format := range reports.Formats() {
			start := time.Now()
			if err := reports.Render(io.Discard, r, format); err != nil {
				b.Fatal(err)
			}
			per[format] += time.Since(start)
		}
	}
	b.StopTimer()
	var total time.Duration
	for _, format := range reports.Formats() {
		d := per[format] / time.Duration(b.N)
		total += d
		b.ReportMetric(d.Seconds(), format+"_s")
	}
	b.ReportMetric(total.Seconds(), "total_s")
}
