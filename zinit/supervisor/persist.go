package supervisor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/zchaos/zchaos/zinit"
)

// StateFileName is the file in the state dir that holds persisted services.
const StateFileName = "services.json"

// MaxStateFileBytes bounds the state file: a bigger one is not read (it is
// moved aside like an undecodable one) and a change that would make it
// bigger is refused. It equals the longest answer a client accepts, so a
// state that fits can always be listed.
const MaxStateFileBytes = zinit.MaxResponseBytes

const stateFileVersion = 1

type stateFile struct {
	Version  int                `json:"version"`
	Services []persistedService `json:"services"`
}

type persistedService struct {
	Service zinit.Service `json:"service"`
	Jobs    []zinit.Job   `json:"jobs"`
}

// persistence is what the engine knows of its state file. It turns
// read-only at boot when the file could not be restored in full, and back
// with PersistResume.
type persistence struct {
	file        string
	readOnly    bool
	movedTo     string // where the unusable file was moved aside
	moveErr     error  // why it could not be moved aside
	restored    []string
	notRestored []zinit.StateProblem
}

// savePersisted writes every persisted service with its persisted jobs to
// the state dir atomically (see writeAtomic), leaving out services and
// jobs being removed. A no-op without a state dir; an error wrapping
// zinit.ErrReadOnly while persistence is read-only. Callers save before
// they commit a change, or undo it when the save fails.
func (e *Engine) savePersisted() error {
	if e.stateDir == "" {
		return nil
	}
	if e.persist.readOnly {
		return e.readOnlyError()
	}
	sf := stateFile{Version: stateFileVersion, Services: []persistedService{}}
	for _, n := range e.names {
		s := e.services[n]
		if !s.def.Persist || s.legacy != nil || s.removing {
			continue
		}
		ps := persistedService{Service: s.def, Jobs: []zinit.Job{}}
		for _, j := range s.jobs {
			if j.def.Persist && !j.removing {
				ps.Jobs = append(ps.Jobs, j.def)
			}
		}
		sf.Services = append(sf.Services, ps)
	}
	data, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return fmt.Errorf("persist: %w", err)
	}
	if len(data) >= MaxStateFileBytes {
		return fmt.Errorf("persist: %s would be %d bytes, over the limit of %d", e.persist.file, len(data)+1, MaxStateFileBytes)
	}
	return e.writeState(e.persist.file, append(data, '\n'))
}

// readOnlyError is the one line a refused change answers: it names the
// state file, where it went, and what the operator does next.
func (e *Engine) readOnlyError() error {
	p := &e.persist
	where := "moved to " + p.movedTo
	if p.movedTo == "" {
		where = fmt.Sprintf("left in place: %v", p.moveErr)
	}
	return fmt.Errorf("%w: %s could not be restored in full at boot (%d problem(s); %s): "+
		"see `zinit status`, then run `zinit persist resume`", zinit.ErrReadOnly, p.file, len(p.notRestored), where)
}

func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("persist: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("persist: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("persist: write %s: %w", f.Name(), err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("persist: fsync %s: %w", f.Name(), err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("persist: close %s: %w", f.Name(), err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("persist: %w", err)
	}
	syncDir(dir)
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// stateEntry is one service entry of the state file that decoded.
type stateEntry struct {
	label string // services[i] "name", for problems
	ps    persistedService
}

// decodeState reads a state file leniently, entry by entry: the entries
// that decode are returned, everything else is a problem — the file as a
// whole (not a JSON object, truncated, trailing data, a version this zinit
// does not read, an unknown top-level field) or one entry (a field of the
// wrong type, an unknown field). Nothing is silently dropped: every entry
// of the input is either returned or named in a problem. Entries of a file
// whose version is not stateFileVersion are all problems: their meaning
// is not known.
func decodeState(data []byte) (entries []stateEntry, problems []zinit.StateProblem) {
	fileProblem := func(format string, a ...any) {
		problems = append(problems, zinit.StateProblem{Entry: "file", Reason: fmt.Sprintf(format, a...)})
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		fileProblem("not a JSON object (%s)", tokenText(tok, err))
		return nil, problems
	}
	version, versionSeen := 0, false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			fileProblem("truncated or malformed after %d entries: %v", len(entries)+countEntries(problems), err)
			return entriesOfVersion(entries, problems, version, versionSeen)
		}
		key, _ := tok.(string)
		switch key {
		case "version":
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				fileProblem("version: %v", err)
				return entriesOfVersion(entries, problems, version, versionSeen)
			}
			versionSeen = true
			if err := json.Unmarshal(raw, &version); err != nil {
				fileProblem("version: want a whole number, got %s", abbreviate(raw))
				version = math.MinInt
			}
		case "services":
			var ok bool
			entries, problems, ok = decodeEntries(dec, entries, problems)
			if !ok {
				return entriesOfVersion(entries, problems, version, versionSeen)
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				fileProblem("truncated or malformed in field %q: %v", key, err)
				return entriesOfVersion(entries, problems, version, versionSeen)
			}
			fileProblem("unknown field %q", key)
		}
	}
	if _, err := dec.Token(); err != nil {
		fileProblem("truncated: %v", err)
	} else if _, err := dec.Token(); err != io.EOF {
		fileProblem("trailing data after the JSON object")
	}
	return entriesOfVersion(entries, problems, version, versionSeen)
}

