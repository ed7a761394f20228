package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/zchaos/zchaos/zinit"
)

// StateFileName is the file in the state dir that holds persisted services.
const StateFileName = "services.json"

const stateFileVersion = 1

type stateFile struct {
	Version  int                `json:"version"`
	Services []persistedService `json:"services"`
}

type persistedService struct {
	Service zinit.Service `json:"service"`
	Jobs    []zinit.Job   `json:"jobs"`
}

// savePersisted writes every persisted service with its persisted jobs to
// the state dir atomically: a temp file in the same dir, fsync, rename,
// fsync of the dir. A no-op without a state dir.
func (e *Engine) savePersisted() error {
	if e.stateDir == "" {
		return nil
	}
	sf := stateFile{Version: stateFileVersion, Services: []persistedService{}}
	for _, n := range e.names {
		s := e.services[n]
		if !s.def.Persist || s.legacy != nil {
			continue
		}
		ps := persistedService{Service: s.def, Jobs: []zinit.Job{}}
		for _, j := range s.jobs {
			if j.def.Persist {
				ps.Jobs = append(ps.Jobs, j.def)
			}
		}
		sf.Services = append(sf.Services, ps)
	}
	data, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return fmt.Errorf("persist: %w", err)
	}
	return writeAtomic(filepath.Join(e.stateDir, StateFileName), append(data, '\n'))
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
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// loadPersisted reads the state file; a missing file is an empty list, a
// broken one is logged and ignored.
func (e *Engine) loadPersisted() []persistedService {
	if e.stateDir == "" {
		return nil
	}
	path := filepath.Join(e.stateDir, StateFileName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		e.log.Error("read persisted services", "file", path, "err", err)
		return nil
	}
	var sf stateFile
	if err := json.Unmarshal(data, &sf); err != nil {
		e.log.Error("read persisted services", "file", path, "err", err)
		return nil
	}
	if sf.Version != stateFileVersion {
		e.log.Error("read persisted services: unknown version", "file", path, "version", sf.Version)
		return nil
	}
	return sf.Services
}

// restore re-creates one persisted service and its jobs (not started).
func (e *Engine) restore(ps persistedService) error {
	ps.Service.Persist = true
	if err := ps.Service.Validate(); err != nil {
		return err
	}
	if _, ok := e.services[ps.Service.Name]; ok {
		return fmt.Errorf("service %q: %w", ps.Service.Name, zinit.ErrAlreadyExists)
	}
	s := newService(ps.Service)
	for _, j := range ps.Jobs {
		j.Service, j.Persist = ps.Service.Name, true
		if err := j.Validate(); err != nil {
			e.log.Error("restore persisted job", "service", j.Service, "job", j.Name, "err", err)
			continue
		}
		if s.job(j.Name) != nil || (j.Trigger == zinit.TriggerStart && s.startJob() != nil) {
			e.log.Error("restore persisted job: duplicate", "service", j.Service, "job", j.Name)
			continue
		}
		s.jobs = append(s.jobs, &job{def: j})
	}
	e.insert(s)
	return nil
}
