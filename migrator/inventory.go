package migrator

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/zchaos/zchaos/zinit"
)

// Inventory is every file of a legacy config directory: the ones that
// parsed (with their dialect and role) and the ones that did not.
type Inventory struct {
	// Dir labels the directory in file names ("Dir/name.toml").
	Dir string `json:"dir"`
	// Files are the parsed files, sorted by file name.
	Files []*Legacy `json:"files"`
	// Errors are the files that could not be parsed, one each.
	Errors []*zinit.ConfigError `json:"-"`
	// Ignored lists files with no config extension (not read).
	Ignored []string `json:"ignored,omitempty"`
}

// LoadDir loads the legacy config directory dir (see Load), through
// DirFS: a FIFO, a device or an oversized file among its files is one
// file's error, read without blocking.
func LoadDir(dir string) (*Inventory, error) {
	return Load(DirFS(dir), dir)
}

// MaxConfigFileBytes bounds one legacy config file: the daemon's request
// limit, as the reference zinit holds its own *.toml files to it (a
// definition that cannot travel as one request cannot be migrated).
const MaxConfigFileBytes = zinit.MaxRequestBytes

// DirFS is the file system of a legacy config dir on this machine, for
// Load: like os.DirFS, but it opens files without blocking (O_NONBLOCK)
// and reads only regular files of at most MaxConfigFileBytes
// (zinit.ReadRegularFile), so a FIFO or a device in the dir is an error of
// its own, never a hang. Its errors name the paths under dir as given.
func DirFS(dir string) fs.FS { return regularDirFS(dir) }

type regularDirFS string

func (d regularDirFS) join(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return filepath.Join(string(d), filepath.FromSlash(name)), nil
}

// Open opens a directory or a regular file; anything else is an error
// wrapping zinit.ErrNotRegular, found without blocking.
func (d regularDirFS) Open(name string) (fs.File, error) {
	full, err := d.join("open", name)
	if err != nil {
		return nil, err
	}
	return openRegular(full, true)
}

func (d regularDirFS) ReadDir(name string) ([]fs.DirEntry, error) {
	full, err := d.join("readdir", name)
	if err != nil {
		return nil, err
	}
	return os.ReadDir(full)
}

func (d regularDirFS) ReadFile(name string) ([]byte, error) {
	full, err := d.join("read", name)
	if err != nil {
		return nil, err
	}
	return zinit.ReadRegularFile(full, MaxConfigFileBytes)
}

// Load reads every *.toml, *.yaml and *.yml file at the top of fsys, as
// zinit does (subdirectories and dot files are skipped). label prefixes
// file names in the inventory and in errors. A file that does not parse is
// recorded in Inventory.Errors and does not stop the others; the returned
// error is only for a directory that cannot be read (a *zinit.ConfigError).
func Load(fsys fs.FS, label string) (*Inventory, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, &zinit.ConfigError{File: label, Err: fmt.Errorf("read legacy config dir: %w", fileCause(err))}
	}
	inv := &Inventory{Dir: label}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		switch strings.ToLower(path.Ext(name)) {
		case ".toml", ".yaml", ".yml":
			names = append(names, name)
		default:
			inv.Ignored = append(inv.Ignored, path.Join(filepath.ToSlash(label), name))
		}
	}
	// Parse in parallel (large fleets): each worker owns a stride of the
	// results; Load waits for all of them.
	type result struct {
		l   *Legacy
		err *zinit.ConfigError
	}
	results := make([]result, len(names))
	workers := min(runtime.GOMAXPROCS(0), len(names)/64+1)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(names); i += workers {
				results[i].l, results[i].err = loadOne(fsys, label, names[i])
			}
		}()
	}
	wg.Wait()
	for _, r := range results {
		if r.err != nil {
			inv.Errors = append(inv.Errors, r.err)
		} else {
			inv.Files = append(inv.Files, r.l)
		}
	}
	sort.Slice(inv.Files, func(i, j int) bool { return inv.Files[i].File < inv.Files[j].File })
	return inv, nil
}

