package migrator

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/zchaos/zchaos/zinit"
)

// ProbeKind is how a migrated service's check job probes it.
type ProbeKind string

const (
	// ProbeSocket calls server.health with JSON-RPC 2.0 over the service's
	// Unix socket (socat) and passes only on a "result" answer.
	ProbeSocket ProbeKind = "socket"
	// ProbeHTTP GETs the service's HTTP health URL (curl -f) and passes only
	// on a 2xx/3xx answer.
	ProbeHTTP ProbeKind = "http"
	// ProbeCommand runs a legacy probe command as is (from a 0.3 [health]
	// exec or a YAML test that names no socket or port).
	ProbeCommand ProbeKind = "command"
	// ProbeLiveness only checks that the start job's process exists
	// (kill -0 $ZINIT_PID): it cannot see a hang. Lint warns about it.
	ProbeLiveness ProbeKind = "liveness"
	// ProbeNone: no check job (oneshots).
	ProbeNone ProbeKind = "none"
)

// Probe is what a service's check job probes, and where that came from.
type Probe struct {
	Kind ProbeKind `json:"kind"`
	// Target is the socket path (ProbeSocket), the URL (ProbeHTTP) or the
	// command (ProbeCommand); empty otherwise.
	Target string `json:"target,omitempty"`
	// Origin says where the target came from, e.g. "exec flag --socket
	// (dir/x.toml:3)", "convention", "policy".
	Origin string `json:"origin"`
}

// String describes the probe for people (reports show it next to the
// policy; the check job's exec holds the full command).
func (p Probe) String() string {
	switch p.Kind {
	case ProbeSocket:
		return "server.health over " + p.Target
	case ProbeHTTP:
		return "GET " + p.Target
	case ProbeCommand:
		return "command: " + p.Target
	case ProbeLiveness:
		return "liveness only (kill -0)"
	}
	return "none"
}

// HealthRequest is the JSON-RPC 2.0 request a socket probe sends.
const HealthRequest = `{"jsonrpc":"2.0","method":"server.health","id":1}`

// ProbeBound is the share of the check timeout a probe gives its own call,
// so that the probe ends (and says why) before zinit kills it at the timeout.
const ProbeBound = 0.8

// Exec renders the check job's command for a check timeout T. The probe
// bounds its own call to ProbeBound×T (coreutils timeout plus socat -T/-t,
// or curl --max-time) so a SIGSTOPped or hung service makes it fail, with a
// message, inside T. It returns "" for ProbeNone.
//
// Socket probe: fails when the socket file is missing, nothing listens, no
// answer comes within the bound, or the answer holds no "result" member or
// a top-level "error" object; passes only on a "result" answer.
// HTTP probe: fails on no answer within the bound or an HTTP status ≥ 400.
func (p Probe) Exec(timeout time.Duration) string {
	bound := time.Duration(float64(timeout) * ProbeBound).Round(time.Millisecond)
	if bound < time.Millisecond {
		bound = time.Millisecond
	}
	kill := timeout - bound
	if kill < time.Millisecond {
		kill = time.Millisecond
	}
	b, k := seconds(bound), seconds(kill)
	switch p.Kind {
	case ProbeSocket:
		return "s=" + zinit.ShellQuote(p.Target) + "; a=" + zinit.ShellQuote("UNIX-CONNECT:"+socatEscape(p.Target)) + "; " +
			`[ -S "$s" ] || { echo "health: no socket at $s" >&2; exit 1; }; ` +
			`r=$(printf '%s\n' ` + zinit.ShellQuote(HealthRequest) +
			` | timeout -k ` + k + " " + b + " socat -t " + b + " -T " + b + ` - "$a" 2>&1) ` +
			`|| { echo "health: call failed on $s: $r" >&2; exit 1; }; ` +
			`if printf '%s' "$r" | grep -Eq '"result"[[:space:]]*:' && ! printf '%s' "$r" | grep -Eq '"error"[[:space:]]*:[[:space:]]*\{'; then exit 0; fi; ` +
			`echo "health: no result from $s within ` + b + `s: $r" >&2; exit 1`
	case ProbeHTTP:
		return "curl -fsS --max-time " + b + " -o /dev/null " + zinit.ShellQuote(p.Target)
	case ProbeCommand:
		return p.Target
	case ProbeLiveness:
		return `[ -z "${ZINIT_PID:-}" ] || kill -0 "$ZINIT_PID"`
	}
	return ""
}

