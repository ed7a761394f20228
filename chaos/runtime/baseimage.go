package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ory/dockertest/v3/docker"
)

// BaseImageError says an image given as the base of the hero layer
// (ImageOptions.BaseImage, zchaos image build --base) cannot serve: it is
// not in the engine, or it lacks what the harness needs. It is the user's
// input, never the infrastructure's.
type BaseImageError struct {
	Image string
	Err   error
}

func (e *BaseImageError) Error() string { return fmt.Sprintf("--base %s: %v", e.Image, e.Err) }
func (e *BaseImageError) Unwrap() error { return e.Err }

// baseNeeds is the script that checks a base image in a throwaway
// container: a Debian system (the hero layer's layout and the probes'
// clients assume one) with socat and curl (the probes) and ps (procps:
// forensics). It prints what is missing, on one line.
const baseNeeds = `m=""; test -r /etc/debian_version || m="$m /etc/debian_version (not Debian-based)"; ` +
	`for c in socat curl ps; do command -v "$c" >/dev/null 2>&1 || m="$m $c"; done; ` +
	`if [ -n "$m" ]; then echo "missing:$m"; exit 3; fi`

// InspectBaseImage says, before anything is built, whether ref can be
// found in the engine (cl nil: NewDockerClient): nil, a *BaseImageError,
// or the engine's error.
func InspectBaseImage(ctx context.Context, cl *docker.Client, ref string) error {
	cl, err := clientOrDefault(ctx, cl)
	if err != nil {
		return err
	}
	_, err = inspectBase(cl, ref)
	return err
}

// inspectBase finds the base image in the engine (nothing is pulled: there
// is no registry) and returns its ID.
func inspectBase(cl *docker.Client, ref string) (string, error) {
	img, err := cl.InspectImage(ref)
	if errors.Is(err, docker.ErrNoSuchImage) {
		return "", &BaseImageError{Image: ref, Err: errors.New("no such image in the engine (nothing is pulled: docker pull or docker load it first)")}
	}
	if err != nil {
		return "", &BaseImageError{Image: ref, Err: err}
	}
	return img.ID, nil
}

// checkBase runs baseNeeds in a container of ref (no network, removed
// afterwards) and returns a *BaseImageError naming what is missing.
func checkBase(ctx context.Context, cl *docker.Client, ref string) error {
	c, err := cl.CreateContainer(docker.CreateContainerOptions{
		Config:     &docker.Config{Image: ref, Entrypoint: []string{"/bin/sh", "-c", baseNeeds}, Labels: map[string]string{LabelTool: "1"}},
		HostConfig: &docker.HostConfig{NetworkMode: "none", SecurityOpt: []string{"no-new-privileges"}},
		Context:    ctx,
	})
	if err != nil {
		return fmt.Errorf("--base %s: %w", ref, err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
		defer cancel()
		_ = cl.RemoveContainer(docker.RemoveContainerOptions{ID: c.ID, Force: true, Context: rctx})
	}()
	if err := cl.StartContainerWithContext(c.ID, nil, ctx); err != nil {
		// No /bin/sh to run: not a Debian system.
		return &BaseImageError{Image: ref, Err: fmt.Errorf("cannot run /bin/sh in it: %w", err)}
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	code, err := cl.WaitContainerWithContext(c.ID, wctx)
	if err != nil {
		return fmt.Errorf("--base %s: %w", ref, err)
	}
	if code == 0 {
		return nil
	}
	var out bytes.Buffer
	_ = cl.Logs(docker.LogsOptions{Container: c.ID, OutputStream: &out, ErrorStream: &out, Stdout: true, Stderr: true, Context: ctx})
	msg := strings.TrimSpace(out.String())
	if msg == "" {
		msg = fmt.Sprintf("the check exited %d", code)
	}
	return &BaseImageError{Image: ref, Err: fmt.Errorf("not a base for the hero layer: %s (want a Debian-based image with socat, curl and procps)", msg)}
}
