package fs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/profile"
)

// hostTree creates, under a temporary directory:
//
//	dir/            a directory
//	dir/inner       a regular file
//	file            a regular file
//	linkdir -> dir  a symlink to a directory
//
// and returns the directory's path with its own symlinks resolved (t.TempDir
// may itself live below a symlink).
func hostTree(t *testing.T) string {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"dir/inner", "file"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("dir", filepath.Join(root, "linkdir")); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestCompile(t *testing.T) {
	root := hostTree(t)
	tests := []struct {
		name   string
		mounts []profile.Mount
		want   []Op
	}{
		{
			name:   "empty",
			mounts: nil,
			want:   nil,
		},
		{
			name: "bind dir read-only",
			mounts: []profile.Mount{
				{Type: profile.Bind, Source: root + "/dir", Target: "/d", Line: 3},
			},
			want: []Op{{Kind: OpBind, Source: root + "/dir", Target: "/d", IsDir: true, Where: "mount[0]"}},
		},
		{
			name: "bind file rw",
			mounts: []profile.Mount{
				{Type: profile.Bind, Source: root + "/file", Target: "/f", RW: true, Line: 3},
			},
			want: []Op{{Kind: OpBind, Source: root + "/file", Target: "/f", RW: true, IsDir: false, Where: "mount[0]"}},
		},
		{
			name: "bind of a symlink becomes a symlink with the link text",
			mounts: []profile.Mount{
				{Type: profile.Bind, Source: root + "/linkdir", Target: root + "/linkdir", Line: 3},
			},
			want: []Op{{Kind: OpSymlink, Source: "dir", Target: root + "/linkdir", Where: "mount[0]"}},
		},
		{
			name: "relative link bound in another directory is pinned to its host target",
			mounts: []profile.Mount{
				{Type: profile.Bind, Source: root + "/linkdir", Target: "/l", Line: 3},
			},
			want: []Op{{Kind: OpSymlink, Source: root + "/dir", Target: "/l", Where: "mount[0]"}},
		},
		{
			name: "symlink in a parent component is resolved",
			mounts: []profile.Mount{
				{Type: profile.Bind, Source: root + "/linkdir/inner", Target: "/i", Line: 3},
			},
			want: []Op{{Kind: OpBind, Source: root + "/dir/inner", Target: "/i", Where: "mount[0]"}},
		},
		{
			name: "unclean source is cleaned",
			mounts: []profile.Mount{
				{Type: profile.Bind, Source: root + "/dir/../dir/", Target: "/d", Line: 3},
			},
			want: []Op{{Kind: OpBind, Source: root + "/dir", Target: "/d", IsDir: true, Where: "mount[0]"}},
		},
		{
			name: "missing optional source is skipped",
			mounts: []profile.Mount{
				{Type: profile.Bind, Source: root + "/missing", Target: "/m", Optional: true, Line: 3},
				{Type: profile.Bind, Source: root + "/missing/below", Target: "/mb", Optional: true, Line: 8},
				{Type: profile.Bind, Source: root + "/dir", Target: "/d", Line: 13},
			},
			want: []Op{{Kind: OpBind, Source: root + "/dir", Target: "/d", IsDir: true, Where: "mount[2]"}},
		},
		{
			name: "present optional source is bound",
			mounts: []profile.Mount{
				{Type: profile.Bind, Source: root + "/dir", Target: "/d", Optional: true, RW: true, Line: 3},
			},
			want: []Op{{Kind: OpBind, Source: root + "/dir", Target: "/d", RW: true, IsDir: true, Where: "mount[0]"}},
		},
		{
			name: "non-bind ops carry their fields",
			mounts: []profile.Mount{
				{Type: profile.Tmpfs, Target: "/tmp", Size: 1 << 20, Mode: 0o1777, Line: 1},
				{Type: profile.Dir, Target: "/srv", Mode: 0o700, Line: 6},
				{Type: profile.Symlink, Source: "usr/bin", Target: "/bin", Line: 10},
				{Type: profile.File, Target: "/etc/hostname", Content: "jail\n", Mode: 0o644, Line: 14},
			},
			want: []Op{
				{Kind: OpTmpfs, Target: "/tmp", Size: 1 << 20, Mode: 0o1777, Where: "mount[0]"},
				{Kind: OpDir, Target: "/srv", Mode: 0o700, Where: "mount[1]"},
				{Kind: OpSymlink, Source: "usr/bin", Target: "/bin", Where: "mount[2]"},
				{Kind: OpFile, Target: "/etc/hostname", Content: "jail\n", Mode: 0o644, Where: "mount[3]"},
			},
		},
		{
			name: "a symlink op's source is not looked at on the host",
			mounts: []profile.Mount{
				{Type: profile.Symlink, Source: root + "/missing", Target: "/x", Line: 1},
			},
			want: []Op{{Kind: OpSymlink, Source: root + "/missing", Target: "/x", Where: "mount[0]"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &profile.Profile{File: "t.toml", Mounts: tc.mounts}
			spec, err := Compile(p)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if spec.DevShmSize != defaultDevShmSize {
				t.Errorf("DevShmSize = %d, want %d", spec.DevShmSize, defaultDevShmSize)
			}
			// Each bind carries the identity of what its source is now
			// (checked here, then left out of the comparison).
			for i, op := range spec.Ops {
				if op.Kind != OpBind {
					continue
				}
				var st unix.Stat_t
				if err := unix.Stat(op.Source, &st); err != nil {
					t.Fatal(err)
				}
				if op.ID != (FileID{Dev: st.Dev, Ino: st.Ino}) {
					t.Errorf("%s: ID %+v, want device %d inode %d", op.Where, op.ID, st.Dev, st.Ino)
				}
				spec.Ops[i].ID = FileID{}
			}
			if !reflect.DeepEqual(spec.Ops, tc.want) {
				t.Errorf("Ops:\n got  %+v\n want %+v", spec.Ops, tc.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	root := hostTree(t)
	tests := []struct {
		name   string
		mounts []profile.Mount
		want   []string // substrings of the error, one per expected *profile.Error
		keys   []string // their Key, in order
		lines  []int    // their Line, in order
	}{
		{
			name: "missing source",
			mounts: []profile.Mount{
				{Type: profile.Bind, Source: root + "/dir", Target: "/d", Line: 3},
				{Type: profile.Bind, Source: root + "/missing", Target: "/m", Line: 7},
			},
			want: []string{
				`profile "t.toml": line 7: mount[1].source: ` + root + "/missing: no such file or directory (set optional = true to skip a missing source)",
			},
			keys:  []string{"mount[1].source"},
			lines: []int{7},
		},
		{
			name: "missing source below a symlink",
			mounts: []profile.Mount{
				{Type: profile.Bind, Source: root + "/linkdir/missing", Target: "/m", Line: 2},
			},
			want: []string{
				`profile "t.toml": line 2: mount[0].source: ` + root + "/linkdir/missing: no such file or directory (set optional = true",
			},
			keys:  []string{"mount[0].source"},
			lines: []int{2},
		},
		{
			name: "source below a regular file",
			mounts: []profile.Mount{
				{Type: profile.Bind, Source: root + "/file/x", Target: "/m", Line: 2, Optional: true},
			},
			want: []string{
				`profile "t.toml": line 2: mount[0].source: ` + root + "/file/x: not a directory",
			},
			keys:  []string{"mount[0].source"},
			lines: []int{2},
		},
		{
			name: "every missing source is reported",
			mounts: []profile.Mount{
				{Type: profile.Bind, Source: root + "/a", Target: "/a", Line: 1},
				{Type: profile.Bind, Source: root + "/dir", Target: "/d", Line: 5},
				{Type: profile.Bind, Source: root + "/b", Target: "/b", Line: 9},
				{Type: profile.Bind, Source: root + "/c", Target: "/c", Line: 13, Optional: true},
				{Type: profile.Bind, Source: root + "/e", Target: "/e", Line: 17},
			},
			want: []string{
				`line 1: mount[0].source: ` + root + "/a: no such file or directory",
				`line 9: mount[2].source: ` + root + "/b: no such file or directory",
				`line 17: mount[4].source: ` + root + "/e: no such file or directory",
			},
			keys:  []string{"mount[0].source", "mount[2].source", "mount[4].source"},
			lines: []int{1, 9, 17},
		},
		{
			name: "unknown type",
			mounts: []profile.Mount{
				{Type: "overlay", Target: "/o", Line: 4},
			},
			want:  []string{`profile "t.toml": line 4: mount[0].type: unknown mount type "overlay"`},
			keys:  []string{"mount[0].type"},
			lines: []int{4},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &profile.Profile{File: "t.toml", Mounts: tc.mounts}
			_, err := Compile(p)
			if err == nil {
				t.Fatal("Compile: no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\n does not contain %q", err, w)
				}
			}
			var pe *profile.Error
			if !errors.As(err, &pe) {
				t.Fatalf("errors.As(*profile.Error) failed on %T", err)
			}
			if pe.File != "t.toml" || pe.Key != tc.keys[0] || pe.Line != tc.lines[0] {
				t.Errorf("first *profile.Error = %+v, want file t.toml key %s line %d", pe, tc.keys[0], tc.lines[0])
			}
			// errors.Join: one *profile.Error per failing entry, in order.
			var all []error
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				all = j.Unwrap()
			} else {
				all = []error{err}
			}
			if len(all) != len(tc.keys) {
				t.Fatalf("got %d errors, want %d: %v", len(all), len(tc.keys), err)
			}
			for i, e := range all {
				var pe *profile.Error
				if !errors.As(e, &pe) {
					t.Fatalf("error %d is %T, not *profile.Error", i, e)
				}
				if pe.Key != tc.keys[i] || pe.Line != tc.lines[i] {
					t.Errorf("error %d: key %q line %d, want %q line %d", i, pe.Key, pe.Line, tc.keys[i], tc.lines[i])
				}
			}
		})
	}
}

// The message names the source as written, not the *os.PathError's
// "lstat" prefix.
func TestCompileSourceMessage(t *testing.T) {
	root := hostTree(t)
	p := &profile.Profile{File: "t.toml", Mounts: []profile.Mount{
		{Type: profile.Bind, Source: root + "/missing", Target: "/m", Line: 1},
	}}
	_, err := Compile(p)
	if err == nil {
		t.Fatal("Compile: no error")
	}
	if strings.Contains(err.Error(), "lstat") {
		t.Errorf("error %q mentions the syscall", err)
	}
}
