package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/ory/dockertest/v3/docker"

	"github.com/zchaos/zchaos/chaos/runtime"
	"github.com/zchaos/zchaos/migrator"
)

// dockerExec returns a migrator.ExecFunc that runs argv inside the running
// container name through the Docker API (create exec, start it attached,
// inspect its exit code), with the engine taken from the environment
// (DOCKER_HOST, default unix socket; pinged first). A missing engine or
// container is an error; a non-zero exit is a code, not an error.
func dockerExec(ctx context.Context, name string) (migrator.ExecFunc, error) {
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
