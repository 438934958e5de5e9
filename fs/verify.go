package fs

import (
	"fmt"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// Verify reads the mount table of the calling process and checks it against
// spec: flags are requests, the table is what the kernel did.
func Verify(spec Spec) error {
	infos, err := mountinfo.GetMounts(nil)
	if err != nil {
		return fmt.Errorf("mount table check: %w", err)
	}
	return verify(spec, infos)
}

// want is what one mountpoint must look like.
type want struct {
	fstype   string   // "" for any (a bind keeps its source's type)
	opts     []string // per-mount options that must be present
	sbOpts   []string // super-block options that must be present
	subtree  bool     // submounts below it are expected (a recursive bind)
	optional bool     // it may be absent
}

// expected lists the mountpoints the set-up creates, in the sandbox's view.
func expected(spec Spec) map[string]want {
	w := map[string]want{
		"/":        {fstype: "tmpfs", opts: []string{"ro", "nosuid", "nodev"}},
		"/proc":    {fstype: "proc", opts: []string{"ro", "nosuid", "nodev", "noexec"}},
		"/dev":     {fstype: "tmpfs", opts: []string{"ro", "nosuid", "noexec"}},
		"/dev/pts": {fstype: "devpts", opts: []string{"rw", "nosuid", "noexec"}, sbOpts: []string{fmt.Sprintf("max=%d", DevPtsMax)}},
		"/dev/shm": {fstype: "tmpfs", opts: []string{"rw", "nosuid", "nodev", "noexec"}},
	}
	for _, d := range Devices {
		w["/dev/"+d] = want{opts: []string{"nosuid", "noexec"}}
	}
	// The /proc masks exist only where the kernel has the path: they are
	// optional, but when present they must be read-only.
	for _, p := range append(append(append([]string{}, ProcReadOnly...), ProcMaskedFiles...), ProcMaskedDirs...) {
		w[p] = want{opts: []string{"ro", "nosuid", "nodev", "noexec"}, optional: true}
	}
	for _, op := range spec.Ops {
		switch op.Kind {
		case OpBind:
			mode := "ro"
			if op.RW {
				mode = "rw"
			}
			w[op.Target] = want{opts: []string{mode, "nosuid", "nodev"}, subtree: true}
		case OpTmpfs:
			w[op.Target] = want{fstype: "tmpfs", opts: []string{"rw", "nosuid", "nodev"}}
		}
	}
	return w
}

func verify(spec Spec, infos []*mountinfo.Info) error {
	w := expected(spec)
	seen := make(map[string]bool, len(w))
	for _, m := range infos {
		if strings.Contains(m.Optional, "shared:") {
			return &VerifyError{Target: m.Mountpoint, Want: "private propagation", Got: m.Optional}
		}
		exp, ok := w[m.Mountpoint]
		if !ok || seen[m.Mountpoint] {
			// A mount not asked for is only allowed inside a recursive
			// bind, where it came from the host along with its parent.
			parent, found := enclosingBind(w, m.Mountpoint)
			if !found {
				return &VerifyError{Target: m.Mountpoint, Want: "no mount", Got: m.FSType + " (" + m.Options + ")"}
			}
			// A host submount of a writable bind may be locked read-only
			// by the kernel: require only what the sandbox adds.
			exp = want{opts: parent.opts}
			if contains(parent.opts, "rw") {
				exp.opts = []string{"nosuid", "nodev"}
			}
		} else {
			seen[m.Mountpoint] = true
			if exp.fstype != "" && m.FSType != exp.fstype {
				return &VerifyError{Target: m.Mountpoint, Want: exp.fstype, Got: m.FSType}
			}
		}
		have := strings.Split(m.Options, ",")
		for _, o := range exp.opts {
			if !contains(have, o) {
				return &VerifyError{Target: m.Mountpoint, Want: o, Got: m.Options}
			}
		}
		sb := strings.Split(m.VFSOptions, ",")
		for _, o := range exp.sbOpts {
			if !contains(sb, o) {
				return &VerifyError{Target: m.Mountpoint, Want: o, Got: m.VFSOptions}
			}
		}
	}
	for target, exp := range w {
		if !seen[target] && !exp.optional {
			return &VerifyError{Target: target, Want: "a mount", Got: "none"}
		}
	}
	return nil
}

// enclosingBind finds the nearest recursive bind above path.
func enclosingBind(w map[string]want, path string) (want, bool) {
	for p := parentDir(path); ; p = parentDir(p) {
		if exp, ok := w[p]; ok && exp.subtree {
			return exp, true
		}
		if p == "/" {
			return want{}, false
		}
	}
}

func parentDir(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
