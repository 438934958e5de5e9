package limits

import (
	"reflect"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
)

func TestParseFlatKeyed(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]uint64
	}{
		{"cpu.stat", "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\nnr_periods 0\n",
			map[string]uint64{"usage_usec": 1234, "user_usec": 1000, "system_usec": 234, "nr_periods": 0}},
		{"memory.events", "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n",
			map[string]uint64{"low": 0, "high": 0, "max": 12, "oom": 2, "oom_kill": 1, "oom_group_kill": 0}},
		{"cpuacct.stat", "user 42\nsystem 7\n", map[string]uint64{"user": 42, "system": 7}},
		{"memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
			map[string]uint64{"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 3}},
		{"pids.events", "max 5\n", map[string]uint64{"max": 5}},
		{"junk skipped", "weird\nkey notanumber\nok 1\n", map[string]uint64{"ok": 1}},
		{"empty", "", map[string]uint64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFlatKeyed(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseProcCgroup(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []procCgroup
		wantErr bool
	}{
		{"v2 only", "0::/user.slice/user-1000.slice/session-2.scope\n",
			[]procCgroup{{ID: 0, Path: "/user.slice/user-1000.slice/session-2.scope"}}, false},
		{"hybrid", "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/\n0::/\n",
			[]procCgroup{
				{ID: 9, Controllers: []string{"name=systemd"}, Path: "/"},
				{ID: 4, Controllers: []string{"memory"}, Path: "/process_api/abc"},
				{ID: 1, Controllers: []string{"cpu", "cpuacct"}, Path: "/"},
				{ID: 0, Path: "/"},
			}, false},
		{"path with colon", "0::/a:b\n", []procCgroup{{ID: 0, Path: "/a:b"}}, false},
		{"malformed", "garbage\n", nil, true},
		{"bad id", "x::/\n", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcCgroup(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

const hybridMountinfo = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
`

const v2Mountinfo = `25 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`

func TestNewHostCgroups(t *testing.T) {
	tests := []struct {
		name, mountinfo, cgroup string
		want                    *hostCgroups
	}{
		{"hybrid", hybridMountinfo, "4:memory:/process_api/abc\n1:cpu,cpuacct:/\n8:pids:/\n0::/\n", &hostCgroups{
			V2Mount: "/sys/fs/cgroup/unified", V2Root: "/", V2Own: "/",
			V1Mounts: map[string]v1Mount{
				"cpu":     {"/sys/fs/cgroup/cpu,cpuacct", "/"},
				"cpuacct": {"/sys/fs/cgroup/cpu,cpuacct", "/"},
				"memory":  {"/sys/fs/cgroup/memory", "/"},
				"freezer": {"/sys/fs/cgroup/freezer", "/"},
				"pids":    {"/sys/fs/cgroup/pids", "/"},
			},
			V1Own: map[string]string{"memory": "/process_api/abc", "cpu": "/", "cpuacct": "/", "pids": "/"},
		}},
		{"v2", v2Mountinfo, "0::/user.slice/u.scope\n", &hostCgroups{
			V2Mount: "/sys/fs/cgroup", V2Root: "/", V2Own: "/user.slice/u.scope",
			V1Mounts: map[string]v1Mount{}, V1Own: map[string]string{},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mounts, err := mountinfo.GetMountsFromReader(strings.NewReader(tc.mountinfo), mountinfo.FSTypeFilter("cgroup", "cgroup2"))
			if err != nil {
				t.Fatal(err)
			}
			own, err := parseProcCgroup(strings.NewReader(tc.cgroup))
			if err != nil {
				t.Fatal(err)
			}
			got := newHostCgroups(mounts, own)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestV1MountControllers(t *testing.T) {
	tests := map[string][]string{
		"rw,cpu,cpuacct":                      {"cpu", "cpuacct"},
		"rw,memory":                           {"memory"},
		"rw,xattr,name=systemd":               nil,
		"rw,cpuset,noprefix,release_agent=/x": {"cpuset"},
		"ro,pids":                             {"pids"},
	}
	for in, want := range tests {
		got := v1MountControllers(in)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %v, want %v", in, got, want)
		}
	}
}

func TestHostDir(t *testing.T) {
	tests := []struct{ mnt, root, rel, want string }{
		{"/sys/fs/cgroup", "/", "/a/b", "/sys/fs/cgroup/a/b"},
		{"/sys/fs/cgroup", "/", "/", "/sys/fs/cgroup"},
		{"/sys/fs/cgroup", "/a", "/a/b", "/sys/fs/cgroup/b"},
		{"/sys/fs/cgroup", "/a", "/ab", ""},
		{"/sys/fs/cgroup", "/a", "/x", ""},
	}
	for _, tc := range tests {
		if got := hostDir(tc.mnt, tc.root, tc.rel); got != tc.want {
			t.Errorf("hostDir(%q, %q, %q) = %q, want %q", tc.mnt, tc.root, tc.rel, got, tc.want)
		}
	}
}

func TestParseV1Dirs(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]string
		wantErr bool
	}{
		{"/jail/alice", map[string]string{"": "/jail/alice"}, false},
		{"/jail/alice/", map[string]string{"": "/jail/alice"}, false},
		{"memory=/p/jail/a,pids=/jail/a", map[string]string{"memory": "/p/jail/a", "pids": "/jail/a"}, false},
		{"jail/alice", nil, true},
		{"memory=jail", nil, true},
		{"=/x", nil, true},
	}
	for _, tc := range tests {
		got, err := parseV1Dirs(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: err = %v, wantErr %v", tc.in, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %v, want %v", tc.in, got, tc.want)
		}
	}
	// formatV1Dirs output round-trips.
	m := map[string]string{"pids": "/jail/a", "memory": "/p/jail/a"}
	s := strings.Join(formatV1Dirs(m), ",")
	if s != "memory=/p/jail/a,pids=/jail/a" {
		t.Errorf("formatV1Dirs = %q", s)
	}
	back, err := parseV1Dirs(s)
	if err != nil || !reflect.DeepEqual(back, m) {
		t.Errorf("round trip: %v %v", back, err)
	}
}

func TestCheckSpec(t *testing.T) {
	bad := []struct {
		spec Spec
		id   string
	}{
		{Spec{}, ""}, {Spec{}, "a/b"}, {Spec{}, ".."},
		{Spec{CPUs: -1}, "x"}, {Spec{CPUs: 0.001}, "x"},
	}
	for _, tc := range bad {
		if err := checkSpec(tc.spec, tc.id); err == nil {
			t.Errorf("checkSpec(%+v, %q) = nil, want error", tc.spec, tc.id)
		}
	}
	if err := checkSpec(Spec{CPUs: 0.5, Memory: 1 << 20, Pids: 10}, "abc-1"); err != nil {
		t.Error(err)
	}
	if q := cpuQuota(1.5); q != 150000 {
		t.Errorf("cpuQuota(1.5) = %d", q)
	}
}
