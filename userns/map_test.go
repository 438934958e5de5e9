package userns

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func mustWork() bool { return os.Getenv("JAIL_TEST_MUST_WORK") == "1" }

// startInUserNS starts `sleep 10` in a new, not yet mapped, user namespace. It skips the test when the
// kernel refuses (unless JAIL_TEST_MUST_WORK=1) and kills the child at the end of the test.
func startInUserNS(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "10")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSPC) {
			msg := "user namespaces unavailable: " + err.Error()
			if hint := CheckUserNS(); hint != nil {
				msg += " (" + hint.Error() + ")"
			}
			if mustWork() {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		t.Fatalf("start child: %v", err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	return pid
}

// readMap reads /proc/PID/{uid,gid}_map as seen from this process.
func readMap(t *testing.T, path string) []IDMap {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ms []IDMap
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("%s: bad line %q", path, line)
		}
		var v [3]uint32
		for i := range f {
			n, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				t.Fatalf("%s: bad line %q", path, line)
			}
			v[i] = uint32(n)
		}
		ms = append(ms, IDMap{Inside: v[0], Outside: v[1], Count: v[2]})
	}
	return ms
}

func checkMaps(t *testing.T, pid int, m Mapping) {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid)
	if got := readMap(t, dir+"/uid_map"); !reflect.DeepEqual(got, m.UIDs) {
		t.Errorf("uid_map = %v, want %v", got, m.UIDs)
	}
	if got := readMap(t, dir+"/gid_map"); !reflect.DeepEqual(got, m.GIDs) {
		t.Errorf("gid_map = %v, want %v", got, m.GIDs)
	}
	b, err := os.ReadFile(dir + "/setgroups")
	if err != nil {
		t.Fatal(err)
	}
	want := "allow"
	if m.SetgroupsDeny {
		want = "deny"
	}
	if got := strings.TrimSpace(string(b)); got != want {
		t.Errorf("setgroups = %q, want %q", got, want)
	}
}

func TestMapDirect(t *testing.T) {
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	root := uid == 0
	tests := []struct {
		name string
		m    Mapping
		skip bool
	}{
		{
			name: "single id",
			m:    Mapping{UIDs: []IDMap{{0, uid, 1}}, GIDs: []IDMap{{0, gid, 1}}, SetgroupsDeny: !root},
		},
		{
			name: "root default range",
			m:    Build(Host{UID: 0, GID: 0}),
			skip: !root,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip {
				t.Skip("needs root")
			}
			pid := startInUserNS(t)
			if err := Map(context.Background(), pid, tc.m); err != nil {
				t.Fatalf("Map: %v", err)
			}
			checkMaps(t, pid, tc.m)
		})
	}
}

