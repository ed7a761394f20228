package zinit

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// ProbeTarget is where a service can be probed, as its command lines name
// it: a Unix socket (JSON-RPC server.health) and/or an HTTP port.
type ProbeTarget struct {
	Socket     string // a Unix socket path, "" when none is named
	SocketFrom string // what named it: "--socket", "UNIX-CONNECT" or "socat"
	HTTPPort   int    // 0 when none is named
	PortFrom   string // what named it: "--http-port", "--port" or "curl URL"
	URL        string // the curl URL the port comes from ("" for a flag)
}

// unixAddrRE is socat's Unix socket client address: the path runs to a
// blank, a quote, socat's option comma or a shell operator.
var unixAddrRE = regexp.MustCompile(`(?i)UNIX-(?:CONNECT|CLIENT):([^\s'",|;]+)`)

// urlRE is an http(s) URL in a command line.
var urlRE = regexp.MustCompile(`https?://[^\s'"|;]+`)

// DetectProbe finds the first socket and the first HTTP port that the
// command lines name (start execs, legacy checks, rendered check jobs; in
// the caller's order of preference). Per line:
//   - a socket is socat's address UNIX-CONNECT:PATH or UNIX-CLIENT:PATH (any
//     case), else the first flag --socket PATH (or --socket=PATH) with an
//     absolute path, else, in a socat command, a word ending in ".sock"
//     (without a "UNIX:" prefix);
//   - a port is the first flag --http-port N or --port N (1–65535), else
//     the port of the URL a curl command calls (see HTTPPort).
//
// Lines are split with SplitWords; nothing is expanded. ok is false when
// no line names either.
func DetectProbe(execs ...string) (t ProbeTarget, ok bool) {
	for _, exec := range execs {
		words, _ := SplitWords(exec)
		sock, sockFrom, port, portFrom := flagTargets(words)
		if t.Socket == "" {
			switch m := unixAddrRE.FindStringSubmatch(exec); {
			case m != nil:
				t.Socket, t.SocketFrom = m[1], "UNIX-CONNECT"
			case sock != "":
				t.Socket, t.SocketFrom = sock, sockFrom
			case runs(words, "socat"):
				for _, w := range words {
					if strings.HasSuffix(w, ".sock") {
						t.Socket, t.SocketFrom = strings.TrimPrefix(w, "UNIX:"), "socat"
						break
					}
				}
			}
		}
		if t.HTTPPort == 0 {
			switch u := urlRE.FindString(exec); {
			case port != 0:
				t.HTTPPort, t.PortFrom = port, portFrom
			case u != "" && runs(words, "curl") && HTTPPort(u) != 0:
				t.HTTPPort, t.PortFrom, t.URL = HTTPPort(u), "curl URL", u
			}
		}
	}
	return t, t.Socket != "" || t.HTTPPort != 0
}

// flagTargets finds, in word order, the first --socket with an absolute
// path and the first --http-port or --port with a port number (each as
// "--flag V" or "--flag=V"), with the flag that named it.
func flagTargets(words []string) (socket, socketFrom string, port int, portFrom string) {
	for i, w := range words {
		name, val, hasVal := strings.Cut(w, "=")
		if !hasVal && i+1 < len(words) {
			val = words[i+1]
		}
		switch name {
		case "--socket":
			if socket == "" && strings.HasPrefix(val, "/") {
				socket, socketFrom = val, name
			}
		case "--http-port", "--port":
			if n, err := strconv.Atoi(val); err == nil && n > 0 && n < 65536 && port == 0 {
				port, portFrom = n, name
			}
		}
	}
	return socket, socketFrom, port, portFrom
}

// HTTPPort is the port of an http(s) URL: the one it names, else 80 for
// http://; 0 when it names none (https://) or does not parse.
func HTTPPort(rawURL string) int {
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0
	}
	if n, err := strconv.Atoi(u.Port()); err == nil {
		return n
	}
	if u.Scheme == "http" {
		return 80
	}
	return 0
}

// runs reports whether a word of the line is the program name, bare or as
// a path (".../socat").
func runs(words []string, name string) bool {
	for _, w := range words {
		if w == name || strings.HasSuffix(w, "/"+name) {
			return true
		}
	}
	return false
}
