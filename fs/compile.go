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
// resolved here so that Setup never follows a link, and a source that is
// itself a symlink is recreated as the same symlink (so /bin -> usr/bin on
// a merged-/usr system stays a link instead of becoming a second mount).
// Every failure names the profile file, line and key. An optional tmpfs
// that gives way (profile.LeftOut) is left out; with protect_vcs, the
// version-control metadata that writable binds show is bound read-only
// over itself (protectVCS, vcs.go).
func Compile(p *profile.Profile) (Spec, error) {
	spec := Spec{DevShmSize: defaultDevShmSize}
	var errs []error
	for i, m := range p.Mounts {
		if p.LeftOut(i) {
			continue
		}
		where := fmt.Sprintf("mount[%d]", i)
		op := Op{Target: m.Target, Where: where, Mode: m.Mode}
		switch m.Type {
		case profile.Bind:
			fi, err := os.Lstat(m.Source)
			if errors.Is(err, fs.ErrNotExist) && m.Optional {
				continue
			}
			if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
				link, rerr := os.Readlink(m.Source)
				if rerr == nil {
					// A relative link means something else in another
					// directory: pin it to what it names on the host.
					if !filepath.IsAbs(link) && filepath.Dir(m.Target) != filepath.Dir(m.Source) {
						link = filepath.Join(filepath.Dir(m.Source), link)
					}
					op.Kind, op.Source = OpSymlink, link
					spec.Ops = append(spec.Ops, op)
					continue
				}
				err = rerr
			}
			var resolved string
			if err == nil {
				resolved, err = filepath.EvalSymlinks(m.Source)
			}
			if err == nil {
				fi, err = os.Stat(resolved)
			}
			if err != nil {
				errs = append(errs, mountErr(p, m, where+".source", sourceMsg(m.Source, err)))
				continue
			}
			op.Kind, op.Source, op.RW, op.IsDir = OpBind, resolved, m.RW, fi.IsDir()
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
		ops, err := protectVCS(spec.Ops, p.Cwd)
		if err != nil {
			return spec, err
		}
		spec.Ops = ops
	}
	return spec, errors.Join(errs...)
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