func TestMapHelper(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root writes its maps without newuidmap")
	}
	need := func(format string, args ...any) {
		t.Helper()
		if mustWork() {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	h, err := LookupHost()
	if err != nil {
		t.Fatalf("LookupHost: %v", err)
	}
	if err := Preflight(); err != nil {
		need("helpers unusable: %v", err)
	}
	m := Build(h)
	if !m.Helper {
		need("no helper mapping: %s", m.Warning)
	}
	pid := startInUserNS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Map(ctx, pid, m); err != nil {
		t.Fatalf("Map: %v", err)
	}
	uidMap := readMap(t, "/proc/"+strconv.Itoa(pid)+"/uid_map")
	if len(uidMap) < 2 {
		t.Fatalf("uid_map has %d lines, want the caller's id and a sub-uid range: %v", len(uidMap), uidMap)
	}
	if !reflect.DeepEqual(uidMap, m.UIDs) {
		t.Fatalf("uid_map = %v, want %v", uidMap, m.UIDs)
	}
	if gidMap := readMap(t, "/proc/"+strconv.Itoa(pid)+"/gid_map"); !reflect.DeepEqual(gidMap, m.GIDs) {
		t.Fatalf("gid_map = %v, want %v", gidMap, m.GIDs)
	}
}

func TestMapHelperRealError(t *testing.T) {
	if err := Preflight(); err != nil {
		t.Skipf("helpers unusable: %v", err)
	}
	m := Mapping{UIDs: []IDMap{{0, 1000, 1}}, GIDs: []IDMap{{0, 1000, 1}}, Helper: true}
	err := Map(context.Background(), 2147483647, m) // no such process
	if err == nil {
		t.Fatal("Map on a missing pid succeeded")
	}
	for _, want := range []string{"newuidmap 2147483647 0 1000 1: ", "newgidmap 2147483647 0 1000 1: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// writeScript creates an executable shell script in dir.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMapWithHelpers(t *testing.T) {
	m := Mapping{
		UIDs:   []IDMap{{0, 1000, 1}, {1, 100000, 65536}},
		GIDs:   []IDMap{{0, 1000, 1}, {1, 200000, 65536}},
		Helper: true,
	}
	dir := t.TempDir()
	// Each fake helper announces itself and waits for the other: this only ends well if they run concurrently.
	rendezvous := func(me, other string) string {
		return "echo \"$@\" > " + dir + "/" + me + ".args\n" +
			"i=0; while [ ! -e " + dir + "/" + other + ".args ]; do i=$((i+1)); [ $i -gt 200 ] && { echo timeout; exit 3; }; sleep 0.05; done\n"
	}
	okUID := writeScript(t, dir, "uid-ok", rendezvous("uid", "gid"))
	okGID := writeScript(t, dir, "gid-ok", rendezvous("gid", "uid"))
	fail := writeScript(t, dir, "fail", "echo \"  boom: $*\" >&2\nexit 1\n")
	quiet := writeScript(t, dir, "quiet", "exit 2\n")

	t.Run("concurrent success", func(t *testing.T) {
		if err := mapWithHelpers(context.Background(), 1234, m, okUID, okGID); err != nil {
			t.Fatal(err)
		}
		for file, want := range map[string]string{"uid.args": "1234 0 1000 1 1 100000 65536\n", "gid.args": "1234 0 1000 1 1 200000 65536\n"} {
			b, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil || string(b) != want {
				t.Errorf("%s = %q, %v; want %q", file, b, err, want)
			}
		}
	})
	tests := []struct {
		name             string
		uidTool, gidTool string
		want             []string
	}{
		{
			name:    "uid fails",
			uidTool: fail, gidTool: quiet,
			want: []string{
				"newgidmap 1234 0 1000 1 1 200000 65536: exit status 2",
				"newuidmap 1234 0 1000 1 1 100000 65536: boom: 1234 0 1000 1 1 100000 65536: exit status 1",
			},
		},
		{
			name:    "gid fails",
			uidTool: "/bin/true", gidTool: fail,
			want: []string{"newgidmap 1234 0 1000 1 1 200000 65536: boom: 1234 0 1000 1 1 200000 65536: exit status 1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := mapWithHelpers(context.Background(), 1234, m, tc.uidTool, tc.gidTool)
			if err == nil {
				t.Fatal("no error")
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("error lines %q, want %q", got, tc.want)
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("error %v does not wrap *exec.ExitError", err)
			}
		})
	}
	t.Run("context bounds the run", func(t *testing.T) {
		slow := writeScript(t, dir, "slow", "exec sleep 30\n")
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := mapWithHelpers(ctx, 1234, m, slow, slow)
		if err == nil || time.Since(start) > 10*time.Second {
			t.Fatalf("err = %v after %v", err, time.Since(start))
		}
	})
}

func TestWriteMaps(t *testing.T) {
	m := Mapping{UIDs: []IDMap{{0, 1000, 1}}, GIDs: []IDMap{{0, 1001, 1}, {1, 5, 2}}}
	tests := []struct {
		name  string
		deny  bool
		files []string // files that exist beforehand
		want  map[string]string
		err   string
	}{
		{
			name: "deny", deny: true, files: []string{"setgroups", "gid_map", "uid_map"},
			want: map[string]string{"setgroups": "deny", "gid_map": "0 1001 1\n1 5 2\n", "uid_map": "0 1000 1\n"},
		},
		{
			name: "allow leaves setgroups alone", files: []string{"gid_map", "uid_map"},
			want: map[string]string{"gid_map": "0 1001 1\n1 5 2\n", "uid_map": "0 1000 1\n"},
		},
		{name: "setgroups first", deny: true, files: []string{"gid_map", "uid_map"}, err: "setgroups"},
		{name: "gid_map before uid_map", files: []string{"uid_map"}, err: "gid_map"},
		{name: "uid_map", files: []string{"gid_map"}, err: "uid_map"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			mm := m
			mm.SetgroupsDeny = tc.deny
			err := writeMaps(context.Background(), dir, mm)
			if tc.err != "" {
				var pe *os.PathError
				if !errors.As(err, &pe) || pe.Path != filepath.Join(dir, tc.err) {
					t.Fatalf("err = %v, want a *os.PathError on %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for f, want := range tc.want {
				if b, _ := os.ReadFile(filepath.Join(dir, f)); string(b) != want {
					t.Errorf("%s = %q, want %q", f, b, want)
				}
			}
		})
	}
}

func TestMapRefusesEmpty(t *testing.T) {
	if err := Map(context.Background(), 1, Mapping{GIDs: []IDMap{{0, 0, 1}}}); err == nil {
		t.Fatal("empty uid map accepted")
	}
}
