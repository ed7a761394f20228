package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ory/dockertest/v3/docker"
	"k8s.io/utils/clock"

	"github.com/zchaos/zchaos/chaos"
	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/zinit"
)

// zinitBootTimeout bounds the wait for a fresh container's zinit.
const zinitBootTimeout = 30 * time.Second

// containerTarget is the migrator's target for the zinit of a running
// harness container: its zinit CLI (chaos.ZinitCLI), run by c.Exec.
func containerTarget(c runtime.Container) *migrator.CLITarget {
	return cliTarget(c.Name(), chaos.ZinitCLI, func(ctx context.Context, argv []string) ([]byte, []byte, int, error) {
		res, err := c.Exec(ctx, argv, nil)
		return res.Stdout, res.Stderr, res.ExitCode, err
	})
}

// DockerTarget is the migrator's target for the zinit of the running
// container name, driven through its zinit CLI (the path zinitCLI inside
// the container) by DockerExec.
func DockerTarget(ctx context.Context, name, zinitCLI string) (*migrator.CLITarget, error) {
	exec, err := DockerExec(ctx, name)
	if err != nil {
		return nil, err
	}
	return cliTarget(name, zinitCLI, exec), nil
}

func cliTarget(container, zinitCLI string, exec migrator.ExecFunc) *migrator.CLITarget {
	return &migrator.CLITarget{Exec: exec, Zinit: zinitCLI, Name: "container " + container}
}

// pinger is the part of a migrator.Target waitZinit needs.
type pinger interface {
	Ping(ctx context.Context) error
}

// waitZinit polls t (zinit.PollUntil, every 20 ms of clk) until zinit
// answers (it is starting as PID 1), for up to zinitBootTimeout. Giving up
// is an error wrapping the last ping's.
func waitZinit(ctx context.Context, clk clock.Clock, t pinger) error {
	ctx, cancel := context.WithTimeout(ctx, zinitBootTimeout)
	defer cancel()
	var last error
	err := zinit.PollUntil(ctx, clk, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		last = t.Ping(ctx)
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("zinit never answered: %w", last)
	}
	return nil
}

// DockerExec returns a migrator.ExecFunc that runs argv inside the running
// container name through the Docker API (create exec, start it attached,
// inspect its exit code), on the engine the docker CLI would use
// (DOCKER_HOST, else the current Docker context, else the default unix
// socket; pinged first: runtime.NewDockerClient). A missing engine or
// container is an error; a non-zero exit is a code, not an error.
func DockerExec(ctx context.Context, name string) (migrator.ExecFunc, error) {
	client, err := runtime.NewDockerClient(ctx)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, argv []string) ([]byte, []byte, int, error) {
		ex, err := client.CreateExec(docker.CreateExecOptions{
			Container: name, Cmd: argv, AttachStdout: true, AttachStderr: true, Context: ctx,
		})
		if err != nil {
			var nsc *docker.NoSuchContainer
			if errors.As(err, &nsc) {
				return nil, nil, 0, fmt.Errorf("docker exec: no container %q", name)
			}
			return nil, nil, 0, fmt.Errorf("docker exec in %s: %w", name, err)
		}
		var out, errOut bytes.Buffer
		if err := client.StartExec(ex.ID, docker.StartExecOptions{OutputStream: &out, ErrorStream: &errOut, Context: ctx}); err != nil {
			return nil, nil, 0, fmt.Errorf("docker exec in %s: %w", name, err)
		}
		ins, err := client.InspectExec(ex.ID)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("docker exec in %s: %w", name, err)
		}
		if ins.Running {
			return nil, nil, 0, fmt.Errorf("docker exec in %s: %s still running after its streams closed", name, argv[0])
		}
		return out.Bytes(), errOut.Bytes(), ins.ExitCode, nil
	}, nil
}
