package fs

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/profile"
)

func idOf(t *testing.T, path string) FileID {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return FileID{Dev: st.Dev, Ino: st.Ino}
}

func symlink(t *testing.T, text, path string) {
	t.Helper()
	if err := os.Symlink(text, path); err != nil {
		t.Fatal(err)
	}
}

// resolveSource resolves as the kernel does, through descriptors.
func TestResolveSource(t *testing.T) {
	root := hostTree(t)                         // dir/, dir/inner, file, linkdir -> dir
	symlink(t, root+"/dir", root+"/abs")        // absolute link
	symlink(t, "../dir/inner", root+"/dir/up")  // relative, through ..
	symlink(t, "../linkdir", root+"/dir/updir") // to another link
	symlink(t, "loop", root+"/loop")
	symlink(t, "missing", root+"/dangling")
	tests := []struct {
		name, path string
		want       string // resolved path ("" when an error is expected)
		link       string // the source is this symlink, not followed
		links      int    // symlinks followed
		dir        bool
		err        error
	}{
		{name: "directory", path: root + "/dir", want: root + "/dir", dir: true},
		{name: "file", path: root + "/file", want: root + "/file"},
		{name: "root", path: "/", want: "/", dir: true},
		{name: "unclean", path: root + "//dir/./../dir/", want: root + "/dir", dir: true},
		{name: "link in a parent", path: root + "/linkdir/inner", want: root + "/dir/inner", links: 1},
		{name: "absolute link in a parent", path: root + "/abs/inner", want: root + "/dir/inner", links: 1},
		{name: "dot-dot after a link is the link target's parent", path: root + "/linkdir/../file", want: root + "/file", links: 1},
		{name: "relative link with dot-dot", path: root + "/linkdir/up/", err: unix.ENOTDIR},
		{name: "a link through a link", path: root + "/linkdir/up", want: root + "/dir/up", link: "../dir/inner", links: 1},
		{name: "three links", path: root + "/linkdir/updir/up", want: root + "/dir/up", link: "../dir/inner", links: 3},
		{name: "three links, the last followed", path: root + "/linkdir/updir/updir/up/.", err: unix.ENOTDIR},
		{name: "a chain of links", path: root + "/linkdir/updir/inner", want: root + "/dir/inner", links: 3},
		{name: "last component a link", path: root + "/linkdir", want: root + "/linkdir", link: "dir"},
		{name: "trailing slash follows the last link", path: root + "/linkdir/", want: root + "/dir", dir: true, links: 1},
		{name: "dangling link, not followed", path: root + "/dangling", want: root + "/dangling", link: "missing"},
		{name: "dangling link, followed", path: root + "/dangling/x", err: unix.ENOENT},
		{name: "missing", path: root + "/missing", err: unix.ENOENT},
		{name: "below a file", path: root + "/file/x", err: unix.ENOTDIR},
		{name: "file with a trailing slash", path: root + "/file/", err: unix.ENOTDIR},
		{name: "loop", path: root + "/loop/x", err: unix.ELOOP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, err := resolveSource(tc.path)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("resolveSource(%q) = %+v, %v; want %v", tc.path, src, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolveSource(%q): %v", tc.path, err)
			}
			if src.path != tc.want || src.link != tc.link || src.isDir != tc.dir || len(src.links) != tc.links {
				t.Errorf("resolveSource(%q) = path %q link %q dir %v, %d links followed; want %q %q %v %d",
					tc.path, src.path, src.link, src.isDir, len(src.links), tc.want, tc.link, tc.dir, tc.links)
			}
			if tc.link == "" && src.id != idOf(t, tc.want) {
				t.Errorf("id %+v, want %+v", src.id, idOf(t, tc.want))
			}
			if n := len(src.dirs); n == 0 || src.dirs[0] != idOf(t, "/") {
				t.Errorf("dirs %+v do not start at /", src.dirs)
			}
		})
	}
}

// A source reached through a symlink that lies inside a writable bind of
// the same profile is refused: an earlier run (here: the test) replaced
// sub with a link to a directory outside, to choose what /data mounts.
func TestCompileRefusesPlantedLink(t *testing.T) {
	root := hostTree(t)
	proj := root + "/proj"
	outside := root + "/outside"
	for _, d := range []string{proj, proj + "/real", proj + "/real/data", outside, outside + "/data"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	symlink(t, outside, proj+"/sub")   // planted: leads out of the writable bind
	symlink(t, "real", proj+"/inside") // stays inside it: nothing gained
	symlink(t, proj, root+"/projlink") // another path to the writable directory
	bind := func(src, dst string, rw bool, line int) profile.Mount {
		return profile.Mount{Type: profile.Bind, Source: src, Target: dst, RW: rw, Line: line}
	}
	tests := []struct {
		name   string
		mounts []profile.Mount
		bad    int // index of the refused mount, -1 for none
	}{
		{"link in the writable bind", []profile.Mount{bind(proj, proj, true, 1), bind(proj+"/sub/data", "/data", false, 5)}, 1},
		{"writable bind listed after", []profile.Mount{bind(proj+"/sub/data", "/data", false, 1), bind(proj, "/p", true, 5)}, 0},
		{"writable bind named through another path", []profile.Mount{bind(root+"/projlink/", "/p", true, 1), bind(proj+"/sub/data", "/data", true, 5)}, 1},
		{"link staying inside the writable bind", []profile.Mount{bind(proj, proj, true, 1), bind(proj+"/inside/data", "/data", false, 5)}, -1},
		{"same link, bind read-only", []profile.Mount{bind(proj, proj, false, 1), bind(proj+"/sub/data", "/data", false, 5)}, -1},
		{"link outside any writable bind", []profile.Mount{bind(proj, proj, true, 1), bind(root+"/linkdir/inner", "/i", false, 5)}, -1},
		{"the source is the link itself", []profile.Mount{bind(proj, proj, true, 1), bind(proj+"/sub", "/s", false, 5)}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &profile.Profile{File: "t.toml", Mounts: tc.mounts}
			spec, err := Compile(p)
			if tc.bad < 0 {
				if err != nil {
					t.Fatalf("Compile: %v", err)
				}
				return
			}
			var pe *profile.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Compile = %+v, %v; want a *profile.Error", spec.Ops, err)
			}
			m := tc.mounts[tc.bad]
			key := fmt.Sprintf("mount[%d].source", tc.bad)
			if pe.File != "t.toml" || pe.Line != m.Line || pe.Key != key {
				t.Errorf("error at %s line %d key %s, want t.toml line %d key %s", pe.File, pe.Line, pe.Key, m.Line, key)
			}
			for _, want := range []string{proj + "/sub/data", "symlink " + proj + "/sub", "writable bind", outside + "/data"} {
				if !strings.Contains(pe.Msg, want) {
					t.Errorf("message %q does not name %q", pe.Msg, want)
				}
			}
		})
	}
}
