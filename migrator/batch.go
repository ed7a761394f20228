package migrator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/zchaos/zchaos/zinit"
)

// Op names of FileError besides the Actions.
const opSum = "sha256"

// checkNames rejects a name that is not a plain file name.
func checkNames(op string, names []string) error {
	for _, n := range names {
		if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\x00") {
			return &FileError{Op: op, Name: n, Err: fmt.Errorf("%w: not a plain file name", zinit.ErrMalformed)}
		}
	}
	return nil
}

func fileSums(files []FileSum) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Name
	}
	return out
}

// ---- LocalFS ----

func (fs LocalFS) BackupFiles(ctx context.Context, srcDir, dstDir string, names []string) ([]FileSum, error) {
	if err := checkNames(ActionBackup, names); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dstDir, 0o700); err != nil {
		return nil, &FileError{Op: ActionBackup, Err: err}
	}
	out := make([]FileSum, 0, len(names))
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return out, &FileError{Op: ActionBackup, Name: n, Err: err}
		}
		src, dst := filepath.Join(srcDir, n), filepath.Join(dstDir, n)
		if err := fs.Copy(ctx, src, dst); err != nil {
			return out, &FileError{Op: ActionBackup, Name: n, Err: err}
		}
		s1, err1 := fs.Sum(ctx, src)
		s2, err2 := fs.Sum(ctx, dst)
		if err := errors.Join(err1, err2); err != nil {
			return out, &FileError{Op: ActionBackup, Name: n, Err: err}
		}
		if s1 != s2 {
			return out, &FileError{Op: ActionBackup, Name: n, Err: fmt.Errorf("copy of %s differs from the original", src)}
		}
		out = append(out, FileSum{Name: n, SHA256: s1})
	}
	return out, nil
}

func (fs LocalFS) MoveFiles(ctx context.Context, srcDir, dstDir string, names []string) (int, error) {
	if err := checkNames(ActionMove, names); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(dstDir, 0o700); err != nil {
		return 0, &FileError{Op: ActionMove, Err: err}
	}
	for i, n := range names {
		if err := ctx.Err(); err != nil {
			return i, &FileError{Op: ActionMove, Name: n, Err: err}
		}
		dst := filepath.Join(dstDir, n)
		if _, err := os.Lstat(dst); !errors.Is(err, os.ErrNotExist) {
			if err == nil {
				err = fmt.Errorf("%s exists", dst)
			}
			return i, &FileError{Op: ActionMove, Name: n, Err: err}
		}
		if err := fs.Move(ctx, filepath.Join(srcDir, n), dst); err != nil {
			return i, &FileError{Op: ActionMove, Name: n, Err: err}
		}
	}
	return len(names), nil
}

func (fs LocalFS) SumFiles(ctx context.Context, dir string, names []string) ([]FileSum, error) {
	if err := checkNames(opSum, names); err != nil {
		return nil, err
	}
	out := make([]FileSum, 0, len(names))
	for _, n := range names {
		s, err := fs.Sum(ctx, filepath.Join(dir, n))
		if err != nil {
			return out, &FileError{Op: opSum, Name: n, Err: err}
		}
		out = append(out, FileSum{Name: n, SHA256: s})
	}
	return out, nil
}

func (fs LocalFS) RestoreFiles(ctx context.Context, srcDir, dstDir, displacedDir string, files []FileSum) ([]RestoreResult, error) {
	if err := checkNames(ActionRestore, fileSums(files)); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dstDir, 0o700); err != nil {
		return nil, &FileError{Op: ActionRestore, Err: err}
	}
	out := make([]RestoreResult, 0, len(files))
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return out, &FileError{Op: ActionRestore, Name: f.Name, Err: err}
		}
		src, dst := filepath.Join(srcDir, f.Name), filepath.Join(dstDir, f.Name)
		r := RestoreResult{Name: f.Name}
		if _, err := os.Lstat(dst); err == nil {
			if sum, err := fs.Sum(ctx, dst); err == nil && sum == f.SHA256 {
				r.Skipped = true
				out = append(out, r)
				continue
			}
			if err := os.MkdirAll(displacedDir, 0o700); err != nil {
				return out, &FileError{Op: ActionDisplace, Name: f.Name, Err: err}
			}
			disp := filepath.Join(displacedDir, f.Name)
			if _, err := os.Lstat(disp); !errors.Is(err, os.ErrNotExist) {
				if err == nil {
					err = fmt.Errorf("%s exists", disp)
				}
				return out, &FileError{Op: ActionDisplace, Name: f.Name, Err: err}
			}
			if err := fs.Move(ctx, dst, disp); err != nil {
				return out, &FileError{Op: ActionDisplace, Name: f.Name, Err: err}
			}
			r.Displaced = true
		} else if !errors.Is(err, os.ErrNotExist) {
			return out, &FileError{Op: ActionRestore, Name: f.Name, Err: err}
		}
		if err := fs.Copy(ctx, src, dst); err != nil {
			return out, &FileError{Op: ActionRestore, Name: f.Name, Err: err}
		}
		sum, err := fs.Sum(ctx, dst)
		if err != nil {
			return out, &FileError{Op: ActionRestore, Name: f.Name, Err: err}
		}
		if sum != f.SHA256 {
			return out, &FileError{Op: ActionRestore, Name: f.Name, Err: fmt.Errorf("restored %s has checksum %s, want %s", dst, sum, f.SHA256)}
		}
		out = append(out, r)
	}
	return out, nil
}

