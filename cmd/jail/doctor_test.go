package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/limits"
	"github.com/jail-sandbox/jail/userns"
)

// expectedLayout names this machine's cgroup layout from its mountinfo,
// independently of the code under test.
func expectedLayout(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	v1, v2 := false, false
	for _, line := range strings.Split(string(b), "\n") {
		_, after, ok := strings.Cut(line, " - ")
		f := strings.Fields(after)
		if !ok || len(f) < 3 {
			continue
		}
		switch f[0] {
		case "cgroup2":
			v2 = true
		case "cgroup":
			for _, o := range strings.Split(f[2], ",") {
				if o != "rw" && o != "ro" && !strings.Contains(o, "=") {
					v1 = true
				}
			}
		}
	}
	switch {
	case v1 && v2:
		return "hybrid"
	case v1:
		return "v1"
	case v2:
		return "v2"
	}
	return "none"
}

// doctorLine returns the line of area in the report, "" if none.
func doctorLine(out, area string) string {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(line, f[0])), area+"  ") {
			return line
		}
	}
	return ""
}

func TestDoctorOnThisHost(t *testing.T) {
	requireSandbox(t) // jail runs here, so the doctor must say so
	r := jail(t, "doctor")
	if r.code != doctorOK {
		t.Fatalf("jail doctor: exit %d, want %d\n%s%s", r.code, doctorOK, r.stdout, r.stderr)
	}
	if l := doctorLine(r.stdout, "user namespaces"); !strings.HasPrefix(l, "ok ") {
		t.Errorf("user namespaces line: %q\n%s", l, r.stdout)
	}
	l := doctorLine(r.stdout, "cgroups")
	if want := expectedLayout(t); !strings.Contains(l, want) {
		t.Errorf("cgroups line %q does not name the layout %q\n%s", l, want, r.stdout)
	}
	if os.Getenv("JAIL_TEST_SUBID") == "1" && os.Getuid() != 0 {
		if l := doctorLine(r.stdout, "subuid/subgid"); !strings.HasPrefix(l, "ok ") {
			t.Errorf("subuid/subgid line: %q", l)
		}
		if l := doctorLine(r.stdout, "uid helpers"); !strings.HasPrefix(l, "ok ") || !strings.Contains(l, "mapped") {
			t.Errorf("uid helpers line: %q", l)
		}
	}
	// Short when all is well: one line per area, plus at most a summary
	// of the warnings, and the fixes of those.
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if strings.HasPrefix(line, "fail") {
			t.Errorf("a fail line while jail runs: %q", line)
		}
	}
	v := jail(t, "doctor", "--verbose")
	if v.code != doctorOK || !strings.Contains(v.stdout, "tried: clone user|mount|pid") {
		t.Errorf("jail doctor --verbose: exit %d, no trial details:\n%s", v.code, v.stdout)
	}
	if u := jail(t, "doctor", "--bogus"); u.code != doctorUsage || !strings.Contains(u.stderr, "usage: jail doctor") {
		t.Errorf("jail doctor --bogus: exit %d, stderr %q", u.code, u.stderr)
	}
}

// The sandbox's seccomp filter denies new namespaces: the doctor run
// inside must fail, blame the filter, and give the fix.
func TestDoctorInsideSandbox(t *testing.T) {
	requireSandbox(t)
	p := writeProfile(t, fmt.Sprintf("[[mount]]\ntype = \"bind\"\nsource = %q\ntarget = \"/jailbin\"\n", jailBin))
	r := jail(t, "--profile", p, "--", "/jailbin", "doctor")
	if r.code != doctorFail {
		t.Fatalf("doctor in a sandbox: exit %d, want %d\n%s%s", r.code, doctorFail, r.stdout, r.stderr)
	}
	if l := doctorLine(r.stdout, "user namespaces"); !strings.HasPrefix(l, "fail ") {
		t.Errorf("user namespaces line: %q\n%s", l, r.stdout)
	}
	if !strings.Contains(r.stdout, "seccomp filter") || !strings.Contains(r.stdout, "fix: ") {
		t.Errorf("no seccomp diagnosis with a fix:\n%s", r.stdout)
	}
}

