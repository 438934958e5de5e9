package fs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/jail-sandbox/jail/profile"
)

// defaultDevShmSize caps /dev/shm when the profile says nothing.
const defaultDevShmSize = 64 << 20

// Compile turns a profile's mount list into operations, checking the host
// side of each: a bind source must exist (unless optional), its symlinks are
// resolved here, in one walk through descriptors (resolveSource), so that
// the set-up never follows a link, and the object found is recorded by device
// and inode, so that the set-up mounts that object or nothing. A source that is
// itself a symlink is recreated as the same symlink (so /bin -> usr/bin on
// a merged-/usr system stays a link instead of becoming a second mount). A
// source reached through a symlink inside a writable bind of the same
// profile is refused (plantedLink): an earlier run could have planted it.
// Every failure names the profile file, line and key. An optional tmpfs
// that gives way (profile.LeftOut) is left out; with protect_vcs, the
// version-control metadata that writable binds show is bound read-only
// over itself (protectVCS, vcs.go).
func Compile(p *profile.Profile) (Spec, error) {
	spec := Spec{DevShmSize: defaultDevShmSize}
	var errs []error
	binds, writable := resolveBinds(p.Mounts)
	for i, m := range p.Mounts {
		if p.LeftOut(i) {
			continue
		}
		where := fmt.Sprintf("mount[%d]", i)
		op := Op{Target: m.Target, Where: where, Mode: m.Mode}
		switch m.Type {
		case profile.Bind:
			src, err := binds[i].src, binds[i].err
			if errors.Is(err, fs.ErrNotExist) && m.Optional {
				continue
			}
			if err != nil {
				errs = append(errs, mountErr(p, m, where+".source", sourceMsg(m.Source, err)))
				continue
			}
			if src.link != "" {
				link := src.link
				// A relative link means something else in another
				// directory: pin it to what it names on the host.
				if !filepath.IsAbs(link) && filepath.Dir(m.Target) != filepath.Dir(m.Source) {
					link = filepath.Join(filepath.Dir(src.path), link)
				}
				op.Kind, op.Source = OpSymlink, link
				spec.Ops = append(spec.Ops, op)
				continue
			}
			if l, j, ok := plantedLink(src, writable); ok {
				errs = append(errs, mountErr(p, m, where+".source", fmt.Sprintf(
					"%s: reached through the symlink %s, which is inside the writable bind of %s (mount[%d]): "+
						"a run could have planted it to choose what this bind mounts; "+
						"if the link is yours, name its target %s as the source, or make mount[%d] read-only",
					m.Source, l.path, p.Mounts[j].Source, j, src.path, j)))
				continue
			}
			op.Kind, op.Source, op.RW, op.IsDir, op.ID = OpBind, src.path, m.RW, src.isDir, src.id
		case profile.Tmpfs:
			op.Kind, op.Size = OpTmpfs, uint64(m.Size)
		case profile.Dir:
			op.Kind = OpDir
		case profile.Symlink:
			op.Kind, op.Source = OpSymlink, m.Source
		case profile.File:
			op.Kind, op.Content = OpFile, m.Content
		default:
			errs = append(errs, mountErr(p, m, where+".type", fmt.Sprintf("unknown mount type %q", m.Type)))
			continue
		}
		spec.Ops = append(spec.Ops, op)
	}
	if p.ProtectVCS && len(errs) == 0 {
		ops, absent, err := protectVCS(spec.Ops, p.Cwd)
		if err != nil {
			return spec, err
		}
		spec.Ops, spec.AbsentGitlinks = ops, absent
	}
	return spec, errors.Join(errs...)
}

// resolvedBind is one bind source as resolveSource found it, or why not.
type resolvedBind struct {
	src source
	err error
}

// resolveBinds resolves every bind source once (by index; other entries
// stay zero), and lists the writable directories among them, by device
// and inode, with their index.
func resolveBinds(mounts []profile.Mount) ([]resolvedBind, map[FileID]int) {
	binds := make([]resolvedBind, len(mounts))
	writable := map[FileID]int{}
	for i, m := range mounts {
		if m.Type != profile.Bind {
			continue
		}
		src, err := resolveSource(m.Source)
		binds[i] = resolvedBind{src, err}
		if err == nil && m.RW && src.isDir {
			if _, dup := writable[src.id]; !dup {
				writable[src.id] = i
			}
		}
	}
	return binds, writable
}

func sourceMsg(src string, err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	msg := fmt.Sprintf("%s: %v", src, err)
	if errors.Is(err, fs.ErrNotExist) {
		msg += " (set optional = true to skip a missing source)"
	}
	return msg
}

func mountErr(p *profile.Profile, m profile.Mount, key, msg string) error {
	file := p.File
	if m.File != "" {
		file = m.File // a parent's entry, with extends
	}
	return &profile.Error{File: file, Line: m.Line, Key: key, Msg: msg}
}