// ---- ShellFS ----

// batchArgBudget bounds the bytes of per-item arguments given to one
// `sh -c` (well under Linux's ARG_MAX of 2 MiB, environment included); a
// larger batch runs as several scripts, one after the other.
const batchArgBudget = 512 << 10

// The batch scripts share one protocol: after the fixed arguments, the
// items follow as positional parameters (k words each, never spliced into
// the script). For each item done the script prints exactly one line
// starting with "ok" on stdout; at the first failure it prints one line
// "fail OP" (OP: the step that failed), explains on stderr and exits 1. A
// failure before the first item (the dir) prints "fail OP" too.
const batchPrelude = `fail() { printf 'fail %s\n' "$1"; shift; if [ $# -gt 0 ]; then printf '%s\n' "$*" >&2; fi; exit 1; }
mkdst() { ( umask 077 && mkdir -p -- "$1" ) || fail "$2"; [ -d "$1" ] && [ -w "$1" ] || fail "$2" "$1 is not a writable dir"; }
sum() { _s=$(sha256sum < "$1") || return 1; _s=${_s%% *}; [ ${#_s} -eq 64 ] || return 1; printf '%s' "$_s"; }
`

// runBatch runs script over items (each k words) in chunks within
// batchArgBudget and returns the words after "ok" of each item's line, in
// order. A failure becomes a *FileError naming its item (by nameOf) or
// the dir.
func (s ShellFS) runBatch(ctx context.Context, op, script string, fixed []string, items [][]string, nameOf func(i int) string) ([][]string, error) {
	var results [][]string
	for start := 0; start < len(items) || (start == 0 && len(items) == 0); {
		end, size := start, 0
		for end < len(items) {
			n := 0
			for _, w := range items[end] {
				n += len(w) + 1
			}
			if end > start && size+n > batchArgBudget {
				break
			}
			size += n
			end++
		}
		argv := append([]string{"sh", "-c", batchPrelude + script, "sh"}, fixed...)
		for _, it := range items[start:end] {
			argv = append(argv, it...)
		}
		out, errOut, code, err := s.Exec(ctx, argv)
		if err != nil {
			name := ""
			if start < len(items) {
				name = nameOf(start)
			}
			return results, &FileError{Op: op, Name: name, Err: err}
		}
		lines := strings.Split(string(out), "\n")
		if len(lines) > 0 && lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		} else if len(out) > 0 {
			return results, &FileError{Op: op, Err: fmt.Errorf("unterminated output %q", out)}
		}
		done := 0
		for li, l := range lines {
			f := strings.Fields(l)
			switch {
			case len(f) >= 1 && f[0] == "ok" && start+done < end:
				results = append(results, f[1:])
				done++
			case len(f) == 2 && f[0] == "fail" && li == len(lines)-1 && code != 0:
				msg := strings.TrimSpace(string(errOut))
				if msg == "" {
					msg = fmt.Sprintf("exit %d", code)
				}
				op, name := f[1], ""
				if !strings.HasSuffix(op, "-dir") && start+done < end {
					name = nameOf(start + done)
				}
				return results, &FileError{Op: strings.TrimSuffix(op, "-dir"), Name: name, Err: errors.New(msg)}
			default:
				name := ""
				if start+done < end {
					name = nameOf(start + done)
				}
				return results, &FileError{Op: op, Name: name, Err: fmt.Errorf("unexpected output line %q (exit %d: %s)", l, code, strings.TrimSpace(string(errOut)))}
			}
		}
		if code != 0 || done != end-start {
			name := ""
			if start+done < end {
				name = nameOf(start + done)
			}
			return results, &FileError{Op: op, Name: name, Err: fmt.Errorf("%d of %d items done, exit %d: %s", done, end-start, code, strings.TrimSpace(string(errOut)))}
		}
		start = end
		if len(items) == 0 {
			break
		}
	}
	return results, nil
}

func wordsOf(names []string) [][]string {
	items := make([][]string, len(names))
	for i, n := range names {
		items[i] = []string{n}
	}
	return items
}