func TestDoctorClassifySysctl(t *testing.T) {
	for _, tc := range []struct {
		name, sysctl, value string
		root                bool
		blocks              bool
		fix                 string
	}{
		{"debian off", "kernel.unprivileged_userns_clone", "0", false, true, "sudo sysctl -w kernel.unprivileged_userns_clone=1"},
		{"debian off, root", "kernel.unprivileged_userns_clone", "0", true, false, ""},
		{"debian on", "kernel.unprivileged_userns_clone", "1", false, false, ""},
		{"max zero", "user.max_user_namespaces", "0", false, true, "sudo sysctl -w user.max_user_namespaces=15000"},
		{"max zero, root", "user.max_user_namespaces", "0\n", true, true, "user.max_user_namespaces=15000 | sudo tee /etc/sysctl.d/"},
		{"max set", "user.max_user_namespaces", "96365", false, false, ""},
		{"apparmor on", "kernel.apparmor_restrict_unprivileged_userns", "1", false, true, "apparmor_parser -r /etc/apparmor.d/jail"},
		{"apparmor on, sysctl", "kernel.apparmor_restrict_unprivileged_userns", "1", false, true, "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"},
		{"apparmor on, root", "kernel.apparmor_restrict_unprivileged_userns", "1", true, false, ""},
		{"apparmor off", "kernel.apparmor_restrict_unprivileged_userns", "0", false, false, ""},
		{"not a number", "user.max_user_namespaces", "lots", false, false, ""},
		{"unknown sysctl", "kernel.other", "0", false, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blocks, why, fixes := classifySysctl(tc.sysctl, tc.value, tc.root, "/opt/jail")
			if blocks != tc.blocks {
				t.Fatalf("blocks = %v, want %v (why %q)", blocks, tc.blocks, why)
			}
			if !blocks {
				if why != "" || fixes != nil {
					t.Errorf("not blocking, yet why %q fixes %q", why, fixes)
				}
				return
			}
			if !strings.Contains(why, tc.sysctl+"=") {
				t.Errorf("why %q does not name the setting", why)
			}
			if !strings.Contains(strings.Join(fixes, "\n"), tc.fix) {
				t.Errorf("fixes %q lack %q", fixes, tc.fix)
			}
		})
	}
}

// cgroupTree is a made-up cgroup layout in a temp dir: a mountinfo whose
// mount points are there, and the caller's /proc/self/cgroup.
type cgroupTree struct {
	root      string
	mountinfo strings.Builder
	procCg    strings.Builder
	id        int
}

func newCgroupTree(t *testing.T) *cgroupTree { return &cgroupTree{root: t.TempDir(), id: 30} }