// decodeEntries reads the services array, one entry at a time; ok is false
// when the stream cannot go on (truncated or malformed JSON).
func decodeEntries(dec *json.Decoder, entries []stateEntry, problems []zinit.StateProblem) ([]stateEntry, []zinit.StateProblem, bool) {
	tok, err := dec.Token()
	if err != nil {
		problems = append(problems, zinit.StateProblem{Entry: "file", Reason: fmt.Sprintf("services: %v", err)})
		return entries, problems, false
	}
	if tok == nil { // "services": null
		return entries, problems, true
	}
	if tok != json.Delim('[') {
		problems = append(problems, zinit.StateProblem{Entry: "file", Reason: fmt.Sprintf("services: want an array, got %s", tokenText(tok, nil))})
		if d, isDelim := tok.(json.Delim); isDelim && d == '{' {
			return entries, problems, false // an object: the stream cannot be resynchronised cheaply
		}
		return entries, problems, true
	}
	for i := len(entries) + countEntries(problems); dec.More(); i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			problems = append(problems, zinit.StateProblem{Entry: "file",
				Reason: fmt.Sprintf("truncated or malformed at services[%d]: %v", i, err)})
			return entries, problems, false
		}
		label := entryLabel(i, raw)
		var ps persistedService
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&ps); err != nil {
			problems = append(problems, zinit.StateProblem{Entry: label, Reason: err.Error()})
			continue
		}
		entries = append(entries, stateEntry{label: label, ps: ps})
	}
	if _, err := dec.Token(); err != nil { // ]
		problems = append(problems, zinit.StateProblem{Entry: "file", Reason: fmt.Sprintf("services: %v", err)})
		return entries, problems, false
	}
	return entries, problems, true
}

// entriesOfVersion keeps the entries when the file's version is the one
// this zinit reads; otherwise it turns each into a problem.
func entriesOfVersion(entries []stateEntry, problems []zinit.StateProblem, version int, seen bool) ([]stateEntry, []zinit.StateProblem) {
	var why string
	switch {
	case !seen:
		why = "no version"
	case version == math.MinInt:
		why = "version unreadable"
	case version > stateFileVersion:
		why = fmt.Sprintf("version %d is newer than this zinit reads (%d)", version, stateFileVersion)
	case version != stateFileVersion:
		why = fmt.Sprintf("unknown version %d (this zinit reads %d)", version, stateFileVersion)
	default:
		return entries, problems
	}
	problems = append([]zinit.StateProblem{{Entry: "file", Reason: why + ": no entry restored"}}, problems...)
	for _, en := range entries {
		problems = append(problems, zinit.StateProblem{Entry: en.label, Reason: why})
	}
	return nil, problems
}

// countEntries counts the problems that stand for one entry each (not the
// file's), so indexes stay right across them.
func countEntries(problems []zinit.StateProblem) int {
	n := 0
	for _, p := range problems {
		if p.Entry != "file" {
			n++
		}
	}
	return n
}

// entryLabel is `services[i] "name"`, the name when the entry has a
// readable one.
func entryLabel(i int, raw json.RawMessage) string {
	label := "services[" + strconv.Itoa(i) + "]"
	var named struct {
		Service struct {
			Name any `json:"name"`
		} `json:"service"`
	}
	if json.Unmarshal(raw, &named) == nil {
		if n, ok := named.Service.Name.(string); ok && n != "" {
			label += " " + strconv.Quote(n)
		}
	}
	return label
}

func tokenText(tok json.Token, err error) string {
	if err != nil {
		return err.Error()
	}
	switch t := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		return string(t)
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprint(tok)
}

