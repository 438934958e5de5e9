package fs

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// The root is built by C code before the Go runtime of the sandbox's init
// (or a batch's zygote) starts (cmd/jail/mounts.c), from the plan this
// package compiles. It reports a failure as one record: which step, the
// index of the operation, the errno and the paths. Failure is that record,
// and Err turns it into the error a user reads: the message the Go set-up
// it replaced gave for the same failure.

// Step is the step of the set-up that failed. The values are the wire's:
// cmd/jail/mounts.h has the same list (JAIL_MS_*), checked by a test.
type Step uint32

const (
	StepNone          Step = iota
	StepBadPlan            // the plan could not be read: Data says why
	StepMount              // mount(2): Source, Target, Flags (MS_*), Data
	StepPivot              // pivot_root: Source (new root), Target (put old)
	StepUmount             // umount2: Target
	StepMkdir              // mkdir: Target
	StepMkdirSymlink       // a component of Target is a symlink
	StepLstat              // lstat: Target
	StepChdir              // chdir: Target
	StepOpen               // open: Target
	StepOpenBeneath        // openat2 below the new root: Target (ELOOP: a symlink)
	StepSourceNoID         // bind: the plan has no device and inode for Source
	StepSourceLink         // bind: a symlink is in Source's path now
	StepSourceGone         // bind: Source is gone (ENOENT, ENOTDIR)
	StepSourceChanged      // bind: Source is another file now: Dev, Ino
	StepFstat              // fstat: Target
	StepMknod              // mknodat: Target
	StepStat               // fstatat: Target
	StepNotRegular         // a file mount point is not a regular file: Mode
	StepOpenTree           // open_tree: Target (the source's name)
	StepSetattr            // mount_setattr: Target, Flags (MOUNT_ATTR_*)
	StepMoveMount          // move_mount: Source, Target
	StepFsopen             // fsopen: Source (the file system type), Target
	StepFsconfig           // fsconfig: Source, Target, Data
	StepFsmount            // fsmount: Source, Target
	StepFchmod             // fchmod: Target
	StepSymlink            // symlinkat, a symlink operation: Target
	StepLink               // symlink: Source (the link's text), Target
	StepCreate             // create: Target
	StepWrite              // write: Target
	StepCountOpen          // a per-user count's bound: open Target
	StepCountWrite         // ... write Target
	StepCountClose         // ... close Target
	StepUnknownOp          // an operation of an unknown kind: Mode
	StepLast
)

// Failure is a set-up failure as the C set-up reports it.
type Failure struct {
	Op     int // index in Spec.Ops of the operation that failed, -1 outside them
	Step   Step
	Errno  syscall.Errno
	Mode   uint32
	Flags  uint64
	Dev    uint64
	Ino    uint64
	Data   string
	Source string
	Target string
}

// Err returns the error for f, and the stage of
// the set-up it belongs to ("fs", or "userns" for the per-user counts). An
// operation's failure names the profile entry it came from, from spec.
func (f *Failure) Err(spec Spec) (stage string, err error) {
	err = f.err()
	switch f.Step {
	case StepCountOpen, StepCountWrite, StepCountClose:
		return "userns", err
	}
	if f.Op >= 0 && f.Op < len(spec.Ops) {
		op := spec.Ops[f.Op]
		switch f.Step {
		case StepSourceNoID, StepSourceLink, StepSourceGone, StepSourceChanged:
			err = sourceError(op, f)
		case StepUnknownOp:
			err = fmt.Errorf("unknown operation %q", op.Kind)
		}
		err = opError(op, err)
	}
	return "fs", err
}

