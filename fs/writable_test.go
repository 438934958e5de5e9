package fs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestWritableBindOf: a path is over a writable bind when the bind's
// source is the file itself or any directory resolving the path looks a
// name up in, whatever the names the path and the bind use for them.
func TestWritableBindOf(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"proj/sub", "proj2", "safe/conf", "other"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"proj/p.toml", "proj/sub/p.toml", "proj2/p.toml", "safe/conf/p.toml", "safe/f.toml"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"safe/in.toml":  "../proj/p.toml",      // a link outside to a file inside
		"proj/out.toml": "../safe/conf/p.toml", // a link inside to a file outside
		"safe/projdir":  root + "/proj",        // a second name for the directory
		"other/hop":     "../proj/hop2",        // a chain whose middle link lies inside
		"proj/hop2":     root + "/safe/conf",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	rwProj := Op{Kind: OpBind, Source: root + "/proj", Target: "/w", RW: true, IsDir: true, Where: "mount[3]"}
	spec := Spec{Ops: []Op{
		{Kind: OpBind, Source: root + "/safe", Target: "/s", IsDir: true, Where: "mount[0]"}, // read-only: no harm
		{Kind: OpTmpfs, Target: "/tmp", Where: "mount[1]"},
		{Kind: OpBind, Source: root + "/safe/f.toml", Target: "/f", RW: true, Where: "mount[2]"}, // a file bind
		rwProj,
	}}
	for i, op := range spec.Ops {
		if op.Kind == OpBind {
			src, err := resolveSource(op.Source)
			if err != nil {
				t.Fatal(err)
			}
			spec.Ops[i].ID = src.id
		}
	}
	// What a run checks: the record ReadProfile made of what it read.
	over := func(path string) (Op, bool, error) {
		_, ids, err := ReadProfile(path)
		if err != nil {
			return Op{}, false, err
		}
		op, found := spec.WritableBindOf(ids)
		return op, found, nil
	}
	for _, tc := range []struct {
		path  string
		where string // "" for none
	}{
		{root + "/proj/p.toml", "mount[3]"},
		{root + "/proj/sub/p.toml", "mount[3]"},
		{root + "/proj/sub/../p.toml", "mount[3]"},
		{root + "/safe/in.toml", "mount[3]"},        // the real path is inside
		{root + "/proj/out.toml", "mount[3]"},       // the link is inside: it can be replaced
		{root + "/safe/projdir/p.toml", "mount[3]"}, // another name for proj
		{root + "/other/hop/p.toml", "mount[3]"},    // resolved through a link inside proj
		{root + "/safe/f.toml", "mount[2]"},         // the file is bound writable itself
		{root + "/proj2/p.toml", ""},                // proj is a prefix of its name, not an ancestor
		{root + "/safe/conf/p.toml", ""},
		{root + "/safe/projdir/../safe/f.toml", "mount[2]"}, // .. after a link is physical: it leaves proj
	} {
		op, found, err := over(tc.path)
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if got := map[bool]string{true: op.Where}[found]; got != tc.where {
			t.Errorf("%s: over %q, want %q", tc.path, got, tc.where)
		}
	}

	// A relative path is taken from the working directory; leaving it
	// with .. does not make it count.
	t.Chdir(root + "/proj/sub")
	if _, found, err := over("p.toml"); err != nil || !found {
		t.Errorf("relative path: found %v, %v", found, err)
	}
	t.Chdir(root + "/proj")
	if _, found, err := over("../safe/conf/p.toml"); err != nil || found {
		t.Errorf("../ out of the writable directory: found %v, %v", found, err)
	}

	// Without a writable bind nothing is; a missing file is an error.
	if _, ids, err := ReadProfile(root + "/proj/p.toml"); err != nil {
		t.Error(err)
	} else if _, found := (Spec{Ops: spec.Ops[:2]}).WritableBindOf(ids); found {
		t.Errorf("no writable bind: found")
	}
	if _, _, err := over(root + "/proj/missing.toml"); err == nil {
		t.Errorf("a missing file: no error")
	}
	// A pipe (jail --profile <(...)) has no name a run could change; a
	// descriptor of a file inside does.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := w.WriteString("x"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// This test's descriptors, as if jail had been started with them.
	NoteCallerFDs()
	givenFDs.set[int(r.Fd())] = true
	defer delete(givenFDs.set, int(r.Fd()))
	if _, found, err := over(fmt.Sprintf("/dev/fd/%d", r.Fd())); found || err != nil {
		t.Errorf("a pipe: found %v, %v", found, err)
	}
	f, err := os.Open(root + "/proj/p.toml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	givenFDs.set[int(f.Fd())] = true
	defer delete(givenFDs.set, int(f.Fd()))
	if _, found, err := over(fmt.Sprintf("/proc/self/fd/%d", f.Fd())); !found || err != nil {
		t.Errorf("a descriptor of a file inside: found %v, %v", found, err)
	}
	if err := os.Symlink("loop", filepath.Join(root, "loop")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := over(root + "/loop"); err == nil {
		t.Errorf("a symlink loop: no error")
	}
}

// TestWritableBindOfWhatWasRead: the record is of what was read; a path
// changed afterwards (a link turned to a safe file) changes nothing: a
// second lookup would have judged the safe file.
func TestWritableBindOfWhatWasRead(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"proj", "safe"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, d, "p.toml"), []byte(d), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(root, "p.toml")
	if err := os.Symlink("proj/p.toml", link); err != nil {
		t.Fatal(err)
	}
	src, err := resolveSource(root + "/proj")
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Ops: []Op{{Kind: OpBind, Source: root + "/proj", Target: "/w", RW: true, IsDir: true, ID: src.id}}}
	b, ids, err := ReadProfile(link)
	if err != nil || string(b) != "proj" {
		t.Fatalf("ReadProfile: %q, %v", b, err)
	}
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("safe/p.toml", link); err != nil {
		t.Fatal(err)
	}
	if _, found := spec.WritableBindOf(ids); !found {
		t.Errorf("the file read lies in the writable bind, but the record says not")
	}
}
