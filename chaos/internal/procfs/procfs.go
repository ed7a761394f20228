// Package procfs reads Linux's /proc/<pid>/stat: the one parser of it for
// chaos/runtime (the local runtime's process trees) and chaos/agent (the
// in-container process scanner). It imports nothing of this module.
package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ClockTicksPerSecond is USER_HZ, the unit of Stat's UTime, STime and
// Start; 100 on every Linux ABI Go supports.
const ClockTicksPerSecond = 100

// Stat is what this project reads of /proc/<pid>/stat.
type Stat struct {
	Comm     string // the executable's name (changes at exec)
	State    byte   // R, S, D, T, t, Z, ...
	PPID     int
	PGID     int
	UTime    uint64 // user CPU time, clock ticks
	STime    uint64 // system CPU time, clock ticks
	CUTime   uint64 // user CPU time of its waited-for children, clock ticks
	CSTime   uint64 // system CPU time of its waited-for children, clock ticks
	Start    uint64 // starttime: clock ticks since boot; with the pid, it names one process
	ExitCode int    // wait status of a zombie (field 52); -1 if unknown
}

// ErrMalformed is wrapped by ParseStat's errors.
var ErrMalformed = errors.New("malformed /proc stat")

// ParseStat reads a /proc/<pid>/stat line. The comm field may hold spaces
// and parentheses, so fields are counted after the last ')'. It needs the
// fields up to starttime (22); the exit code (52) is read when present.
// On error the Stat is zero.
func ParseStat(b []byte) (Stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return Stat{}, fmt.Errorf("%w: no (comm)", ErrMalformed)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return Stat{}, fmt.Errorf("%w: %d fields after comm, want 20", ErrMalformed, len(f))
	}
	st := Stat{State: f[0][0], ExitCode: -1}
	if j := bytes.IndexByte(b, '('); j >= 0 && j < i {
		st.Comm = string(b[j+1 : i])
	}
	var err error
	num := func(name string, field int) uint64 {
		v, e := strconv.ParseUint(f[field], 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("%w: %s: %w", ErrMalformed, name, e)
		}
		return v
	}
	st.PPID, st.PGID = int(num("ppid", 1)), int(num("pgrp", 2))
	st.UTime, st.STime, st.Start = num("utime", 11), num("stime", 12), num("starttime", 19)
	st.CUTime, st.CSTime = num("cutime", 13), num("cstime", 14)
	if err != nil {
		return Stat{}, err
	}
	if len(f) >= 50 {
		if c, err := strconv.Atoi(f[49]); err == nil {
			st.ExitCode = c
		}
	}
	return st, nil
}

// ReadStat reads and parses <root>/<pid>/stat; root is "/proc" but for
// tests that fake the tree.
func ReadStat(root string, pid int) (Stat, error) {
	b, err := os.ReadFile(root + "/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(b)
}