func (f *Failure) err() error {
	var errno error
	if f.Errno != 0 {
		errno = f.Errno
	}
	mountErr := func(op string) error {
		return &MountError{Op: op, Source: f.Source, Target: f.Target, Flags: uintptr(f.Flags), Data: f.Data, Err: errno}
	}
	pathErr := func(op string) error { return &os.PathError{Op: op, Path: f.Target, Err: errno} }
	switch f.Step {
	case StepBadPlan:
		return fmt.Errorf("bad mount plan: %s", f.Data)
	case StepMount:
		return mountErr("mount")
	case StepPivot:
		return mountErr("pivot_root")
	case StepUmount:
		return mountErr("umount2")
	case StepOpenTree:
		return mountErr("open_tree")
	case StepSetattr:
		return mountErr("mount_setattr")
	case StepMoveMount:
		return mountErr("move_mount")
	case StepFsopen:
		return mountErr("fsopen")
	case StepFsconfig:
		return mountErr("fsconfig")
	case StepFsmount:
		return mountErr("fsmount")
	case StepMkdir:
		return pathErr("mkdir")
	case StepMkdirSymlink:
		return componentIsSymlink(f.Target)
	case StepLstat:
		return pathErr("lstat")
	case StepChdir:
		return pathErr("chdir")
	case StepOpen, StepCountOpen:
		return pathErr("open")
	case StepOpenBeneath:
		return openBeneathError(f.Target, errno)
	case StepFstat:
		return pathErr("fstat")
	case StepMknod:
		return pathErr("mknod")
	case StepStat:
		return pathErr("stat")
	case StepNotRegular:
		return notRegularFile(f.Target, f.Mode)
	case StepFchmod:
		return pathErr("fchmod")
	case StepSymlink:
		return pathErr("symlink")
	case StepLink:
		return &os.LinkError{Op: "symlink", Old: f.Source, New: f.Target, Err: errno}
	case StepCreate:
		return pathErr("create")
	case StepWrite, StepCountWrite:
		return pathErr("write")
	case StepCountClose:
		return pathErr("close")
	case StepUnknownOp:
		return fmt.Errorf("unknown operation %d", f.Mode)
	case StepSourceNoID, StepSourceLink, StepSourceGone, StepSourceChanged:
		return sourceError(Op{Source: f.Source}, f)
	}
	return &os.PathError{Op: fmt.Sprintf("set-up step %d", f.Step), Path: f.Target, Err: f.Errno}
}

// sourceError is the error of a bind source f reports: mounts.c opens it
// without following any symlink and only if it is still the object of the
// plan's device and inode.
func sourceError(op Op, f *Failure) error {
	switch f.Step {
	case StepSourceNoID:
		return noSourceID(op)
	case StepSourceLink:
		return sourceChanged(op, "a symlink is in its path now")
	case StepSourceGone:
		return sourceChanged(op, "it is gone: "+f.Errno.Error())
	}
	return sourceChanged(op, fmt.Sprintf("device %d inode %d, checked as device %d inode %d", f.Dev, f.Ino, op.ID.Dev, op.ID.Ino))
}

// opError names the profile entry an operation came from.
func opError(op Op, err error) error {
	return fmt.Errorf("%s (%s %s): %w", op.Where, op.Kind, op.Target, err)
}

// The errors of the checks of the set-up, whichever side ran them.

func noSourceID(op Op) error {
	return &os.PathError{Op: "bind", Path: op.Source, Err: errors.New("the plan has no device and inode for this source (a plan from another jail binary?)")}
}

func sourceChanged(op Op, detail string) error {
	return &os.PathError{Op: "bind", Path: op.Source, Err: fmt.Errorf(
		"%w (%s): something replaced it while jail started (a sandbox writing there?); run again once nothing changes it", ErrSourceChanged, detail)}
}

func notRegularFile(target string, mode uint32) error {
	return &os.PathError{Op: "mount point", Path: target, Err: fmt.Errorf(
		"is a %s, not a regular file; refusing to mount a file on it (remove it from the host directory)", fileKind(mode))}
}

func componentIsSymlink(path string) error {
	return &os.PathError{Op: "mkdir", Path: path, Err: errors.New("path component is a symlink; refusing to follow it")}
}

func openBeneathError(path string, err error) error {
	if errors.Is(err, syscall.ELOOP) {
		return &os.PathError{Op: "open", Path: path, Err: errors.New("path contains a symlink; refusing to follow it")}
	}
	return &os.PathError{Op: "open", Path: path, Err: err}
}
