package reports_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/reports"
)

func chromiumBinary() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// chromium renders page in headless Chromium at the given window size and
// returns the screenshot and the page's console messages (a page without
// script logs only errors: an SVG attribute the browser cannot draw, a
// resource it cannot load). It skips, loudly, when Chromium is missing
// outside CI.
func chromium(t *testing.T, page []byte, width, height int) (shot []byte, console []string) {
	t.Helper()
	if testing.Short() {
		t.Skip("slow: renders the report in chromium")
	}
	bin := chromiumBinary()
	if bin == "" && os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed under CI, so the HTML report cannot be checked in a browser " +
			"(.ci/run installs it: apt-get install -y chromium)")
	}
	if bin == "" {
		t.Skip("SKIPPED LOUDLY: chromium is not installed, so the HTML report was NOT checked in a browser " +
			"(apt-get install -y chromium; .ci/run installs it)")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	png := filepath.Join(dir, "out.png")
	require.NoError(t, os.WriteFile(file, page, 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--no-first-run", "--disable-extensions", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--enable-logging=stderr", "--v=0",
		"--screenshot="+png, fmt.Sprintf("--window-size=%d,%d", width, height), "file://"+file)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "chromium: %s", out)
	for _, line := range strings.Split(string(out), "\n") {
		// [pid:tid:date:INFO:CONSOLE:12] "Error: <rect> attribute width: …", source: file:///…/report.html (12)
		if strings.Contains(line, ":CONSOLE") && strings.Contains(line, "file://"+file) {
			console = append(console, line)
		}
	}
	shot, err = os.ReadFile(png)
	require.NoError(t, err, "no screenshot written; chromium said: %s", out)
	return shot, console
}

// colours samples every other pixel of a screenshot of the given size.
func colours(t *testing.T, shot []byte, width, height int) map[[3]uint8]int {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, width, height), img.Bounds())
	out := map[[3]uint8]int{}
	for y := 0; y < height; y += 2 {
		for x := 0; x < width; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			out[[3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}]++
		}
	}
	return out
}

// TestHTMLScreenshotChromium opens the report in headless Chromium and
// checks it renders without a console error and that the screenshot is a
// real picture holding the timeline colours. Set
// ZCHAOS_KEEP_SCREENSHOT=path.png to keep the image for a look.
func TestHTMLScreenshotChromium(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, reports.HTML(&b, sampleResult()))
	data, console := chromium(t, b.Bytes(), 1200, 2000)
	assert.Empty(t, console, "the page logs no console error")
	if keep := os.Getenv("ZCHAOS_KEEP_SCREENSHOT"); keep != "" {
		require.NoError(t, os.WriteFile(keep, data, 0o644))
	}
	assert.Greater(t, len(data), 30_000, "a screenshot of tables and timelines is not a few bytes")
	seen := colours(t, data, 1200, 2000)
	assert.Greater(t, len(seen), 50, "the screenshot is (nearly) a single colour")
	// The timelines drew: incarnation bars, passing probes/checks, failures.
	for name, want := range map[string][3]uint8{
		"incarnation blue": {0x54, 0xae, 0xff},
		"ok green":         {0x2d, 0xa4, 0x4e},
		"failure red":      {0xcf, 0x22, 0x2e},
	} {
		assert.Greater(t, near(seen, want), 40, "too few %s pixels: the timelines did not render", name)
	}
}

// TestHTMLDefaultGatePageChromium renders a page of the default gate's
// size class (29 services, 25 results, the fleet monkey's 29 lanes) in
// Chromium: no console error, and every lane of the fleet picture drawn.
// Set ZCHAOS_KEEP_GATE_SCREENSHOT=path.png to keep the image.
func TestHTMLDefaultGatePageChromium(t *testing.T) {
	r := compacted(gateSizedResult())
	var b bytes.Buffer
	require.NoError(t, reports.HTML(&b, r))
	require.LessOrEqual(t, b.Len(), 1<<20)
	const width, height = 1200, 9000
	data, console := chromium(t, b.Bytes(), width, height)
	assert.Empty(t, console, "the page logs no console error")
	if keep := os.Getenv("ZCHAOS_KEEP_GATE_SCREENSHOT"); keep != "" {
		require.NoError(t, os.WriteFile(keep, data, 0o644))
	}
	seen := colours(t, data, width, height)
	assert.Greater(t, near(seen, [3]uint8{0x54, 0xae, 0xff}), 5000, "incarnation bars of the fleet's lanes")
	assert.Greater(t, near(seen, [3]uint8{0xcf, 0x22, 0x2e}), 100, "faults and failures")
}

// near counts sampled pixels within a small distance of want.
func near(colours map[[3]uint8]int, want [3]uint8) int {
	n := 0
	for c, count := range colours {
		d := 0
		for i := 0; i < 3; i++ {
			x := int(c[i]) - int(want[i])
			if x < 0 {
				x = -x
			}
			d += x
		}
		if d <= 12 {
			n += count
		}
	}
	return n
}
