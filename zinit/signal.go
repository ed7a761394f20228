package zinit

import (
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ParseSignal reads a signal as a name, with or without "SIG", in any case
// ("SIGTERM", "TERM", "term"), or as a number from 1 to 64. Errors wrap
// ErrInvalid. An empty string is not a signal: callers with a default
// apply it first.
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, invalidf("signal %d out of range", n)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, invalidf("unknown signal %q", s)
}

// SignalName is the inverse of ParseSignal: sig's name ("SIGKILL"), or its
// number when it has none (real-time signals).
func SignalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return strconv.Itoa(int(sig))
}
