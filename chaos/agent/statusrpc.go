package agent

import (
	"context"
	"encoding/json"
	"errors"
	"os"

	"github.com/zchaos/zchaos/zinit"
)

// rpcStatus answers the status poller's two questions (`zinit list --json`,
// `zinit status <svc> --json`) over the supervisor's own socket when it
// speaks the reference JSON-RPC, instead of running the CLI: a zinit CLI
// is a Go program whose every start costs about 4 ms of CPU, and the poller
// asks up to 40 times a second, which made the CLI, not the agent, the
// largest cost of watching a container (make bench, agent-cpu%).
//
// The answer is the same document either way: the CLI prints the RPC
// result it decoded. A supervisor that does not speak the protocol (the
// first answer is not a JSON-RPC result, or names no such method) is asked
// through its CLI from then on; so is one whose socket is not where the
// CLI would look. While undecided, a socket that cannot be dialled (zinit
// not up yet) is left to the CLI for that query.
type rpcStatus struct {
	socket string
	cli    func(ctx context.Context, argv []string) ([]byte, error)
	mode   rpcMode
	c      *zinit.Client
}

type rpcMode int

const (
	rpcUndecided rpcMode = iota
	rpcYes
	rpcNo
)

// statusSocket is the socket the zinit CLI would use: ZINIT_SOCKET, else
// the default.
func statusSocket() string {
	if s := os.Getenv("ZINIT_SOCKET"); s != "" {
		return s
	}
	return zinit.DefaultSocket
}

// exec has the signature of the poller's CLI runner: argv is
// [cli list --json] or [cli status SVC --json]; anything else goes to the CLI.
func (r *rpcStatus) exec(ctx context.Context, argv []string) ([]byte, error) {
	var method string
	var params any
	switch {
	case len(argv) == 3 && argv[1] == "list":
		method = zinit.MethodServiceList
	case len(argv) == 4 && argv[1] == "status":
		method, params = zinit.MethodServiceStatus, zinit.NameParams{Name: argv[2]}
	default:
		return r.cli(ctx, argv)
	}
	if r.mode == rpcNo {
		return r.cli(ctx, argv)
	}
	if r.c == nil {
		c, err := zinit.Dial(ctx, r.socket)
		if err != nil {
			if r.mode == rpcUndecided {
				return r.cli(ctx, argv)
			}
			return nil, err
		}
		r.c = c
	}
	var raw json.RawMessage
	err := r.c.Call(ctx, method, params, &raw)
	var re *zinit.RPCError
	switch {
	case err == nil:
		r.mode = rpcYes
		return raw, nil
	case r.mode == rpcUndecided && (!errors.As(err, &re) || re.Code == zinit.CodeMethodMissing):
		// Not the reference protocol (or not sure it is): the CLI knows.
		r.close()
		r.mode = rpcNo
		return r.cli(ctx, argv)
	case !errors.As(err, &re):
		// A broken or timed-out connection (the supervisor restarted):
		// dial again at the next query.
		r.close()
	}
	return nil, err
}

func (r *rpcStatus) close() {
	if r.c != nil {
		_ = r.c.Close()
		r.c = nil
	}
}
