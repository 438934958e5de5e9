package fs

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// plantLink makes a symbolic link as a sandbox would: owned by an id that
// is not root (when the test runs as root, the link is given to nobody).
func plantLink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		if err := os.Lchown(link, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
}

// victim is a file of the caller's outside the place a sandbox writes.
func victim(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(p, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func assertUnchanged(t *testing.T, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "precious\n" {
		t.Errorf("victim %s changed: %q, %v", p, b, err)
	}
}

// assertNewFile checks that p is a regular file of one name holding want.
func assertNewFile(t *testing.T, p, want string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 || int(st.Uid) != os.Getuid() {
		t.Errorf("%s: mode %o, %d names, uid %d: want a regular file of the caller's with one name", p, st.Mode, st.Nlink, st.Uid)
	}
	if b, _ := os.ReadFile(p); string(b) != want {
		t.Errorf("%s holds %q, want %q", p, b, want)
	}
}

// inTime fails the test if f does not return in time (a FIFO that blocks).
func inTime(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("blocked for 5s")
	}
}

func TestOutputReplacesWhatWasPlanted(t *testing.T) {
	cases := []struct {
		name  string
		plant func(t *testing.T, at, victim string)
	}{
		{"symlink to a file", func(t *testing.T, at, v string) { plantLink(t, v, at) }},
		{"dangling symlink", func(t *testing.T, at, v string) {
			os.Remove(v)
			plantLink(t, v, at)
		}},
		{"symlink in a symlinked chain", func(t *testing.T, at, v string) {
			plantLink(t, v, at+".2")
			plantLink(t, filepath.Base(at)+".2", at)
		}},
		{"hard link", func(t *testing.T, at, v string) {
			if err := os.Link(v, at); err != nil {
				t.Fatal(err)
			}
		}},
		{"fifo", func(t *testing.T, at, v string) {
			if err := unix.Mkfifo(at, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"regular file", func(t *testing.T, at, v string) {
			if err := os.WriteFile(at, []byte("old report, much longer than the new one\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		for _, how := range []string{"WriteFile", "Create"} {
			t.Run(tc.name+"/"+how, func(t *testing.T) {
				dir := t.TempDir()
				at := filepath.Join(dir, "report.json")
				v := victim(t)
				tc.plant(t, at, v)
				existed := true
				if _, err := os.Stat(v); err != nil {
					existed = false
				}
				// What a write through the path would have reached.
				if fa, err := os.Stat(at); err == nil && existed {
					fv, _ := os.Stat(v)
					harm := os.SameFile(fa, fv)
					if harm != (tc.name != "fifo" && tc.name != "regular file") {
						t.Fatalf("%s resolves to the victim: %v", at, harm)
					}
				} else if !existed {
					if l, _ := os.Readlink(at); l != v {
						t.Fatalf("%s points to %q, not the victim %s", at, l, v)
					}
				}
				inTime(t, func() {
					o, err := PrepareOutput(at)
					if err != nil {
						t.Error(err)
						return
					}
					defer o.Close()
					if how == "WriteFile" {
						err = o.WriteFile([]byte("new\n"))
					} else {
						var f *os.File
						if f, err = o.Create(); err == nil {
							_, err = f.WriteString("new\n")
							f.Close()
						}
					}
					if err != nil {
						t.Error(err)
					}
				})
				assertNewFile(t, at, "new\n")
				if existed {
					assertUnchanged(t, v)
				} else if _, err := os.Lstat(v); err == nil {
					t.Errorf("the dangling link's target %s was created", v)
				}
				ents, _ := os.ReadDir(dir)
				for _, e := range ents {
					if strings.Contains(e.Name(), ".jail-") {
						t.Errorf("temporary file %s left", e.Name())
					}
				}
			})
		}
	}
}

// TestOutputDirectoryHeld: the report is written in the directory resolved
// before the run, even when the sandbox then replaces that directory's
// path with a link to somewhere else.
func TestOutputDirectoryHeld(t *testing.T) {
	base := t.TempDir()
	out := filepath.Join(base, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	o, err := PrepareOutput(filepath.Join(out, "r.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	// The run: out moved away, a link in its place.
	if err := os.Rename(out, filepath.Join(base, "moved")); err != nil {
		t.Fatal(err)
	}
	plantLink(t, elsewhere, out)
	if err := o.WriteFile([]byte("r\n")); err != nil {
		t.Fatal(err)
	}
	assertNewFile(t, filepath.Join(base, "moved", "r.json"), "r\n")
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("written through the planted link: %v", ents)
	}
}

func TestOutputRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	plantLink(t, t.TempDir(), filepath.Join(dir, "linkdir"))
	cases := []struct{ path, want string }{
		{filepath.Join(dir, "d"), "is a directory"},
		{filepath.Join(dir, "d") + "/", "is a directory"},
		{dir + "/d/..", "is a directory"},
		{"/dev/zero", "is a character device"},
		{filepath.Join(dir, "linkdir", "r.json"), "is a symbolic link"},
		{filepath.Join(dir, "missing", "r.json"), "no such file"},
		{"", "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			o, err := PrepareOutput(tc.path)
			if err == nil {
				o.Close()
				t.Fatalf("PrepareOutput(%q) succeeded", tc.path)
			}
			if !strings.Contains(err.Error(), tc.want) || (tc.path != "" && !strings.Contains(err.Error(), tc.path)) {
				t.Errorf("error %q: want %q and the path", err, tc.want)
			}
		})
	}
	// A directory put at the name after the set-up: still an error.
	at := filepath.Join(dir, "late")
	o, err := PrepareOutput(at)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := os.Mkdir(at, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := o.WriteFile([]byte("x")); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("WriteFile over a directory: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		t.Errorf("left behind: %v", ents)
	}
}

func TestOutputNullDevice(t *testing.T) {
	f, err := CreateOutput("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("discarded"); err != nil {
		t.Error(err)
	}
	f.Close()
	var st unix.Stat_t
	if err := unix.Lstat("/dev/null", &st); err != nil || !isNullDevice(&st) {
		t.Fatalf("/dev/null is no longer the null device: %v", err)
	}
}

func TestInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(in, []byte("1 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v := victim(t)
	plantLink(t, v, filepath.Join(dir, "link"))
	plantLink(t, dir, filepath.Join(dir, "linkdir"))
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ path, want string }{
		{in, ""},
		{dir + "/./sub/../in.txt", "no such file"}, // "sub" is missing: resolved physically
		{dir + "/../" + filepath.Base(dir) + "/in.txt", ""},
		{"/dev/null", ""},
		{filepath.Join(dir, "link"), "is a symbolic link to " + v + " owned by uid"},
		{filepath.Join(dir, "linkdir", "in.txt"), "is a symbolic link"},
		{filepath.Join(dir, "fifo"), "is a FIFO"},
		{"/dev/zero", "is a character device"},
		{dir, "is a directory"},
		{filepath.Join(dir, "missing"), "no such file"},
		{filepath.Join(dir, "in.txt", "x"), "not a directory"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			inTime(t, func() {
				f, err := OpenInput(tc.path)
				if tc.want == "" {
					if err != nil {
						t.Error(err)
						return
					}
					defer f.Close()
					if fl, _ := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0); fl&unix.O_NONBLOCK != 0 {
						t.Error("O_NONBLOCK left set")
					}
					return
				}
				if err == nil {
					f.Close()
					t.Errorf("OpenInput(%q) succeeded", tc.path)
					return
				}
				if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
					t.Errorf("error %q: want %q and the path", err, tc.want)
				}
				var le *LinkError
				if strings.Contains(tc.want, "symbolic link") && !errors.As(err, &le) {
					t.Errorf("error %T, want a *LinkError", err)
				}
			})
		})
	}
}

// TestRootLinksFollowed: the system's own links (owned by root, which no
// sandbox is) are followed, such as Debian's /bin -> usr/bin.
func TestRootLinksFollowed(t *testing.T) {
	for _, l := range []string{"/bin", "/lib64", "/lib", "/sbin"} {
		var st unix.Stat_t
		if unix.Lstat(l, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK || st.Uid != 0 {
			continue
		}
		ents, err := os.ReadDir(l + "/")
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.Type().IsRegular() {
				continue
			}
			p := l + "/" + e.Name()
			f, err := OpenInput(p)
			if err != nil {
				t.Fatalf("OpenInput(%q) through root's link: %v", p, err)
			}
			f.Close()
			o, err := PrepareOutput(l + "/jail-test-never-written")
			if err != nil {
				t.Fatalf("PrepareOutput through root's link %s: %v", l, err)
			}
			o.Close()
			return
		}
	}
	t.Skip("no root-owned symbolic link to a directory among /bin, /lib64, /lib, /sbin")
}

func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("sub", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("in.txt", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	plantLink(t, t.TempDir(), "out")
	f, err := OpenInput("sub/../in.txt")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	o, err := PrepareOutput("sub/r.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := o.WriteFile([]byte("r")); err != nil {
		t.Fatal(err)
	}
	o.Close()
	assertNewFile(t, filepath.Join(dir, "sub", "r.json"), "r")
	_, err = PrepareOutput("out/r.json")
	var le *LinkError
	if !errors.As(err, &le) || !strings.HasSuffix(le.Link, "/out") || le.Path != "out/r.json" {
		t.Errorf("a planted link to a directory: %v", err)
	}
	t.Log(err)
}

func TestCallerFD(t *testing.T) {
	for name, want := range map[string]int{
		"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2, "//dev/./stdout": 1,
		"/dev/fd/0": 0, "/dev/fd/3": 3, "/proc/self/fd/12": 12, "/dev/fd/../fd/4": 4,
		"dev/stdout": -1, "/dev/fd/": -1, "/dev/fd/x": -1, "/dev/fd/03": -1, "/dev/fd/-1": -1,
		"/proc/1/fd/3": -1, "/dev/stdout/x": -1, "/tmp/dev/stdout": -1, "./dev/fd/3": -1,
	} {
		fd, ok := CallerFD(name)
		if !ok {
			fd = -1
		}
		if fd != want {
			t.Errorf("CallerFD(%q) = %d, %v; want %d", name, fd, ok, want)
		}
	}
}

// TestCallerFDOutput: an output naming a descriptor of jail's is written
// through a duplicate, in place; the file behind it is not replaced.
func TestCallerFDOutput(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(p, []byte("before\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// This test's own descriptors are not ones jail was started with.
	NoteCallerFDs()
	givenFDs.set[int(f.Fd())] = true
	defer delete(givenFDs.set, int(f.Fd()))
	name := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	o, err := PrepareOutput(name)
	if err != nil {
		t.Fatal(err)
	}
	out, err := o.Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := out.WriteString("out\n"); err != nil {
		t.Fatal(err)
	}
	out.Close()
	if err := o.WriteFile([]byte("report\n")); err != nil {
		t.Fatal(err)
	}
	o.Close()
	if b, _ := os.ReadFile(p); string(b) != "before\nout\nreport\n" {
		t.Errorf("%s holds %q", p, b)
	}
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil || st.Mode&0o777 != 0o644 {
		t.Errorf("%s: mode %o, %v: want the caller's file as it was (0644)", p, st.Mode&0o777, err)
	}
	// Open still: the duplicates were closed, not the caller's.
	if _, err := f.WriteString("end\n"); err != nil {
		t.Errorf("the caller's descriptor: %v", err)
	}
	if _, err := PrepareOutput("/dev/fd/999"); err == nil || !strings.Contains(err.Error(), "descriptor 999 was not given to jail") {
		t.Errorf("PrepareOutput(/dev/fd/999): %v", err)
	}
	in, err := OpenInput("/dev/stdin")
	if err != nil {
		t.Fatalf("OpenInput(/dev/stdin): %v", err)
	}
	in.Close()
}
