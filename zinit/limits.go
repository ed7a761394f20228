package zinit

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Limits a job's command line meets on its way: the daemon reads it in one
// request (MaxRequestBytes), `zinit add job --exec` passes it as one
// argument, and zinit runs it as `sh -c EXEC` with the job's env, through
// execve(2), whose limits are the kernel's.
const (
	// MaxRequestBytes bounds one JSON-RPC request line the reference
	// daemon reads (zinit/supervisor). A legacy config file is held to it
	// too: a definition that cannot travel as one request cannot be
	// migrated either.
	MaxRequestBytes = 1 << 20
	// MaxArgStrlen is the kernel's limit on one argument or environment
	// string of execve, its NUL included (MAX_ARG_STRLEN: 32 pages).
	MaxArgStrlen = 32 * 4096
	// ArgMax is the kernel's limit on an execve's arguments and
	// environment together, strings and pointers (ARG_MAX as `getconf`
	// reports it under the usual 8 MiB stack limit: a quarter of it).
	ArgMax = 2 << 20
	// requestOverhead bounds what a job.add request holds besides its exec
	// and env: the envelope, names (at most MaxNameLen each), trigger,
	// policy, numbers and after list of a job.
	requestOverhead = 4 << 10
)

// CheckExecLimits says whether a job with this exec and env can be added
// and run: nil, or an error wrapping ErrInvalid that names the first limit
// it breaks — one argument or env string over MaxArgStrlen, exec and env
// together over ArgMax, or a job.add request over MaxRequestBytes.
func CheckExecLimits(exec string, env map[string]string) error {
	if n := len(exec) + 1; n > MaxArgStrlen {
		return invalidf("exec is %d bytes; the kernel passes at most %d bytes in one argument (MAX_ARG_STRLEN): `zinit add job --exec` cannot pass it, nor zinit run it (sh -c)",
			len(exec), MaxArgStrlen-1)
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	const ptr = 8                                                  // one argv/envp pointer
	total := len("sh") + 1 + len("-c") + 1 + len(exec) + 1 + 4*ptr // argv strings, argv and envp pointers and their NULs
	for _, k := range keys {
		n := len(k) + 1 + len(env[k]) + 1
		if n > MaxArgStrlen {
			return invalidf("env %s is %d bytes as KEY=VALUE; the kernel passes at most %d bytes in one string (MAX_ARG_STRLEN)", k, n-1, MaxArgStrlen-1)
		}
		total += n + ptr
	}
	if total > ArgMax {
		return invalidf("exec and env together take %d bytes of the %d the kernel allows a command's arguments and environment (ARG_MAX): zinit cannot run it", total, ArgMax)
	}
	wire, err := json.Marshal(struct {
		Exec string            `json:"exec"`
		Env  map[string]string `json:"env,omitempty"`
	}{exec, env})
	if err != nil {
		return fmt.Errorf("encode exec and env: %w", err)
	}
	if n := len(wire) + requestOverhead; n > MaxRequestBytes {
		return invalidf("the job.add request carrying this exec and env would be about %d bytes; the daemon reads at most %d in one request", n, MaxRequestBytes)
	}
	return nil
}
