package userns

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestBuild(t *testing.T) {
	sub := []Range{{100000, 65536}}
	tests := []struct {
		name string
		host Host
		want Mapping
	}{
		{
			name: "helpers and ranges",
			host: Host{UID: 1000, GID: 1001, User: "alice", SubUIDs: []Range{{100000, 65536}, {300000, 10}}, SubGIDs: []Range{{200000, 100}}, HasHelpers: true},
			want: Mapping{
				UIDs:   []IDMap{{0, 1000, 1}, {1, 100000, 65536}, {65537, 300000, 10}},
				GIDs:   []IDMap{{0, 1001, 1}, {1, 200000, 100}},
				Helper: true,
			},
		},
		{
			name: "zero-count and overlapping ranges skipped",
			host: Host{UID: 1000, GID: 1000, User: "alice", SubUIDs: []Range{{5, 0}, {500, 1000}, {600, 10}, {2000, 5}}, SubGIDs: sub, HasHelpers: true},
			want: Mapping{
				// 500..1499 contains the caller's uid 1000: the kernel would refuse it.
				UIDs:   []IDMap{{0, 1000, 1}, {1, 600, 10}, {11, 2000, 5}},
				GIDs:   []IDMap{{0, 1000, 1}, {1, 100000, 65536}},
				Helper: true,
			},
		},
		{
			name: "no subuid range",
			host: Host{UID: 1000, GID: 1000, User: "alice", SubGIDs: sub, HasHelpers: true},
			want: Mapping{
				UIDs: []IDMap{{0, 1000, 1}}, GIDs: []IDMap{{0, 1000, 1}}, SetgroupsDeny: true,
				Warning: `no /etc/subuid range for "alice": only uid 0 and gid 0 are mapped; add one with: sudo usermod --add-subuids 100000-165535 alice`,
			},
		},
		{
			name: "no subgid range",
			host: Host{UID: 1000, GID: 1000, User: "alice", SubUIDs: sub, HasHelpers: true},
			want: Mapping{
				UIDs: []IDMap{{0, 1000, 1}}, GIDs: []IDMap{{0, 1000, 1}}, SetgroupsDeny: true,
				Warning: `no /etc/subgid range for "alice": only uid 0 and gid 0 are mapped; add one with: sudo usermod --add-subgids 100000-165535 alice`,
			},
		},
		{
			name: "no ranges at all",
			host: Host{UID: 1000, GID: 1000, User: "alice", SubUIDs: []Range{{1, 0}}, HasHelpers: true},
			want: Mapping{
				UIDs: []IDMap{{0, 1000, 1}}, GIDs: []IDMap{{0, 1000, 1}}, SetgroupsDeny: true,
				Warning: `no /etc/subuid or /etc/subgid range for "alice": only uid 0 and gid 0 are mapped; add them with: sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice`,
			},
		},
		{
			name: "no helpers",
			host: Host{UID: 1000, GID: 1000, User: "alice", SubUIDs: sub, SubGIDs: sub},
			want: Mapping{
				UIDs: []IDMap{{0, 1000, 1}}, GIDs: []IDMap{{0, 1000, 1}}, SetgroupsDeny: true,
				Warning: `newuidmap/newgidmap not found or not setuid-root: only uid 0 and gid 0 are mapped; install the "uidmap" package (Debian/Ubuntu) or "shadow-utils" (Fedora)`,
			},
		},
		{
			name: "nothing, unknown user name",
			host: Host{UID: 1234, GID: 99},
			want: Mapping{
				UIDs: []IDMap{{0, 1234, 1}}, GIDs: []IDMap{{0, 99, 1}}, SetgroupsDeny: true,
				Warning: `no /etc/subuid or /etc/subgid range for uid 1234 and newuidmap/newgidmap not found or not setuid-root: only uid 0 and gid 0 are mapped; add them with: sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 "$(id -un)"; install the "uidmap" package (Debian/Ubuntu) or "shadow-utils" (Fedora)`,
			},
		},
		{
			name: "root with entries uses the first range",
			host: Host{UID: 0, GID: 0, User: "root", SubUIDs: []Range{{0, 0}, {500000, 1000}, {700000, 5}}, SubGIDs: []Range{{600000, 2000}}, HasHelpers: true},
			want: Mapping{UIDs: []IDMap{{0, 500000, 1000}}, GIDs: []IDMap{{0, 600000, 2000}}},
		},
		{
			name: "root without entries uses the default range",
			host: Host{UID: 0, GID: 0, User: "root"},
			want: Mapping{UIDs: []IDMap{{0, 0x70000000, 65536}}, GIDs: []IDMap{{0, 0x70000000, 65536}}},
		},
		{
			name: "root with a subuid entry only",
			host: Host{UID: 0, GID: 5, SubUIDs: sub},
			want: Mapping{UIDs: []IDMap{{0, 100000, 65536}}, GIDs: []IDMap{{0, DefaultRootStart, DefaultRootCount}}},
		},
		{
			// Every usable outside id but the caller's: inside ids end exactly at 4294967294.
			name: "whole id space",
			host: Host{UID: 1000, GID: 1000, SubUIDs: []Range{{0, 1000}, {1001, 4294966294}, {4294967295, 1}}, SubGIDs: sub, HasHelpers: true},
			want: Mapping{
				UIDs:   []IDMap{{0, 1000, 1}, {1, 0, 1000}, {1001, 1001, 4294966294}},
				GIDs:   []IDMap{{0, 1000, 1}, {1, 100000, 65536}},
				Helper: true,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Build(tc.host)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Build:\n got %+v\nwant %+v", got, tc.want)
			}
			if got.MaxUID() > 1<<32-2 || got.MaxGID() > 1<<32-2 {
				t.Fatalf("max id past 2^32-2: %d %d", got.MaxUID(), got.MaxGID())
			}
			if tc.host.UID == 0 {
				for _, e := range append(got.UIDs, got.GIDs...) {
					if e.Outside == 0 {
						t.Fatalf("root caller mapped to host id 0: %+v", got)
					}
				}
			}
		})
	}
}

