package limits

import (
	"fmt"
	"io"
	"path"
	"slices"

	"github.com/moby/sys/mountinfo"
)

// Layout is the machine's cgroup layout as Prepare sees it, for `jail
// doctor` to report. It names directories only; whether they are usable is
// for the caller to check.
type Layout struct {
	// V2Mount is the first cgroup2 mount point ("" if none), V2Dir our own
	// cgroup2 directory on it ("" if none or not visible below the mount),
	// V2Path the same cgroup as a path inside the hierarchy ("/" for the root).
	V2Mount, V2Dir, V2Path string
	// V1 lists the mounted v1 controllers that jail uses, in Prepare's order.
	V1 []V1Controller
	// V1Other lists the other mounted v1 controllers (cpuset, blkio, ...).
	V1Other []string
}

// V1Controller is one mounted v1 controller that jail uses.
type V1Controller struct {
	Name  string
	Mount string // mount point of its hierarchy (shared by co-mounted controllers)
	// Optional: jail does without it (the freezer).
	Optional bool
	// Candidates are the directories where Prepare looks for the delegated
	// jail/<user>, in order: below our own cgroup, then below the root.
	Candidates []string
}

// V2Controllers returns the controllers a cgroup2 directory must offer
// (cgroup.controllers) for Prepare to use it.
func V2Controllers() []string { return slices.Clone(v2Controllers) }

// HostLayout reads this process's cgroup layout for the calling user.
func HostLayout() (*Layout, error) {
	h, err := probeHost()
	if err != nil {
		return nil, err
	}
	return layout(h, currentUser()), nil
}

// ReadLayout parses a mountinfo file and a /proc/<pid>/cgroup file into the
// layout Prepare would see for user.
func ReadLayout(mountInfo, procCgroup io.Reader, user string) (*Layout, error) {
	mounts, err := mountinfo.GetMountsFromReader(mountInfo, mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return nil, fmt.Errorf("mountinfo: %w", err)
	}
	own, err := parseProcCgroup(procCgroup)
	if err != nil {
		return nil, fmt.Errorf("cgroup file: %w", err)
	}
	return layout(newHostCgroups(mounts, own), user), nil
}

func layout(h *hostCgroups, user string) *Layout {
	l := &Layout{V2Mount: h.V2Mount}
	if h.V2Own != "" {
		l.V2Dir, l.V2Path = h.v2Dir(h.V2Own), path.Clean(h.V2Own)
	}
	for _, ctl := range v1Controllers {
		m, ok := h.V1Mounts[ctl]
		if !ok {
			continue
		}
		c := V1Controller{Name: ctl, Mount: m.Dir, Optional: v1Optional[ctl]}
		// The same candidates, in the same order, as prepareV1Auto.
		for _, cand := range []string{path.Join(h.V1Own[ctl], delegatedName, user), path.Join("/", delegatedName, user)} {
			if d := m.dir(cand); d != "" && !slices.Contains(c.Candidates, d) {
				c.Candidates = append(c.Candidates, d)
			}
		}
		l.V1 = append(l.V1, c)
	}
	for ctl := range h.V1Mounts {
		if !slices.Contains(v1Controllers, ctl) {
			l.V1Other = append(l.V1Other, ctl)
		}
	}
	slices.Sort(l.V1Other)
	return l
}

// V1Writable reports whether dir can be a v1 sandbox parent for us, as
// Prepare decides: dir and its cgroup.procs are writable.
func V1Writable(dir string) error { return writable(dir) }
