package limits

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// v1Controllers are the v1 controllers a sandbox leaf is made in, in order.
var v1Controllers = []string{"memory", "pids", "cpu", "cpuacct", "freezer"}

// v2Controllers are the controllers jail enables for a cgroup2 leaf.
var v2Controllers = []string{"memory", "pids", "cpu"}

// hostCgroups is what Prepare needs to know about the machine's cgroups. It
// is read from /proc/self/mountinfo and /proc/self/cgroup by probeHost;
// tests build one by hand.
type hostCgroups struct {
	// V2Mount is the mount point of the cgroup2 hierarchy, "" if none.
	V2Mount string
	// V2Root is the mount's root inside the hierarchy ("/" unless a subtree
	// was bind mounted or the mount was made in a cgroup namespace).
	V2Root string
	// V2Own is our cgroup2 path from the "0::" line of /proc/self/cgroup,
	// "" if there is none.
	V2Own string
	// V1Mounts maps a v1 controller to its mount point and mount root.
	V1Mounts map[string]v1Mount
	// V1Own maps a v1 controller to our cgroup path in its hierarchy.
	V1Own map[string]string
}

type v1Mount struct {
	Dir  string // mount point
	Root string // root of the mount inside the hierarchy
}

// dir turns a path inside the hierarchy into a directory on the mount, or ""
// if the path is not visible below the mount.
func (m v1Mount) dir(rel string) string { return hostDir(m.Dir, m.Root, rel) }

func hostDir(mnt, root, rel string) string {
	rel = path.Clean("/" + rel)
	root = path.Clean("/" + root)
	if root != "/" {
		if rel != root && !strings.HasPrefix(rel, root+"/") {
			return ""
		}
		rel = strings.TrimPrefix(rel, root)
	}
	return filepath.Join(mnt, rel)
}

// v2Dir is the directory of the cgroup2 path rel, or "" if not visible.
func (h *hostCgroups) v2Dir(rel string) string {
	if h.V2Mount == "" {
		return ""
	}
	return hostDir(h.V2Mount, h.V2Root, rel)
}

// probeHost reads the real host's cgroup layout. It is a variable so that
// tests can point Prepare at a fake cgroup2 tree.
var probeHost = func() (*hostCgroups, error) {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	own, err := parseProcCgroup(f)
	if err != nil {
		return nil, fmt.Errorf("/proc/self/cgroup: %w", err)
	}
	return newHostCgroups(mounts, own), nil
}

// newHostCgroups combines the cgroup mounts and the parsed /proc/self/cgroup.
func newHostCgroups(mounts []*mountinfo.Info, own []procCgroup) *hostCgroups {
	h := &hostCgroups{V1Mounts: map[string]v1Mount{}, V1Own: map[string]string{}}
	for _, m := range mounts {
		switch m.FSType {
		case "cgroup2":
			// The first cgroup2 mount wins; /sys/fs/cgroup comes first on
			// every layout we know of.
			if h.V2Mount == "" {
				h.V2Mount, h.V2Root = m.Mountpoint, m.Root
			}
		case "cgroup":
			for _, c := range v1MountControllers(m.VFSOptions) {
				if _, dup := h.V1Mounts[c]; !dup {
					h.V1Mounts[c] = v1Mount{Dir: m.Mountpoint, Root: m.Root}
				}
			}
		}
	}
	for _, l := range own {
		if l.ID == 0 && len(l.Controllers) == 0 {
			h.V2Own = l.Path
			continue
		}
		for _, c := range l.Controllers {
			h.V1Own[c] = l.Path
		}
	}
	return h
}

// v1MountControllers returns the controllers named in the super options of
// a v1 cgroup mount ("rw,cpu,cpuacct" → cpu, cpuacct). Named hierarchies
// ("name=systemd") and mount options are left out.
func v1MountControllers(superOpts string) []string {
	var out []string
	for _, o := range strings.Split(superOpts, ",") {
		switch {
		case o == "", strings.Contains(o, "="):
		case o == "rw", o == "ro", o == "noprefix", o == "clone_children", o == "xattr",
			o == "cpuset_v2_mode", o == "favordynmods":
		default:
			out = append(out, o)
		}
	}
	return out
}

// procCgroup is one line of /proc/<pid>/cgroup: "id:controllers:path".
type procCgroup struct {
	ID          int
	Controllers []string // empty for the cgroup2 line "0::/path"
	Path        string
}

// parseProcCgroup parses /proc/<pid>/cgroup.
func parseProcCgroup(r io.Reader) ([]procCgroup, error) {
	var out []procCgroup
	s := bufio.NewScanner(r)
	for n := 1; s.Scan(); n++ {
		line := s.Text()
		if line == "" {
			continue
		}
		idStr, rest, ok1 := strings.Cut(line, ":")
		ctrls, p, ok2 := strings.Cut(rest, ":")
		id, err := strconv.Atoi(idStr)
		if !ok1 || !ok2 || err != nil || !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("line %d: malformed %q", n, line)
		}
		l := procCgroup{ID: id, Path: p}
		if ctrls != "" {
			l.Controllers = strings.Split(ctrls, ",")
		}
		out = append(out, l)
	}
	return out, s.Err()
}

// parseFlatKeyed parses a cgroup "flat keyed" file (cpu.stat, memory.events,
// pids.events, cpuacct.stat, memory.oom_control): one "key value" per line.
// Lines whose value is not a number are skipped.
func parseFlatKeyed(r io.Reader) (map[string]uint64, error) {
	out := map[string]uint64{}
	s := bufio.NewScanner(r)
	for s.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(s.Text()), " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		out[k] = n
	}
	return out, s.Err()
}

func readFlatKeyed(file string) (map[string]uint64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseFlatKeyed(f)
}

// readUint reads a file holding one number; "max" reads as 0.
func readUint(file string) (uint64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	return n, nil
}

// readPids reads a cgroup.procs file.
func readPids(file string) ([]int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// writeFile writes a cgroup control file; the error names the file.
func writeFile(file, val string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(val)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &os.PathError{Op: "write " + strconv.Quote(val), Path: file, Err: unwrapPathErr(err)}
	}
	return nil
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// parseV1Dirs parses a v1 CgroupDir: either one relative path for every
// controller ("/jail/alice") or "controller=path" pairs separated by commas.
// The result maps controller → path; the key "" means "every controller".
func parseV1Dirs(s string) (map[string]string, error) {
	out := map[string]string{}
	if !strings.Contains(s, "=") {
		if !strings.HasPrefix(s, "/") {
			return nil, fmt.Errorf("cgroup dir %q: a v1 path must start with / (relative to each controller root)", s)
		}
		out[""] = path.Clean(s)
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || !strings.HasPrefix(v, "/") {
			return nil, fmt.Errorf("cgroup dir %q: want controller=/path pairs separated by commas, got %q", s, kv)
		}
		out[k] = path.Clean(v)
	}
	return out, nil
}

// formatV1Dirs is the inverse of parseV1Dirs for a controller map.
func formatV1Dirs(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