func TestBuildLineCap(t *testing.T) {
	var rs []Range
	for i := range 500 {
		rs = append(rs, Range{Start: 100000 + uint32(i)*1000, Count: 1000})
	}
	m := Build(Host{UID: 1000, GID: 1000, User: "alice", SubUIDs: rs, SubGIDs: rs[:3], HasHelpers: true})
	if len(m.UIDs) != MaxLines || MaxLines != 340 {
		t.Fatalf("uid lines = %d, want 340", len(m.UIDs))
	}
	if len(m.GIDs) != 4 {
		t.Fatalf("gid lines = %d, want 4", len(m.GIDs))
	}
	last := m.UIDs[len(m.UIDs)-1]
	if want := (IDMap{Inside: 1 + 338*1000, Outside: 100000 + 338*1000, Count: 1000}); last != want {
		t.Fatalf("last line %+v, want %+v", last, want)
	}
	if got, want := m.MaxUID(), uint32(339*1000); got != want {
		t.Fatalf("MaxUID = %d, want %d", got, want)
	}
	if got, want := m.MaxGID(), uint32(3000); got != want {
		t.Fatalf("MaxGID = %d, want %d", got, want)
	}
}

func TestMaxID(t *testing.T) {
	tests := []struct {
		name     string
		m        Mapping
		uid, gid uint32
	}{
		{name: "empty", m: Mapping{}, uid: 0, gid: 0},
		{name: "single", m: Mapping{UIDs: []IDMap{{0, 1000, 1}}, GIDs: []IDMap{{0, 1000, 1}}}, uid: 0, gid: 0},
		{name: "ranges", m: Mapping{UIDs: []IDMap{{0, 1000, 1}, {1, 100000, 65536}}, GIDs: []IDMap{{0, 1000, 1}, {1, 100000, 10}}}, uid: 65536, gid: 10},
		{name: "unordered", m: Mapping{UIDs: []IDMap{{100, 1, 10}, {0, 1000, 1}}, GIDs: []IDMap{{5, 1, 0}}}, uid: 109, gid: 0},
		{name: "root default", m: Build(Host{}), uid: 65535, gid: 65535},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.m.MaxUID(); got != tc.uid {
				t.Errorf("MaxUID = %d, want %d", got, tc.uid)
			}
			if got := tc.m.MaxGID(); got != tc.gid {
				t.Errorf("MaxGID = %d, want %d", got, tc.gid)
			}
		})
	}
}

