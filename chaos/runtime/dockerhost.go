package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultDockerHost is the engine's socket when nothing names another.
const DefaultDockerHost = "unix:///var/run/docker.sock"

// DockerEndpoint is the engine a client talks to and why.
type DockerEndpoint struct {
	Host string // unix:///…, tcp://host:port
	// Source says where Host came from: "DOCKER_HOST", `context "colima"`
	// or "default".
	Source string
	// FromEnv: DOCKER_HOST named it, so DOCKER_TLS_VERIFY and
	// DOCKER_CERT_PATH apply as the docker CLI applies them.
	FromEnv bool
	// TLSDir holds a context's ca.pem, cert.pem and key.pem ("" : none).
	TLSDir string
}

func (e DockerEndpoint) String() string { return e.Host + " (" + e.Source + ")" }

// ResolveDockerEndpoint finds the engine the way the docker CLI does, so
// a runner that drives a remote engine or a laptop with Colima or Docker
// Desktop needs no extra flag:
//
//  1. DOCKER_HOST, when set;
//  2. else the context DOCKER_CONTEXT names, else the currentContext of
//     $DOCKER_CONFIG/config.json (default ~/.docker/config.json);
//  3. a context other than "default" is read from
//     contexts/meta/<sha256 of its name>/meta.json under that directory:
//     its Endpoints.docker.Host (TLS material, if any, is under
//     contexts/tls/<same hash>/docker/);
//  4. else DefaultDockerHost.
//
// getenv and home are injected for tests (os.Getenv, os.UserHomeDir()).
// A context that is named but cannot be read is an error naming it, as
// the docker CLI refuses it too.
func ResolveDockerEndpoint(getenv func(string) string, home string) (DockerEndpoint, error) {
	if h := getenv("DOCKER_HOST"); h != "" {
		return DockerEndpoint{Host: h, Source: "DOCKER_HOST", FromEnv: true}, nil
	}
	cfgDir := getenv("DOCKER_CONFIG")
	if cfgDir == "" {
		cfgDir = filepath.Join(home, ".docker")
	}
	name, how := getenv("DOCKER_CONTEXT"), "DOCKER_CONTEXT"
	if name == "" {
		var cfg struct {
			CurrentContext string `json:"currentContext"`
		}
		b, err := os.ReadFile(filepath.Join(cfgDir, "config.json"))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return DockerEndpoint{}, fmt.Errorf("docker config: %w", err)
		default:
			if err := json.Unmarshal(b, &cfg); err != nil {
				return DockerEndpoint{}, fmt.Errorf("docker config %s: %w", filepath.Join(cfgDir, "config.json"), err)
			}
		}
		name, how = cfg.CurrentContext, "currentContext of "+filepath.Join(cfgDir, "config.json")
	}
	if name == "" || name == "default" {
		return DockerEndpoint{Host: DefaultDockerHost, Source: "default"}, nil
	}
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	metaPath := filepath.Join(cfgDir, "contexts", "meta", id, "meta.json")
	var meta struct {
		Name      string
		Endpoints map[string]struct {
			Host          string
			SkipTLSVerify bool
		}
	}
	b, err := os.ReadFile(metaPath)
	if err != nil {
		return DockerEndpoint{}, fmt.Errorf("docker context %q (%s): %w", name, how, err)
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return DockerEndpoint{}, fmt.Errorf("docker context %q: %s: %w", name, metaPath, err)
	}
	host := meta.Endpoints["docker"].Host
	if host == "" {
		return DockerEndpoint{}, fmt.Errorf("docker context %q: %s names no docker endpoint host", name, metaPath)
	}
	ep := DockerEndpoint{Host: host, Source: fmt.Sprintf("context %q", name)}
	tls := filepath.Join(cfgDir, "contexts", "tls", id, "docker")
	if _, err := os.Stat(filepath.Join(tls, "cert.pem")); err == nil {
		ep.TLSDir = tls
	}
	return ep, nil
}

// supported says whether this client can speak to the endpoint: the
// engine API over a Unix socket or TCP. ssh:// endpoints need the docker
// CLI as a transport, which zchaos does not run.
func (e DockerEndpoint) supported() error {
	if strings.HasPrefix(e.Host, "ssh://") {
		return fmt.Errorf("%s: ssh endpoints are not supported; forward the engine's socket (ssh -L /tmp/docker.sock:/var/run/docker.sock HOST) and set DOCKER_HOST=unix:///tmp/docker.sock", e)
	}
	return nil
}