// socatEscape escapes a path for socat's address syntax, where ':', ',',
// quotes, brackets and '!!' are special: every byte but letters, digits and
// "/._-" gets a backslash.
func socatEscape(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("/._-", c) >= 0) {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// seconds renders d as seconds with millisecond precision ("2.400").
func seconds(d time.Duration) string {
	ms := d.Milliseconds()
	return fmt.Sprintf("%d.%03d", ms/1000, ms%1000)
}

var alwaysOKRE = regexp.MustCompile(`\|\|\s*(true|:|echo\b|exit\s+0)`)

// parseCheck recognises a legacy probe command by its shape, not by a name:
// socat on a Unix socket, curl on a URL, make health-check, a bare echo.
// It returns nil for a command that is not a probe (e.g. a migration
// oneshot) and CheckOther for a command it cannot classify but that was
// declared a probe elsewhere (callers decide).
func parseCheck(exec string) *LegacyCheck {
	words, _ := zinit.SplitWords(exec)
	has := func(name string) bool {
		for _, w := range words {
			if w == name || strings.HasSuffix(w, "/"+name) {
				return true
			}
		}
		return false
	}
	c := &LegacyCheck{Exec: exec}
	switch {
	case has("socat"):
		c.Kind = CheckSocat
		t, _ := zinit.DetectProbe(exec)
		c.Socket = t.Socket
		c.IgnoresAnswer = !strings.Contains(exec, "grep") && !strings.Contains(exec, "jq")
	case has("curl"):
		c.Kind = CheckCurl
		t, _ := zinit.DetectProbe(exec)
		c.URL, c.Port = t.URL, t.HTTPPort
		c.IgnoresAnswer = !curlFails(words)
	case has("make") && strings.Contains(exec, "health-check"):
		// The seed: `cd <build dir> && make health-check`; the target
		// usually does not exist, "healthy by default".
		c.Kind = CheckMake
		c.AlwaysPasses = true
	case len(words) > 0 && (words[0] == "echo" || words[0] == "true" || words[0] == ":") && !strings.ContainsAny(exec, "|&;"):
		c.Kind = CheckEcho
		c.AlwaysPasses = true
	default:
		if strings.Contains(exec, "health") && len(words) > 0 {
			c.Kind = CheckOther
			break
		}
		return nil
	}
	if alwaysOKRE.MatchString(exec) {
		c.AlwaysPasses = true
	}
	return c
}

// declaredCheck classifies a command declared to be a probe (a 0.3 [health]
// exec or a YAML test): never nil.
func declaredCheck(exec string) *LegacyCheck {
	if c := parseCheck(exec); c != nil {
		return c
	}
	return &LegacyCheck{Kind: CheckOther, Exec: exec, AlwaysPasses: alwaysOKRE.MatchString(exec)}
}

// curlFails reports whether curl's options make it fail on an HTTP error.
func curlFails(words []string) bool {
	for _, w := range words {
		if w == "--fail" || w == "--fail-with-body" {
			return true
		}
		if strings.HasPrefix(w, "-") && !strings.HasPrefix(w, "--") && strings.ContainsRune(w, 'f') {
			return true
		}
	}
	return false
}

// execTargets finds a socket path and an HTTP port named by a service's
// exec (zinit.DetectProbe: --socket, --http-port, --port, ...) or env (a
// *SOCKET* key with an absolute path; PORT or *_PORT with a number). Each
// comes with where it was found: "exec flag --socket", "env KEY", ...
func execTargets(exec string, env map[string]string) (socket, socketFrom string, port int, portFrom string) {
	origin := func(from string) string {
		if strings.HasPrefix(from, "--") {
			return "exec flag " + from
		}
		return "exec " + from
	}
	t, _ := zinit.DetectProbe(exec)
	if t.Socket != "" {
		socket, socketFrom = t.Socket, origin(t.SocketFrom)
	}
	if t.HTTPPort != 0 {
		port, portFrom = t.HTTPPort, origin(t.PortFrom)
	}
	for _, k := range sortedStrKeys(env) {
		v := env[k]
		uk := strings.ToUpper(k)
		if socket == "" && strings.Contains(uk, "SOCKET") && strings.HasPrefix(v, "/") {
			socket, socketFrom = v, "env "+k
		}
		if port == 0 && (uk == "PORT" || strings.HasSuffix(uk, "_PORT")) {
			if n, err := strconv.Atoi(v); err == nil && n > 0 && n < 65536 {
				port, portFrom = n, "env "+k
			}
		}
	}
	return socket, socketFrom, port, portFrom
}