// mount adds a cgroup (v1, with super options opts) or cgroup2 mount.
func (c *cgroupTree) mount(t *testing.T, fstype, dir, opts string) string {
	t.Helper()
	mp := filepath.Join(c.root, dir)
	if err := os.MkdirAll(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	c.id++
	fmt.Fprintf(&c.mountinfo, "%d 23 0:%d / %s rw,relatime - %s %s %s\n", c.id, c.id, mp, fstype, fstype, opts)
	return mp
}

// dir makes a cgroup directory with the given files.
func (c *cgroupTree) dir(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	d := filepath.Join(c.root, dir)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, v := range files {
		if err := os.WriteFile(filepath.Join(d, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func (c *cgroupTree) check(t *testing.T, uid int, user string) finding {
	t.Helper()
	return checkCgroups(&doctorHost{uid: uid, user: user, layout: mustLayout(t, c, user), exe: "jail"})
}

func mustHave(t *testing.T, what string, got []string, want string) {
	t.Helper()
	if !strings.Contains(strings.Join(got, "\n"), want) {
		t.Errorf("%s %q lack %q", what, got, want)
	}
}

func TestDoctorCgroupV2(t *testing.T) {
	const own = "/user.slice/user-1000.slice/user@1000.service/app.slice/run.scope"
	files := func(ctl string) map[string]string {
		return map[string]string{"cgroup.controllers": ctl, "cgroup.procs": "", "cgroup.subtree_control": ""}
	}
	t.Run("systemd delegates memory and pids", func(t *testing.T) {
		c := newCgroupTree(t)
		c.mount(t, "cgroup2", "cg", "rw,nsdelegate")
		c.dir(t, "cg", files("cpuset cpu io memory pids"))
		c.dir(t, "cg"+own, files("memory pids"))
		c.procCg.WriteString("0::" + own + "\n")
		f := c.check(t, 1000, "alice")
		if f.status != statusWarn || !strings.HasPrefix(f.summary, "v2:") || !strings.Contains(f.summary, "lacks cpu") {
			t.Fatalf("got %v %q", f.status, f.summary)
		}
		mustHave(t, "fixes", f.fixes, "Delegate=cpu cpuset io memory pids")
		mustHave(t, "notes", f.notes, "rlimits")
	})
	t.Run("fully delegated", func(t *testing.T) {
		c := newCgroupTree(t)
		c.mount(t, "cgroup2", "cg", "rw")
		d := c.dir(t, "cg"+own, files("cpu memory pids"))
		c.procCg.WriteString("0::" + own + "\n")
		f := c.check(t, 1000, "alice")
		if f.status != statusOK || !strings.Contains(f.summary, "v2: "+d+" is delegated") {
			t.Fatalf("got %v %q", f.status, f.summary)
		}
	})
	t.Run("not delegated", func(t *testing.T) {
		if os.Getuid() == 0 {
			t.Skip("root may write any file: nothing is undelegated to it")
		}
		c := newCgroupTree(t)
		c.mount(t, "cgroup2", "cg", "rw")
		session := c.dir(t, "cg/user.slice/user-1000.slice/session-3.scope", files("cpu memory pids"))
		c.dir(t, "cg/user.slice/user-1000.slice/user@1000.service", files("memory pids"))
		for _, f := range []string{"cgroup.procs", "cgroup.subtree_control"} {
			if err := os.Chmod(filepath.Join(session, f), 0o444); err != nil {
				t.Fatal(err)
			}
		}
		c.procCg.WriteString("0::/user.slice/user-1000.slice/session-3.scope\n")
		f := c.check(t, 1000, "alice")
		if f.status != statusWarn || !strings.Contains(f.summary, "not delegated") {
			t.Fatalf("got %v %q", f.status, f.summary)
		}
		mustHave(t, "fixes", f.fixes, "systemd-run --user --scope -p Delegate=yes jail")
		mustHave(t, "fixes", f.fixes, "Delegate=cpu cpuset io memory pids")
		mustHave(t, "notes", f.notes, "systemd delegates only memory pids")
	})
}

func TestDoctorCgroupHybrid(t *testing.T) {
	c := newCgroupTree(t)
	mounts := map[string]string{}
	for _, ctl := range []string{"memory", "pids", "cpu", "cpuacct", "freezer"} {
		mounts[ctl] = c.mount(t, "cgroup", ctl, "rw,"+ctl)
	}
	c.mount(t, "cgroup", "systemd", "rw,name=systemd")
	c.mount(t, "cgroup2", "unified", "rw")
	c.dir(t, "unified", map[string]string{"cgroup.controllers": "hugetlb\n", "cgroup.procs": "", "cgroup.subtree_control": ""})
	c.procCg.WriteString("9:name=systemd:/\n4:memory:/\n1:cpu:/\n0::/\n")
	f := c.check(t, 1001, "bob")
	if got := cgroupVersion(mustLayout(t, c, "bob")); got != "hybrid" {
		t.Errorf("version %q, want hybrid", got)
	}
	if f.status != statusWarn || !strings.Contains(f.summary, "hybrid") || !strings.Contains(f.summary, "hugetlb") ||
		!strings.Contains(f.summary, "no v1 subtree delegated to bob") {
		t.Fatalf("got %v %q", f.status, f.summary)
	}
	mustHave(t, "fixes", f.fixes, "setup-cgroup --user bob")

	// What `jail setup-cgroup --user bob` makes: the doctor must find it.
	for _, ctl := range []string{"memory", "pids", "cpu", "cpuacct"} {
		c.dir(t, filepath.Join(ctl, "jail", "bob"), map[string]string{"cgroup.procs": ""})
	}
	f = c.check(t, 1001, "bob")
	if f.status != statusOK || !strings.Contains(f.summary, "v1 delegated to bob (memory pids cpu cpuacct)") {
		t.Fatalf("after delegation: got %v %q\n%q", f.status, f.summary, f.details)
	}
	mustHave(t, "details", f.details, "memory: delegated at "+filepath.Join(mounts["memory"], "jail", "bob"))
}

func mustLayout(t *testing.T, c *cgroupTree, user string) *limits.Layout {
	t.Helper()
	l, err := limits.ReadLayout(strings.NewReader(c.mountinfo.String()), strings.NewReader(c.procCg.String()), user)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestDoctorCgroupVersion(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    limits.Layout
		want string
	}{
		{"v2", limits.Layout{V2Mount: "/sys/fs/cgroup"}, "v2"},
		{"v1", limits.Layout{V1: []limits.V1Controller{{Name: "memory"}}}, "v1"},
		{"v1, others only", limits.Layout{V1Other: []string{"cpuset"}}, "v1"},
		{"hybrid", limits.Layout{V2Mount: "/sys/fs/cgroup/unified", V1: []limits.V1Controller{{Name: "pids"}}}, "hybrid"},
		{"none", limits.Layout{}, "none"},
	} {
		if got := cgroupVersion(&tc.l); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestDoctorHelperNotSetuid(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "newuidmap")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	how, err := helperPrivilege(p, capSetuid)
	if err == nil || !strings.Contains(err.Error(), "neither setuid root nor has file capabilities") {
		t.Fatalf("plain file: how %q, err %v", how, err)
	}
	h := &doctorHost{
		uid: 1000, user: "alice",
		helpers: []helperFact{{name: "newuidmap", path: p, err: err}, {name: "newgidmap", path: "/usr/bin/newgidmap", how: "setuid root"}},
	}
	f := checkHelpers(h)
	if f.status != statusWarn || !strings.Contains(f.summary, p) {
		t.Fatalf("got %v %q", f.status, f.summary)
	}
	mustHave(t, "fixes", f.fixes, "sudo apt-get install --reinstall uidmap")
	mustHave(t, "notes", f.notes, "only your own uid and gid")

	h.helpers[0] = helperFact{name: "newuidmap", err: errors.New("newuidmap not found in PATH or /usr/bin")}
	if f := checkHelpers(h); !strings.Contains(strings.Join(f.fixes, "\n"), "sudo apt-get install uidmap") {
		t.Errorf("missing helper: fixes %q", f.fixes)
	}

	if os.Getuid() != 0 {
		// setuid, but owned by us: no privilege to give.
		if err := os.Chmod(p, os.ModeSetuid|0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := helperPrivilege(p, capSetuid); err == nil || !strings.Contains(err.Error(), "not root") {
			t.Errorf("setuid non-root file: %v", err)
		}
	}
}

func TestDoctorFileCaps(t *testing.T) {
	caps := func(rev, flags, permitted uint32, rootid ...uint32) []byte {
		var b bytes.Buffer
		for _, v := range append([]uint32{rev | flags, permitted, 0, 0, 0}, rootid...) {
			binary.Write(&b, binary.LittleEndian, v)
		}
		return b.Bytes()
	}
	for _, tc := range []struct {
		name string
		data []byte
		bit  uint
		ok   bool
	}{
		{"setuid+ep", caps(vfsCapRev2, vfsCapFlagsEffect, 1<<capSetuid), capSetuid, true},
		{"setuid+p", caps(vfsCapRev2, 0, 1<<capSetuid), capSetuid, false},
		{"setgid for newuidmap", caps(vfsCapRev2, vfsCapFlagsEffect, 1<<capSetgid), capSetuid, false},
		{"setgid+ep", caps(vfsCapRev2, vfsCapFlagsEffect, 1<<capSetgid), capSetgid, true},
		{"rev3 host root", caps(vfsCapRev3, vfsCapFlagsEffect, 1<<capSetuid, 0), capSetuid, true},
		{"rev3 namespaced", caps(vfsCapRev3, vfsCapFlagsEffect, 1<<capSetuid, 100000), capSetuid, false},
		{"short", []byte{1, 2}, capSetuid, false},
		{"bad revision", caps(0x07000000, vfsCapFlagsEffect, 1<<capSetuid), capSetuid, false},
	} {
		if ok, why := fileCapHas(tc.data, tc.bit); ok != tc.ok {
			t.Errorf("%s: ok = %v (%s), want %v", tc.name, ok, why, tc.ok)
		}
	}
}

func TestDoctorParsers(t *testing.T) {
	for _, tc := range []struct {
		release  string
		maj, min int
		want     bool
	}{
		{"6.18.44-fc-v657", 5, 7, true},
		{"5.7.0", 5, 7, true},
		{"5.6.19-arch1", 5, 7, false},
		{"5.10", 5, 14, false},
		{"4.19.0-amd64", 5, 7, false},
		{"6.1+", 5, 19, true},
		{"", 5, 7, false},
	} {
		if got := kernelAtLeast(tc.release, tc.maj, tc.min); got != tc.want {
			t.Errorf("kernelAtLeast(%q, %d, %d) = %v", tc.release, tc.maj, tc.min, got)
		}
	}
	mode, n := parseSeccompStatus("Name:\tsh\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t3\n")
	if mode != 2 || n != 3 {
		t.Errorf("seccomp status: mode %d filters %d", mode, n)
	}
	if mode, n := parseSeccompStatus("Name:\tsh\n"); mode != -1 || n != -1 {
		t.Errorf("no seccomp fields: mode %d filters %d", mode, n)
	}
}

func TestDoctorDetectContainer(t *testing.T) {
	root := t.TempDir()
	if kind, why := detectContainer(root); kind != "" {
		t.Errorf("empty root: %q %q", kind, why)
	}
	if err := os.MkdirAll(filepath.Join(root, "proc/1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "proc/1/cgroup"), []byte("0::/kubepods/burstable/pod1/abc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if kind, _ := detectContainer(root); kind != "kubernetes" {
		t.Errorf("kubepods: %q", kind)
	}
	if err := os.WriteFile(filepath.Join(root, ".dockerenv"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if kind, why := detectContainer(root); kind != "docker" || len(why) != 2 {
		t.Errorf(".dockerenv: %q %q", kind, why)
	}
}

// fineHost is a host where every check is ok.
func fineHost() *doctorHost {
	return &doctorHost{
		uid: 1000, gid: 1000, user: "alice", kernel: "6.1.0", timeNS: true,
		ids:      userns.Host{UID: 1000, GID: 1000, User: "alice", SubUIDs: []userns.Range{{Start: 100000, Count: 65536}}, SubGIDs: []userns.Range{{Start: 100000, Count: 65536}}, HasHelpers: true},
		helpers:  []helperFact{{name: "newuidmap", how: "setuid root"}, {name: "newgidmap", how: "setuid root"}},
		mapTrial: &mapTrial{uids: 65537, gids: 65537},
		layout:   &limits.Layout{V2Mount: "/nonexistent"}, jailCgroup: "/nonexistent/delegated",
		seccompMode: 0, seccompCount: 0,
	}
}

func TestDoctorReport(t *testing.T) {
	var out bytes.Buffer
	h := fineHost()
	h.jailCgroup = ""
	h.layout = &limits.Layout{} // no cgroup: one warning
	if code := report(&out, h, false); code != doctorOK {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "jail can run here, with less (1 warning above)") {
		t.Errorf("no warning summary:\n%s", out.String())
	}

	// A clone refused as in Docker: fail, exit 1, with the container fix.
	out.Reset()
	h = fineHost()
	h.container, h.seccompMode = "docker", 2
	h.trial = nsTrial{err: fmt.Errorf("fork/exec /proc/self/exe: %w", unix.EPERM), refused: []string{"user"}}
	if code := report(&out, h, false); code != doctorFail {
		t.Fatalf("exit %d, want %d\n%s", code, doctorFail, out.String())
	}
	s := out.String()
	for _, want := range []string{"fail  user namespaces", "fail  container", "--security-opt seccomp=unconfined", "jail cannot run here"} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}

	// The sysctl that blocks it is named, with its fix.
	out.Reset()
	h = fineHost()
	h.sysctls = map[string]string{"kernel.unprivileged_userns_clone": "0", "user.max_user_namespaces": "1000"}
	h.trial = nsTrial{err: unix.EPERM}
	report(&out, h, true)
	if s := out.String(); !strings.Contains(s, "fix: sudo sysctl -w kernel.unprivileged_userns_clone=1") ||
		strings.Contains(s, "max_user_namespaces=15000") || !strings.Contains(s, "user.max_user_namespaces = 1000") {
		t.Errorf("sysctl diagnosis:\n%s", s)
	}
}

func TestDoctorShortWhenFine(t *testing.T) {
	// A delegated cgroup2 directory in a temp dir, so every area is ok.
	dir := t.TempDir()
	for f, v := range map[string]string{"cgroup.controllers": "cpu memory pids", "cgroup.procs": "", "cgroup.subtree_control": ""} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := fineHost()
	h.layout = &limits.Layout{V2Mount: filepath.Dir(dir)}
	h.jailCgroup = dir
	var out bytes.Buffer
	if code := report(&out, h, false); code != doctorOK {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(doctorChecks) {
		t.Errorf("%d lines for %d areas:\n%s", len(lines), len(doctorChecks), out.String())
	}
	for i, line := range lines {
		if !strings.HasPrefix(line, "ok    "+doctorChecks[i].name) {
			t.Errorf("line %d: %q", i, line)
		}
	}
}