func abbreviate(b []byte) string {
	const max = 60
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// bootPersisted restores the services of the state file, not started.
// Whatever it cannot restore — the file as a whole, an entry, a job — is
// listed; the file is then moved aside, never overwritten nor dropped, and
// persistence turns read-only until PersistResume, so no save can lose
// what was not restored. It says so on the daemon's log (stderr).
func (e *Engine) bootPersisted() {
	if e.stateDir == "" {
		return
	}
	p := &e.persist
	data, err := zinit.ReadRegularFile(p.file, MaxStateFileBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var entries []stateEntry
	var problems []zinit.StateProblem
	if err != nil {
		problems = append(problems, zinit.StateProblem{Entry: "file", Reason: fmt.Sprintf("unreadable: %v", err)})
	} else {
		entries, problems = decodeState(data)
	}
	for _, en := range entries {
		jobProblems, err := e.restore(en.ps)
		if err != nil {
			problems = append(problems, zinit.StateProblem{Entry: en.label, Reason: err.Error()})
			continue
		}
		p.restored = append(p.restored, en.ps.Service.Name)
		problems = append(problems, jobProblems...)
	}
	if len(problems) == 0 {
		return
	}
	p.readOnly, p.notRestored = true, problems
	p.movedTo, p.moveErr = moveAside(p.file, e.clock.Now())
	e.log.Error("persisted state not restored in full: persistence is read-only", "err", e.readOnlyError())
	for _, pr := range problems {
		e.log.Error("persisted state: not restored", "file", p.file, "entry", pr.Entry, "reason", pr.Reason)
	}
}

// moveAside renames path to path.corrupt-<UTC time>, with a -N suffix if
// that name is taken, and returns the new name.
func moveAside(path string, now time.Time) (string, error) {
	base := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	for n := 1; n <= 100; n++ {
		dst := base
		if n > 1 {
			dst = base + "-" + strconv.Itoa(n)
		}
		if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := os.Rename(path, dst); err != nil {
			return "", fmt.Errorf("move aside: %w", err)
		}
		syncDir(filepath.Dir(path))
		return dst, nil
	}
	return "", fmt.Errorf("move aside: %s-2 … -100 are all taken", base)
}

// restore re-creates one persisted service and its jobs (not started). A
// job that does not validate, or duplicates another, is left out and
// returned as a problem.
func (e *Engine) restore(ps persistedService) ([]zinit.StateProblem, error) {
	ps.Service.Persist = true
	if err := ps.Service.Validate(); err != nil {
		return nil, err
	}
	if _, ok := e.services[ps.Service.Name]; ok {
		return nil, fmt.Errorf("service %q: %w", ps.Service.Name, zinit.ErrAlreadyExists)
	}
	s := newService(ps.Service)
	var problems []zinit.StateProblem
	for i, j := range ps.Jobs {
		j.Service, j.Persist = ps.Service.Name, true
		label := ps.Service.Name + "/" + j.Name
		if j.Name == "" {
			label = ps.Service.Name + "/jobs[" + strconv.Itoa(i) + "]"
		}
		err := j.Validate()
		if err == nil && s.job(j.Name) != nil {
			err = fmt.Errorf("job %s: %w", label, zinit.ErrAlreadyExists)
		} else if err == nil && j.Trigger == zinit.TriggerStart && s.startJob() != nil {
			err = fmt.Errorf("%w: a second start job", zinit.ErrInvalid)
		}
		if err != nil {
			problems = append(problems, zinit.StateProblem{Entry: label, Reason: err.Error()})
			continue
		}
		s.jobs = append(s.jobs, &job{def: j})
	}
	e.insert(s)
	return problems, nil
}

// PersistResume makes persistence writable again after a boot that could
// not restore the state file in full: it writes the file from the services
// held now (what was not restored stays in the moved-aside file and in the
// status). It refuses, changing nothing, while a file is back at the state
// file's path (restart the daemon to restore it, or move it away). A no-op
// when persistence is not read-only.
func (e *Engine) PersistResume() (zinit.SystemStatus, error) {
	p := &e.persist
	if !p.readOnly {
		return e.SystemStatus(), nil
	}
	if _, err := os.Lstat(p.file); !errors.Is(err, fs.ErrNotExist) {
		return e.SystemStatus(), fmt.Errorf("persist resume: %s is there again (restart the daemon to restore it, or move it away): %w",
			p.file, zinit.ErrAlreadyExists)
	}
	p.readOnly = false
	if err := e.savePersisted(); err != nil {
		p.readOnly = true
		return e.SystemStatus(), fmt.Errorf("persist resume: %w", err)
	}
	e.log.Info("persistence resumed", "file", p.file)
	return e.SystemStatus(), nil
}

// SystemStatus is the daemon's own state: degraded while persistence is
// read-only.
func (e *Engine) SystemStatus() zinit.SystemStatus {
	p := &e.persist
	st := zinit.SystemStatus{
		Version: zinit.Version, PID: os.Getpid(), Problems: []string{},
		Persistence: zinit.PersistStatus{
			Mode: zinit.PersistOK, File: p.file, MovedTo: p.movedTo,
			Restored:    append([]string{}, p.restored...),
			NotRestored: append([]zinit.StateProblem{}, p.notRestored...),
		},
		ConfigSkipped: append([]zinit.SkippedFile{}, e.configSkipped...),
	}
	switch {
	case e.stateDir == "":
		st.Persistence.Mode = zinit.PersistOff
	case p.readOnly:
		st.Persistence.Mode = zinit.PersistReadOnly
		st.Degraded = true
		st.Problems = append(st.Problems, e.readOnlyError().Error())
	}
	return st
}