// loadOne reads and parses one file of fsys.
func loadOne(fsys fs.FS, label, name string) (*Legacy, *zinit.ConfigError) {
	display := path.Join(filepath.ToSlash(label), name)
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, &zinit.ConfigError{File: display, Err: fileCause(err)}
	}
	l, err := parseFile(display, data)
	if err != nil {
		var ce *zinit.ConfigError
		if !errors.As(err, &ce) {
			ce = &zinit.ConfigError{File: display, Err: err}
		}
		return nil, ce
	}
	return l, nil
}

// analysis is the cross-file view shared by Lint and BuildPlan.
type analysis struct {
	inv      *Inventory
	pol      Policy
	byName   map[string][]*Legacy // every file claiming a name
	services []*Legacy            // RoleService, first file per name, sorted by name
	health   map[string][]*Legacy // checked service → its health files
	orphans  []*Legacy            // health files whose service is unknown
	cycles   [][]string           // each cycle once, as a path a → b → … → a
	probes   map[*Legacy]probeResult
}

func analyse(inv *Inventory, pol Policy) *analysis {
	a := &analysis{inv: inv, pol: pol, byName: map[string][]*Legacy{}, health: map[string][]*Legacy{},
		probes: map[*Legacy]probeResult{}}
	for _, l := range inv.Files {
		a.byName[l.Name] = append(a.byName[l.Name], l)
	}
	for _, l := range inv.Files {
		if a.byName[l.Name][0] != l {
			continue
		}
		if l.Role == RoleService {
			a.services = append(a.services, l)
		}
	}
	sort.Slice(a.services, func(i, j int) bool { return a.services[i].Name < a.services[j].Name })
	for _, l := range inv.Files {
		if l.Role != RoleHealth || a.byName[l.Name][0] != l {
			continue
		}
		target := l.After[0]
		if t := a.service(target); t != nil {
			a.health[target] = append(a.health[target], l)
		} else {
			a.orphans = append(a.orphans, l)
		}
	}
	a.cycles = findCycles(a.services, a.service)
	return a
}

// service is the (first) service file named name, or nil.
func (a *analysis) service(name string) *Legacy {
	ls := a.byName[name]
	if len(ls) == 0 || ls[0].Role != RoleService {
		return nil
	}
	return ls[0]
}

// known reports whether name is any legacy unit (service or health file).
func (a *analysis) known(name string) bool { return len(a.byName[name]) > 0 }

// findCycles returns each dependency cycle once (Tarjan's SCCs of size > 1,
// plus self-loops), each as a path starting at its smallest name.
func findCycles(svcs []*Legacy, lookup func(string) *Legacy) [][]string {
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var out [][]string
	next := 0
	var strong func(n string)
	strong = func(n string) {
		index[n], low[n] = next, next
		next++
		stack = append(stack, n)
		onStack[n] = true
		for _, d := range lookup(n).After {
			if lookup(d) == nil {
				continue
			}
			if _, seen := index[d]; !seen {
				strong(d)
				low[n] = min(low[n], low[d])
			} else if onStack[d] {
				low[n] = min(low[n], index[d])
			}
		}
		if low[n] == index[n] {
			var comp []string
			for {
				m := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[m] = false
				comp = append(comp, m)
				if m == n {
					break
				}
			}
			self := false
			for _, d := range lookup(n).After {
				if d == n {
					self = true
				}
			}
			if len(comp) > 1 || self {
				out = append(out, cyclePath(comp, lookup))
			}
		}
	}
	for _, s := range svcs {
		if _, seen := index[s.Name]; !seen {
			strong(s.Name)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// cyclePath finds the shortest cycle through the smallest name of a
// strongly connected component (breadth-first, names in order).
func cyclePath(comp []string, lookup func(string) *Legacy) []string {
	in := map[string]bool{}
	for _, c := range comp {
		in[c] = true
	}
	sort.Strings(comp)
	start := comp[0]
	parent := map[string]string{}
	queue := []string{start}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		deps := append([]string(nil), lookup(cur).After...)
		sort.Strings(deps)
		for _, d := range deps {
			if d == start {
				p := []string{start}
				for n := cur; n != start; n = parent[n] {
					p = append(p, n)
				}
				p = append(p[:1], reversed(p[1:])...)
				return append(p, start)
			}
			if _, seen := parent[d]; in[d] && !seen {
				parent[d] = cur
				queue = append(queue, d)
			}
		}
	}
	return append(comp, start) // unreachable for a real component
}

func reversed(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}
