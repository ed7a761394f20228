package reports_test

import (
	"io"
	"testing"

	"github.com/zchaos/zchaos/reports"
)

func BenchmarkZZHTML10k(b *testing.B) {
	r := bigResult(10_000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := reports.HTML(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
