package migrator_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/zinit"
)

// generatedFleet is n legacy services in the fleet's shapes: socket
// servers with an echo health file, UI services with a port and a curl
// health file, build services with make health-check, every tenth a
// oneshot; each service after the previous tenth one.
func generatedFleet(n int) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("hero_gen_%05d", i)
		exec := fmt.Sprintf("/usr/local/bin/herosim serve --name %s --socket /root/hero/var/sockets/%s.sock", name, name)
		oneshot := i%10 == 9
		if oneshot {
			exec = "/usr/local/bin/herosim oneshot --name " + name
		} else if i%3 == 1 {
			exec += fmt.Sprintf(" --http-port %d", 10000+i)
		}
		after := ""
		if i >= 10 && i%10 != 0 {
			after = fmt.Sprintf("\n[dependencies]\nafter = [\"user.hero_gen_%05d\"]\n", i-i%10)
		}
		fsys[name+".toml"] = &fstest.MapFile{Data: []byte(fmt.Sprintf(
			"[service]\nname = \"user.%s\"\nexec = %q\noneshot = %t\n\n[service.env]\nRUST_LOG = \"info\"\n%s", name, exec, oneshot, after))}
		probe := `echo \"No health check configured\"`
		switch i % 3 {
		case 1:
			probe = fmt.Sprintf("curl -sf http://127.0.0.1:%d/health", 10000+i)
		case 2:
			probe = "make health-check || true"
		}
		fsys[name+"_health.toml"] = &fstest.MapFile{Data: []byte(fmt.Sprintf(
			"[service]\nname = \"user.%s_health\"\nexec = \"%s\"\noneshot = true\n\n[dependencies]\nafter = [\"user.%s\"]\n", name, probe, name))}
	}
	return fsys
}

// BenchmarkPlanRender10k: load, plan and render 10,000 generated services
// (20,000 files). Target: ≤ 1 s and ≤ 200 MiB per run.
func BenchmarkPlanRender10k(b *testing.B) {
	fsys := generatedFleet(10000)
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	var totalAlloc, peakLive uint64
	for i := 0; i < b.N; i++ {
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		inv, err := migrator.Load(fsys, "gen")
		if err != nil {
			b.Fatal(err)
		}
		p, err := migrator.BuildPlan(inv, migrator.DefaultPolicy())
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Services) != 10000 {
			b.Fatalf("planned %d services", len(p.Services))
		}
		if err := migrator.WriteScript(io.Discard, p); err != nil {
			b.Fatal(err)
		}
		runtime.ReadMemStats(&ms1)
		totalAlloc += ms1.TotalAlloc - ms0.TotalAlloc
		if live := ms1.HeapAlloc; live > peakLive {
			peakLive = live
		}
		runtime.KeepAlive(p)
	}
	b.ReportMetric(float64(totalAlloc)/float64(b.N)/(1<<20), "alloc-MiB/op")
	b.ReportMetric(float64(peakLive)/(1<<20), "live-heap-MiB")
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/op")
}

// BenchmarkApplyFleet: apply the 29-service fixture over the socket to the
// in-process reference daemon (the legacy fleet running). Each iteration
// starts from the legacy state (a rollback, not timed). Target: ≤ 1 s.
func BenchmarkApplyFleet(b *testing.B) {
	cfg, _ := fleetConfigDir(b)
	tg := startDaemon(b, cfg)
	inv, err := migrator.LoadDir(cfg)
	require.NoError(b, err)
	plan, err := migrator.BuildPlan(inv, migrator.DefaultPolicy())
	require.NoError(b, err)
	ctx := context.Background()
	root := filepath.Join(b.TempDir(), "backups")
	var changes int
	var applied time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now := time.Unix(int64(i), 0)
		t0 := time.Now()
		rep, err := migrator.Apply(ctx, plan, tg, migrator.ApplyOptions{ConfigDir: cfg, BackupRoot: root, Now: func() time.Time { return now }})
		applied += time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		changes += len(rep.Changes)
		b.StopTimer()
		if _, err := migrator.Rollback(ctx, rep.Backup, tg, migrator.RollbackOptions{}); err != nil {
			b.Fatal(err)
		}
		waitLegacy(b, tg, len(plan.Files))
		b.StartTimer()
	}
	b.ReportMetric(applied.Seconds()/float64(b.N), "apply-s/op")
	b.ReportMetric(float64(changes)/float64(b.N), "changes/op")
}

// waitLegacy waits until the reload has brought back n legacy units.
func waitLegacy(b *testing.B, tg migrator.Target, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	legacy := 0
	err := zinit.PollUntil(ctx, clock.RealClock{}, 5*time.Millisecond, func(ctx context.Context) (bool, error) {
		st, err := tg.List(ctx)
		if err != nil {
			return false, err
		}
		legacy = 0
		for _, s := range st {
			if s.Legacy {
				legacy++
			}
		}
		return legacy == n && len(st) == n, nil
	})
	if err != nil {
		b.Fatalf("legacy fleet not back: %d of %d: %v", legacy, n, err)
	}
}
