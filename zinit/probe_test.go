package zinit_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/zchaos/zchaos/zinit"
)

func TestDetectProbe(t *testing.T) {
	const (
		sock    = "/root/hero/var/sockets/hero_db_server.sock"
		fleet   = "/usr/local/bin/herosim serve --name hero_db_server --socket " + sock
		ui      = "/usr/local/bin/herosim serve --name hero_ui --socket /s/ui.sock --http-port 8080"
		socatHC = `echo '{"jsonrpc":"2.0","method":"server.health","id":1}' | socat - UNIX-CONNECT:/s/a.sock`
		// A migrated socket check job, as the migrator renders it.
		rendered = "s=" + sock + "; a=UNIX-CONNECT:" + sock + `; [ -S "$s" ] || { echo "health: no socket at $s" >&2; exit 1; }; ` +
			`r=$(printf '%s\n' '{}' | timeout -k 6.000 24.000 socat -t 24.000 -T 24.000 - "$a" 2>&1)`
		curlHC = "curl -fsS --max-time 24.000 -o /dev/null 'http://127.0.0.1:8084/health'"
	)
	for _, c := range []struct {
		name  string
		execs []string
		want  zinit.ProbeTarget
	}{
		{"socket flag", []string{fleet}, zinit.ProbeTarget{Socket: sock, SocketFrom: "--socket"}},
		{"socket and port flags", []string{ui}, zinit.ProbeTarget{Socket: "/s/ui.sock", SocketFrom: "--socket", HTTPPort: 8080, PortFrom: "--http-port"}},
		{"flag=value", []string{"srv --socket=/s/x.sock --port=9000"}, zinit.ProbeTarget{Socket: "/s/x.sock", SocketFrom: "--socket", HTTPPort: 9000, PortFrom: "--port"}},
		{"quoted flag", []string{`srv --socket '/s/it''s.sock'`}, zinit.ProbeTarget{Socket: "/s/its.sock", SocketFrom: "--socket"}},
		{"first flag in word order", []string{"srv --port 1 --http-port 2"}, zinit.ProbeTarget{HTTPPort: 1, PortFrom: "--port"}},
		{"socat address", []string{socatHC}, zinit.ProbeTarget{Socket: "/s/a.sock", SocketFrom: "UNIX-CONNECT"}},
		{"socat address with options", []string{"socat - unix-client:/s/b.sock,retry=3"}, zinit.ProbeTarget{Socket: "/s/b.sock", SocketFrom: "UNIX-CONNECT"}},
		{"socat bare path", []string{"echo x | /usr/bin/socat - UNIX:/s/c.sock"}, zinit.ProbeTarget{Socket: "/s/c.sock", SocketFrom: "socat"}},
		{"rendered socket check", []string{rendered}, zinit.ProbeTarget{Socket: sock, SocketFrom: "UNIX-CONNECT"}},
		{"rendered http check", []string{curlHC}, zinit.ProbeTarget{HTTPPort: 8084, PortFrom: "curl URL", URL: "http://127.0.0.1:8084/health"}},
		{"curl default port", []string{"curl -sf http://127.0.0.1/health"}, zinit.ProbeTarget{HTTPPort: 80, PortFrom: "curl URL", URL: "http://127.0.0.1/health"}},
		{"checks first, then start", []string{curlHC, fleet}, zinit.ProbeTarget{Socket: sock, SocketFrom: "--socket", HTTPPort: 8084, PortFrom: "curl URL", URL: "http://127.0.0.1:8084/health"}},
		{"first line wins", []string{socatHC, fleet}, zinit.ProbeTarget{Socket: "/s/a.sock", SocketFrom: "UNIX-CONNECT"}},
	} {
		got, ok := zinit.DetectProbe(c.execs...)
		assert.True(t, ok, c.name)
		assert.Equal(t, c.want, got, c.name)
	}
	for _, none := range [][]string{
		nil,
		{"/usr/local/bin/herosim oneshot --name x"},
		{"srv --socket relative.sock --port 0 --http-port 70000 --port x"},
		{"srv --upstream http://10.0.0.1:9000/"}, // a URL that no curl calls
		{"curl -sf https://example.org/health"},  // https without a port
		{"make health-check || true", `echo "No health check configured"`},
	} {
		got, ok := zinit.DetectProbe(none...)
		assert.False(t, ok, "%q", none)
		assert.Zero(t, got, "%q", none)
	}
}

func TestHTTPPort(t *testing.T) {
	for u, want := range map[string]int{
		"http://127.0.0.1:8080/health": 8080, "http://localhost/": 80, "https://h:8443/x": 8443,
		"https://h/x": 0, "http://[::1]:9/": 9, "http://%zz": 0, "": 0,
	} {
		assert.Equal(t, want, zinit.HTTPPort(u), u)
	}
}
