package userns

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestUsable(t *testing.T) {
	got := usable([]Range{{1, 0}, {100, 5}, {4294967000, 1000}, {4294967295, 1}})
	want := []Range{{100, 5}, {4294967000, 295}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("usable = %v, want %v", got, want)
	}
}

func TestLookupHost(t *testing.T) {
	uid := strconv.Itoa(os.Getuid())
	tests := []struct {
		name           string
		subuid, subgid *string // nil: file missing
		dirAsSubgid    bool
		preflight      error
		wantU, wantG   []Range
		err            string
	}{
		{
			name:   "ranges by uid",
			subuid: ptr("# x\n" + uid + ":100000:65536\n"), subgid: ptr(uid + ":200000:10\n" + uid + ":300000:0\n"),
			wantU: []Range{{100000, 65536}}, wantG: []Range{{200000, 10}},
		},
		{name: "missing files", preflight: errors.New("no helpers")},
		{name: "empty files", subuid: ptr(""), subgid: ptr("")},
		{name: "malformed own line", subuid: ptr("\n" + uid + ":1\n"), err: "subuid: line 2: "},
		{name: "unreadable", subuid: ptr(""), dirAsSubgid: true, err: "subgid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			uidPath, gidPath := filepath.Join(dir, "subuid"), filepath.Join(dir, "subgid")
			if tc.subuid != nil {
				if err := os.WriteFile(uidPath, []byte(*tc.subuid), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.subgid != nil {
				if err := os.WriteFile(gidPath, []byte(*tc.subgid), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.dirAsSubgid {
				if err := os.Mkdir(gidPath, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			h, err := lookupHost(uidPath, gidPath, func() error { return tc.preflight })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.UID != os.Getuid() || h.GID != os.Getgid() {
				t.Errorf("uid/gid = %d/%d", h.UID, h.GID)
			}
			if !reflect.DeepEqual(h.SubUIDs, tc.wantU) || !reflect.DeepEqual(h.SubGIDs, tc.wantG) {
				t.Errorf("ranges = %v %v, want %v %v", h.SubUIDs, h.SubGIDs, tc.wantU, tc.wantG)
			}
			if h.HasHelpers != (tc.preflight == nil) {
				t.Errorf("HasHelpers = %v", h.HasHelpers)
			}
		})
	}
}

func TestLookupHostReal(t *testing.T) {
	h, err := LookupHost()
	if err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 && h.User != "root" {
		t.Errorf("user of uid 0 = %q, want root", h.User)
	}
}

func ptr(s string) *string { return &s }

func TestCheckHelper(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	setuid := filepath.Join(dir, "setuid")
	if err := os.WriteFile(setuid, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(setuid, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	root := os.Getuid() == 0
	tests := []struct {
		name   string
		path   string
		wantOK bool
	}{
		{name: "plain file", path: plain, wantOK: false},
		// Owned by us: setuid-root only when we are root.
		{name: "setuid file", path: setuid, wantOK: root},
		{name: "missing", path: filepath.Join(dir, "nope"), wantOK: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkHelper(tc.path)
			if (err == nil) != tc.wantOK {
				t.Fatalf("checkHelper(%s) = %v, want ok=%v", tc.path, err, tc.wantOK)
			}
			if err != nil && tc.name == "plain file" && !strings.Contains(err.Error(), `"uidmap"`) {
				t.Fatalf("error lacks the package hint: %v", err)
			}
		})
	}
}

func TestFindHelper(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "newuidmap", "exit 0\n")
	t.Setenv("PATH", dir)
	if p, err := findHelper("newuidmap"); err != nil || p != filepath.Join(dir, "newuidmap") {
		t.Fatalf("findHelper in PATH = %q, %v", p, err)
	}
	_, err := findHelper("jail-no-such-helper")
	if err == nil || !strings.Contains(err.Error(), `jail-no-such-helper not found in PATH or /usr/bin: install the "uidmap" package`) {
		t.Fatalf("err = %v", err)
	}
	if _, statErr := os.Stat("/usr/bin/newgidmap"); statErr == nil {
		if p, err := findHelper("newgidmap"); err != nil || p != "/usr/bin/newgidmap" {
			t.Fatalf("fallback to /usr/bin = %q, %v", p, err)
		}
	}
}

func TestCheckUserNS(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // substrings, one per expected problem; nil means no error
	}{
		{name: "nothing readable", files: nil},
		{name: "enabled", files: map[string]string{"user/max_user_namespaces": "15000\n", "kernel/unprivileged_userns_clone": "1\n", "kernel/apparmor_restrict_unprivileged_userns": "0\n"}},
		{name: "max zero", files: map[string]string{"user/max_user_namespaces": "0\n"}, want: []string{"user.max_user_namespaces=0: set it > 0"}},
		{name: "clone off", files: map[string]string{"kernel/unprivileged_userns_clone": "0\n"}, want: []string{"kernel.unprivileged_userns_clone=0"}},
		{name: "apparmor", files: map[string]string{"kernel/apparmor_restrict_unprivileged_userns": "1\n"}, want: []string{"kernel.apparmor_restrict_unprivileged_userns=1", "Ubuntu"}},
		{
			name:  "all three",
			files: map[string]string{"user/max_user_namespaces": "0", "kernel/unprivileged_userns_clone": "0", "kernel/apparmor_restrict_unprivileged_userns": "1"},
			want:  []string{"max_user_namespaces=0", "unprivileged_userns_clone=0", "apparmor_restrict_unprivileged_userns=1"},
		},
		{name: "garbage ignored", files: map[string]string{"user/max_user_namespaces": "lots"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := checkUserNS(dir)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestCheckUserNSReal(t *testing.T) {
	// This machine may or may not allow user namespaces; the call must simply not fail to run.
	_ = CheckUserNS()
}

func TestFreeSubID(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name     string
		uid, gid string
		want     uint32
	}{
		{"empty files", "", "", 100000},
		{"useradd's first range", "alice:100000:65536\n", "alice:100000:65536\n", 196608},
		{"gid file further", "a:100000:65536\n", "# c\nb:300000:10\nbad line\n", 327680},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := freeSubID(write("u", tc.uid), write("g", tc.gid)); got != tc.want {
				t.Errorf("freeSubID = %d, want %d", got, tc.want)
			}
		})
	}
}