func TestArgs(t *testing.T) {
	tests := []struct {
		name     string
		m        Mapping
		pid      int
		uid, gid []string
	}{
		{
			name: "helper",
			m:    Mapping{UIDs: []IDMap{{0, 1000, 1}, {1, 100000, 65536}}, GIDs: []IDMap{{0, 1001, 1}, {1, 200000, 65536}, {65537, 4294967200, 5}}},
			pid:  1234,
			uid:  []string{"1234", "0", "1000", "1", "1", "100000", "65536"},
			gid:  []string{"1234", "0", "1001", "1", "1", "200000", "65536", "65537", "4294967200", "5"},
		},
		{name: "empty", m: Mapping{}, pid: 7, uid: []string{"7"}, gid: []string{"7"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			uid, gid := tc.m.Args(tc.pid)
			if !reflect.DeepEqual(uid, tc.uid) || !reflect.DeepEqual(gid, tc.gid) {
				t.Fatalf("Args = %q, %q; want %q, %q", uid, gid, tc.uid, tc.gid)
			}
		})
	}
}

func TestMapFile(t *testing.T) {
	got := string(mapFile([]IDMap{{0, 1000, 1}, {1, 100000, 65536}}))
	if want := "0 1000 1\n1 100000 65536\n"; got != want {
		t.Fatalf("mapFile = %q, want %q", got, want)
	}
}

func TestMappingJSON(t *testing.T) {
	m := Mapping{UIDs: []IDMap{{0, 1000, 1}}, GIDs: []IDMap{{0, 1000, 1}}, SetgroupsDeny: true}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"uids":[{"inside":0,"outside":1000,"count":1}],"gids":[{"inside":0,"outside":1000,"count":1}],"helper":false,"setgroups_deny":true}`
	if string(b) != want {
		t.Fatalf("json = %s\nwant %s", b, want)
	}
}

func TestIsolate(t *testing.T) {
	m := Build(Host{UID: 1000, GID: 1000, User: "a", SubUIDs: []Range{{100000, 65536}}, SubGIDs: []Range{{200000, 65536}}, HasHelpers: true})
	got, ok := m.Isolate(1000, 1000, 70000)
	if !ok {
		t.Fatal("not isolated")
	}
	want := []IDMap{{0, 1000, 1}, {1000, 100000 + 70000%65536, 1}}
	if len(got.UIDs) != 2 || got.UIDs[0] != want[0] || got.UIDs[1] != want[1] {
		t.Errorf("UIDs %v, want %v", got.UIDs, want)
	}
	if got.GIDs[1].Outside != 200000+70000%65536 {
		t.Errorf("GIDs %v", got.GIDs)
	}
	if _, ok := m.Isolate(0, 0, 1); ok {
		t.Error("isolated uid 0")
	}
	single := Build(Host{UID: 1000, GID: 1000})
	if _, ok := single.Isolate(1000, 1000, 1); ok {
		t.Error("isolated a single-id mapping")
	}
}

func TestOutside(t *testing.T) {
	m := Build(Host{UID: 1000, GID: 1001, User: "a", SubUIDs: []Range{{100000, 65536}}, SubGIDs: []Range{{200000, 65536}}, HasHelpers: true})
	for _, tc := range []struct {
		uid, gid, hostUID, hostGID uint32
		ok                         bool
	}{
		{0, 0, 1000, 1001, true},
		{1, 1, 100000, 200000, true},
		{1000, 1000, 100999, 200999, true},
		{65536, 65536, 165535, 265535, true},
		{65537, 0, 0, 1001, false},
		{0, 65537, 1000, 0, false},
	} {
		u, g, ok := m.Outside(tc.uid, tc.gid)
		if u != tc.hostUID || g != tc.hostGID || ok != tc.ok {
			t.Errorf("Outside(%d, %d) = %d, %d, %v, want %d, %d, %v", tc.uid, tc.gid, u, g, ok, tc.hostUID, tc.hostGID, tc.ok)
		}
	}
	iso, _ := m.Isolate(1000, 1000, 7)
	if u, g, ok := iso.Outside(1000, 1000); !ok || u != 100007 || g != 200007 {
		t.Errorf("isolated: %d, %d, %v", u, g, ok)
	}
	if _, _, ok := iso.Outside(999, 999); ok {
		t.Error("isolated: 999 mapped")
	}
}
