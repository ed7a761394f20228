package migrator_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/migrator"
	"github.com/zchaos/zchaos/zinit"
)

// nastyNames are file names a config dir may hold that break naive shell
// scripts and line-based parsing.
var nastyNames = []string{
	"plain.toml",
	"with space.toml",
	"it's \"quoted\".toml",
	"new\nline.toml",
	"-leading-dash.toml",
	"$(touch pwned) `x` ; rm -rf.toml",
	"back\\slash\\n.toml",
	"tab\tand *glob?.toml",
	" trailing space ",
	".hidden",
	"ünïcödé.toml",
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// countingFS gives each file system under test with a count of the
// processes it ran (always 0 for LocalFS).
func batchFileSystems() map[string]func() (migrator.FileSystem, *atomic.Int64) {
	return map[string]func() (migrator.FileSystem, *atomic.Int64){
		"local": func() (migrator.FileSystem, *atomic.Int64) { return migrator.LocalFS{}, &atomic.Int64{} },
		"shell": func() (migrator.FileSystem, *atomic.Int64) {
			n := &atomic.Int64{}
			return migrator.ShellFS{Exec: func(ctx context.Context, argv []string) ([]byte, []byte, int, error) {
				n.Add(1)
				return localExec(ctx, argv)
			}}, n
		},
	}
}

// A full backup, move and restore of nasty names: byte-exact, modes kept,
// checksums right, one process per phase for the shell.
func TestBatchFilesNastyNames(t *testing.T) {
	for name, mk := range batchFileSystems() {
		t.Run(name, func(t *testing.T) {
			fs, execs := mk()
			ctx := context.Background()
			root := t.TempDir()
			cfg := filepath.Join(root, "cfg dir")
			require.NoError(t, os.Mkdir(cfg, 0o755))
			want := map[string][]byte{}
			for i, n := range nastyNames {
				b := []byte("content of " + n + "\n\x00binary\xff" + string(rune('a'+i)))
				want[n] = b
				require.NoError(t, os.WriteFile(filepath.Join(cfg, n), b, os.FileMode(0o600+i%2*0o040)))
			}
			canary := filepath.Join(cfg, "pwned")
			bdir := filepath.Join(root, "backup 'x'", "files")

			sums, err := fs.BackupFiles(ctx, cfg, bdir, nastyNames)
			require.NoError(t, err)
			require.Len(t, sums, len(nastyNames))
			for i, s := range sums {
				assert.Equal(t, nastyNames[i], s.Name)
				assert.Equal(t, hexSum(want[s.Name]), s.SHA256, "%q", s.Name)
			}
			assert.Equal(t, want, readDir(t, bdir))
			for i, n := range nastyNames {
				fi, err := os.Stat(filepath.Join(bdir, n))
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o600+i%2*0o040), fi.Mode().Perm(), "mode of %q kept", n)
			}
			again, err := fs.SumFiles(ctx, bdir, nastyNames)
			require.NoError(t, err)
			assert.Equal(t, sums, again)

			moved := filepath.Join(root, "moved")
			n, err := fs.MoveFiles(ctx, cfg, moved, nastyNames)
			require.NoError(t, err)
			assert.Equal(t, len(nastyNames), n)
			assert.Empty(t, readDir(t, cfg))
			assert.Equal(t, want, readDir(t, moved))

			// One file back already (skipped), one different file in the way
			// (displaced), the rest missing (restored).
			require.NoError(t, os.WriteFile(filepath.Join(cfg, nastyNames[1]), want[nastyNames[1]], 0o600))
			require.NoError(t, os.WriteFile(filepath.Join(cfg, nastyNames[3]), []byte("in the way"), 0o600))
			disp := filepath.Join(root, "displaced")
			res, err := fs.RestoreFiles(ctx, bdir, cfg, disp, sums)
			require.NoError(t, err)
			require.Len(t, res, len(nastyNames))
			for i, r := range res {
				assert.Equal(t, nastyNames[i], r.Name)
				assert.Equal(t, i == 1, r.Skipped, "%q", r.Name)
				assert.Equal(t, i == 3, r.Displaced, "%q", r.Name)
			}
			assert.Equal(t, want, readDir(t, cfg), "restored byte for byte")
			assert.Equal(t, map[string][]byte{nastyNames[3]: []byte("in the way")}, readDir(t, disp))
			assert.NoFileExists(t, canary, "no name was run as a command")
			if name == "shell" {
				assert.Equal(t, int64(4), execs.Load(), "one process per batch: backup, sum, move, restore")
			}
		})
	}
}

