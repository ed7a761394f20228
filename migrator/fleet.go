package migrator

import (
	"embed"
	"io/fs"
)

//go:embed testdata/fleet
var fleetFiles embed.FS

// FleetSize is the number of services in the hero fleet fixture (each also
// has a health file, so the fixture holds 2×FleetSize files).
const FleetSize = 29

// FleetFS is the hero fleet fixture: a legacy zinit config directory as
// hero_services' installer writes it (29 services modelled on the seed, each
// running /usr/local/bin/herosim, and one legacy health file each: make
// health-check for services with a build section, a curl probe for UI
// services on an HTTP port, echo "No health check configured" for
// socket-only servers). Its root holds the *.toml files directly; the
// harness copies it into images as /etc/zinit. Load(FleetFS(), label)
// parses it. The returned FS is read-only and safe for concurrent use.
func FleetFS() fs.FS {
	sub, err := fs.Sub(fleetFiles, "testdata/fleet")
	if err != nil { // cannot happen: the path is a constant inside the embed
		panic("migrator: fleet fixture missing: " + err.Error())
	}
	return sub
}
