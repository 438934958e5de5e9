package main

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/jail-sandbox/jail/fs"
	"github.com/jail-sandbox/jail/userns"
)

// TestMountStepsMatch: mounts.h's steps are fs's, number for number.
func TestMountStepsMatch(t *testing.T) {
	if len(mountSteps) != int(fs.StepLast) {
		t.Fatalf("mounts.h has %d steps, fs %d", len(mountSteps), fs.StepLast)
	}
	for i, s := range mountSteps {
		if s != fs.Step(i) {
			t.Errorf("step %d of mounts.h is fs's %d", i, s)
		}
	}
}

// TestMountPlanLayout decodes mountPlan's bytes as mounts.c reads them.
func TestMountPlanLayout(t *testing.T) {
	spec := fs.Spec{DevShmSize: 1 << 20, Ops: []fs.Op{
		{Kind: fs.OpBind, Source: "/usr", Target: "/usr", IsDir: true, ID: fs.FileID{Dev: 7, Ino: 8}},
		{Kind: fs.OpBind, Source: "/home/u/b", Target: "/b", RW: true, ID: fs.FileID{Dev: 9, Ino: 10}},
		{Kind: fs.OpTmpfs, Target: "/tmp", Size: 4096, Mode: 0o1777},
		{Kind: fs.OpFile, Target: "/etc/passwd", Mode: 0o644, Content: "root:x:0:0\x00::"},
		{Kind: fs.OpSymlink, Source: "usr/bin", Target: "/bin"},
		{Kind: "weird", Target: "/x"},
	}}
	counts := []userns.Count{{Name: "max_user_namespaces", Max: 12}}
	b, err := mountPlan(spec, counts)
	if err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader(b)
	le := binary.NativeEndian
	var h struct {
		Magic, Nops, Ncounts, Ndev, Nro, Nfiles, Ndirs, DevPtsMax uint32
		RootSize, DevShm                                          uint64
	}
	if err := binary.Read(r, le, &h); err != nil {
		t.Fatal(err)
	}
	if h.Magic != mplanMagic || h.Nops != 6 || h.Ncounts != 1 || h.Ndev != uint32(len(fs.Devices)) ||
		h.Nro != uint32(len(fs.ProcReadOnly)) || h.Nfiles != uint32(len(fs.ProcMaskedFiles)) ||
		h.Ndirs != uint32(len(fs.ProcMaskedDirs)) || h.DevPtsMax != fs.DevPtsMax ||
		h.RootSize != fs.RootSize(spec) || h.DevShm != 1<<20 {
		t.Fatalf("header %+v", h)
	}
	type mop struct {
		Kind, Flags, Mode, ContentLen uint32
		Size, Dev, Ino                uint64
	}
	want := []mop{
		{Kind: mopKinds[fs.OpBind], Flags: 2, Dev: 7, Ino: 8},
		{Kind: mopKinds[fs.OpBind], Flags: 1, Dev: 9, Ino: 10},
		{Kind: mopKinds[fs.OpTmpfs], Mode: 0o1777, Size: 4096},
		{Kind: mopKinds[fs.OpFile], Mode: 0o644, ContentLen: 13},
		{Kind: mopKinds[fs.OpSymlink]},
		{},
	}
	for i, w := range want {
		var got mop
		if err := binary.Read(r, le, &got); err != nil || got != w {
			t.Fatalf("op %d: %+v (%v), want %+v", i, got, err, w)
		}
	}
	var max int64
	if err := binary.Read(r, le, &max); err != nil || max != 12 {
		t.Fatalf("count %d (%v)", max, err)
	}
	rest := b[len(b)-r.Len():]
	var strs []string
	for i, op := range spec.Ops {
		for range 2 {
			j := bytes.IndexByte(rest, 0)
			strs = append(strs, string(rest[:j]))
			rest = rest[j+1:]
		}
		if got := string(rest[:want[i].ContentLen]); got != op.Content {
			t.Fatalf("op %d content %q", i, got)
		}
		rest = rest[want[i].ContentLen:]
	}
	wantStrs := []string{"/usr", "/usr", "/home/u/b", "/b", "", "/tmp", "", "/etc/passwd", "usr/bin", "/bin", "", "/x"}
	if len(strs) != len(wantStrs) {
		t.Fatalf("strings %q", strs)
	}
	for i := range strs {
		if strs[i] != wantStrs[i] {
			t.Fatalf("strings %q, want %q", strs, wantStrs)
		}
	}
	var names []string
	for len(rest) > 0 {
		j := bytes.IndexByte(rest, 0)
		names = append(names, string(rest[:j]))
		rest = rest[j+1:]
	}
	wantNames := append(append(append(append([]string{"max_user_namespaces"}, fs.Devices...), fs.ProcReadOnly...), fs.ProcMaskedFiles...), fs.ProcMaskedDirs...)
	if len(names) != len(wantNames) {
		t.Fatalf("names %q, want %q", names, wantNames)
	}
	for i := range names {
		if names[i] != wantNames[i] {
			t.Fatalf("names %q, want %q", names, wantNames)
		}
	}
}

// TestMountPlanRefusesNUL: a path with a NUL cannot be sent as a string.
func TestMountPlanRefusesNUL(t *testing.T) {
	_, err := mountPlan(fs.Spec{Ops: []fs.Op{{Kind: fs.OpDir, Target: "/a\x00b", Where: "mount 1"}}}, nil)
	if err == nil {
		t.Fatal("a target with a NUL was encoded")
	}
}