// A failure in the middle of a batch stops it there, names the file and
// returns what was done before; nothing after it is touched.
func TestBatchFilesFailInTheMiddle(t *testing.T) {
	for name, mk := range batchFileSystems() {
		t.Run(name, func(t *testing.T) {
			fs, _ := mk()
			ctx := context.Background()
			root := t.TempDir()
			cfg := filepath.Join(root, "cfg")
			require.NoError(t, os.Mkdir(cfg, 0o755))
			names := []string{"a.toml", "b\nmid.toml", "c.toml"}
			for _, n := range []string{names[0], names[2]} {
				require.NoError(t, os.WriteFile(filepath.Join(cfg, n), []byte(n), 0o600))
			}

			// Backup: the middle file is missing.
			bdir := filepath.Join(root, "b", "files")
			sums, err := fs.BackupFiles(ctx, cfg, bdir, names)
			var fe *migrator.FileError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, migrator.ActionBackup, fe.Op)
			assert.Equal(t, names[1], fe.Name)
			assert.Equal(t, []migrator.FileSum{{Name: names[0], SHA256: hexSum([]byte(names[0]))}}, sums)
			assert.NoFileExists(t, filepath.Join(bdir, names[2]), "nothing after the failure")

			// Move: the middle file's target already exists.
			require.NoError(t, os.WriteFile(filepath.Join(cfg, names[1]), []byte("mid"), 0o600))
			moved := filepath.Join(root, "moved")
			require.NoError(t, os.MkdirAll(moved, 0o700))
			require.NoError(t, os.WriteFile(filepath.Join(moved, names[1]), []byte("occupied"), 0o600))
			n, err := fs.MoveFiles(ctx, cfg, moved, names)
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, migrator.ActionMove, fe.Op)
			assert.Equal(t, names[1], fe.Name)
			assert.Equal(t, 1, n)
			assert.Equal(t, map[string][]byte{names[1]: []byte("mid"), names[2]: []byte(names[2])}, readDir(t, cfg), "never overwritten, rest untouched")
			assert.Equal(t, []byte("occupied"), readDir(t, moved)[names[1]])

			// Sum: the middle file is missing.
			_, err = fs.SumFiles(ctx, moved, []string{names[0], "gone", names[1]})
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, "gone", fe.Name)

			// Restore: the middle backup copy is corrupt (checksum mismatch).
			src := filepath.Join(root, "src")
			require.NoError(t, os.Mkdir(src, 0o700))
			files := make([]migrator.FileSum, len(names))
			for i, n := range names {
				require.NoError(t, os.WriteFile(filepath.Join(src, n), []byte("v-"+n), 0o600))
				files[i] = migrator.FileSum{Name: n, SHA256: hexSum([]byte("v-" + n))}
			}
			require.NoError(t, os.WriteFile(filepath.Join(src, names[1]), []byte("corrupt"), 0o600))
			dst := filepath.Join(root, "dst")
			res, err := fs.RestoreFiles(ctx, src, dst, filepath.Join(root, "disp"), files)
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, migrator.ActionRestore, fe.Op)
			assert.Equal(t, names[1], fe.Name)
			assert.Contains(t, fe.Error(), "checksum")
			assert.Equal(t, []migrator.RestoreResult{{Name: names[0]}}, res)
			assert.NoFileExists(t, filepath.Join(dst, names[2]))
		})
	}
}

// A dir that cannot be made fails before any file, naming no file.
func TestBatchFilesUnwritableDir(t *testing.T) {
	for name, mk := range batchFileSystems() {
		t.Run(name, func(t *testing.T) {
			fs, _ := mk()
			root := t.TempDir()
			blocker := filepath.Join(root, "not-a-dir")
			require.NoError(t, os.WriteFile(blocker, nil, 0o600))
			require.NoError(t, os.WriteFile(filepath.Join(root, "a"), []byte("a"), 0o600))
			sums, err := fs.BackupFiles(context.Background(), root, filepath.Join(blocker, "files"), []string{"a"})
			var fe *migrator.FileError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, migrator.ActionBackup, fe.Op)
			assert.Empty(t, fe.Name)
			assert.Empty(t, sums)

			_, err = fs.MoveFiles(context.Background(), root, filepath.Join(root, "m"), []string{"../a"})
			require.ErrorIs(t, err, zinit.ErrMalformed, "a path is not a file name")
			assert.FileExists(t, filepath.Join(root, "a"))
		})
	}
}
