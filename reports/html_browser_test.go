package reports_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
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

// TestHTMLScreenshotChromium opens the report in headless Chromium and
// checks the screenshot is a real picture holding the timeline colours.
// Set ZCHAOS_KEEP_SCREENSHOT=path.png to keep the image for a look.
func TestHTMLScreenshotChromium(t *testing.T) {
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
	page := filepath.Join(dir, "report.html")
	shot := filepath.Join(dir, "out.png")
	var b bytes.Buffer
	require.NoError(t, reports.HTML(&b, sampleResult()))
	require.NoError(t, os.WriteFile(page, b.Bytes(), 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--no-first-run", "--disable-extensions", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--screenshot="+shot, "--window-size=1200,2000", "file://"+page)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "chromium: %s", out)

	data, err := os.ReadFile(shot)
	require.NoError(t, err, "no screenshot written; chromium said: %s", out)
	if keep := os.Getenv("ZCHAOS_KEEP_SCREENSHOT"); keep != "" {
		require.NoError(t, os.WriteFile(keep, data, 0o644))
	}
	assert.Greater(t, len(data), 30_000, "a screenshot of tables and timelines is not a few bytes")
	img, err := png.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, image.Rect(0, 0, 1200, 2000), img.Bounds())

	colours := map[[3]uint8]int{}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 2 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[[3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}]++
		}
	}
	assert.Greater(t, len(colours), 50, "the screenshot is (nearly) a single colour")
	// The timelines drew: incarnation bars, passing probes/checks, failures.
	for name, want := range map[string][3]uint8{
		"incarnation blue": {0x54, 0xae, 0xff},
		"ok green":         {0x2d, 0xa4, 0x4e},
		"failure red":      {0xcf, 0x22, 0x2e},
	} {
		assert.Greater(t, near(colours, want), 40, "too few %s pixels: the timelines did not render", name)
	}
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