const backupScript = `src=$1 dst=$2; shift 2
mkdst "$dst" backup-dir
for n do
	d=$dst/$n
	if [ -e "$d" ] || [ -L "$d" ]; then fail backup "$d exists"; fi
	cp -p -- "$src/$n" "$d" || fail backup
	a=$(sum "$src/$n") || fail backup "cannot checksum $src/$n"
	b=$(sum "$d") || fail backup "cannot checksum $d"
	[ "$a" = "$b" ] || fail backup "copy of $src/$n differs from the original"
	printf 'ok %s\n' "$a"
done
`

func (s ShellFS) BackupFiles(ctx context.Context, srcDir, dstDir string, names []string) ([]FileSum, error) {
	if err := checkNames(ActionBackup, names); err != nil {
		return nil, err
	}
	res, err := s.runBatch(ctx, ActionBackup, backupScript, []string{srcDir, dstDir}, wordsOf(names), func(i int) string { return names[i] })
	out, perr := sumsOf(ActionBackup, names, res)
	return out, cmp.Or(err, perr)
}

// sumsOf parses each result as one checksum.
func sumsOf(op string, names []string, res [][]string) ([]FileSum, error) {
	out := make([]FileSum, 0, len(res))
	for i, r := range res {
		if len(r) != 1 || !isHexSum(r[0]) {
			return out, &FileError{Op: op, Name: names[i], Err: fmt.Errorf("unexpected checksum %q", strings.Join(r, " "))}
		}
		out = append(out, FileSum{Name: names[i], SHA256: r[0]})
	}
	return out, nil
}

func isHexSum(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

const moveScript = `src=$1 dst=$2; shift 2
mkdst "$dst" move-dir
for n do
	d=$dst/$n
	if [ -e "$d" ] || [ -L "$d" ]; then fail move "$d exists"; fi
	mv -- "$src/$n" "$d" || fail move
	echo ok
done
`

func (s ShellFS) MoveFiles(ctx context.Context, srcDir, dstDir string, names []string) (int, error) {
	if err := checkNames(ActionMove, names); err != nil {
		return 0, err
	}
	res, err := s.runBatch(ctx, ActionMove, moveScript, []string{srcDir, dstDir}, wordsOf(names), func(i int) string { return names[i] })
	return len(res), err
}

const sumScript = `dir=$1; shift
for n do
	a=$(sum "$dir/$n") || fail sha256 "cannot checksum $dir/$n"
	printf 'ok %s\n' "$a"
done
`

func (s ShellFS) SumFiles(ctx context.Context, dir string, names []string) ([]FileSum, error) {
	if err := checkNames(opSum, names); err != nil {
		return nil, err
	}
	res, err := s.runBatch(ctx, opSum, sumScript, []string{dir}, wordsOf(names), func(i int) string { return names[i] })
	out, perr := sumsOf(opSum, names, res)
	return out, cmp.Or(err, perr)
}

const restoreScript = `src=$1 dst=$2 disp=$3; shift 3
mkdst "$dst" restore-dir
while [ $# -ge 2 ]; do
	n=$1 want=$2; shift 2
	d=$dst/$n how=restored
	if [ -e "$d" ] || [ -L "$d" ]; then
		if have=$(sum "$d" 2>/dev/null) && [ "$have" = "$want" ]; then echo ok skipped; continue; fi
		mkdst "$disp" displace
		if [ -e "$disp/$n" ] || [ -L "$disp/$n" ]; then fail displace "$disp/$n exists"; fi
		mv -- "$d" "$disp/$n" || fail displace
		how=displaced
	fi
	cp -p -- "$src/$n" "$d" || fail restore
	have=$(sum "$d") || fail restore "cannot checksum $d"
	[ "$have" = "$want" ] || fail restore "restored $d has checksum $have, want $want"
	printf 'ok %s\n' "$how"
done
`

func (s ShellFS) RestoreFiles(ctx context.Context, srcDir, dstDir, displacedDir string, files []FileSum) ([]RestoreResult, error) {
	if err := checkNames(ActionRestore, fileSums(files)); err != nil {
		return nil, err
	}
	items := make([][]string, len(files))
	for i, f := range files {
		if !isHexSum(f.SHA256) {
			return nil, &FileError{Op: ActionRestore, Name: f.Name, Err: fmt.Errorf("%w: checksum %q", zinit.ErrMalformed, f.SHA256)}
		}
		items[i] = []string{f.Name, f.SHA256}
	}
	res, err := s.runBatch(ctx, ActionRestore, restoreScript, []string{srcDir, dstDir, displacedDir}, items, func(i int) string { return files[i].Name })
	out := make([]RestoreResult, 0, len(res))
	for i, r := range res {
		rr := RestoreResult{Name: files[i].Name}
		switch strings.Join(r, " ") {
		case "skipped":
			rr.Skipped = true
		case "displaced":
			rr.Displaced = true
		case "restored":
		default:
			return out, &FileError{Op: ActionRestore, Name: files[i].Name, Err: fmt.Errorf("unexpected result %q", strings.Join(r, " "))}
		}
		out = append(out, rr)
	}
	return out, err
}
