package main

// The sandbox's root in a single run: stage 0 encodes the mount plan
// (fs.Spec, compiled by fs.Compile) for mounts.c, which executes it in
// stage 2 before the Go runtime starts there; a failure comes back as one
// record, decoded here into the message fs.Setup would give.

/*
#include "mounts.h"
*/
import "C"

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"github.com/jail-sandbox/jail/cmd/jail/internal/ipc"
	"github.com/jail-sandbox/jail/fs"
	"github.com/jail-sandbox/jail/userns"
)

// mplanMagic begins a mount plan.
const mplanMagic = C.JAIL_MPLAN_MAGIC

// The layouts mounts.h declares, as mountPlan writes them.
var (
	_ [C.sizeof_struct_jail_mplan - 48]byte
	_ [48 - C.sizeof_struct_jail_mplan]byte
	_ [C.sizeof_struct_jail_mop - 40]byte
	_ [40 - C.sizeof_struct_jail_mop]byte
)

// wire writes what the C readers of zygote.h and mounts.h take: integers in
// the host's byte order, structures as their fields in order, strings
// NUL-terminated.
type wire struct{ bytes.Buffer }

func (w *wire) u32(v ...uint32) {
	for _, x := range v {
		w.Write(binary.NativeEndian.AppendUint32(nil, x))
	}
}

func (w *wire) u64(v ...uint64) {
	for _, x := range v {
		w.Write(binary.NativeEndian.AppendUint64(nil, x))
	}
}

// strs writes each string NUL-terminated, or fails on one that holds a NUL.
func (w *wire) strs(what string, s ...string) error {
	for _, x := range s {
		if strings.IndexByte(x, 0) >= 0 {
			return fmt.Errorf("a NUL byte in %s", what)
		}
		w.WriteString(x)
		w.WriteByte(0)
	}
	return nil
}

// mopKinds are the operation kinds' numbers (JAIL_MOP_*); an unknown kind
// is 0, which mounts.c reports as such.
var mopKinds = map[fs.OpKind]uint32{
	fs.OpBind: C.JAIL_MOP_BIND, fs.OpTmpfs: C.JAIL_MOP_TMPFS, fs.OpDir: C.JAIL_MOP_DIR,
	fs.OpSymlink: C.JAIL_MOP_SYMLINK, fs.OpFile: C.JAIL_MOP_FILE,
}

// sendPlan sends, after {idmap-done}, what stage 2 builds the sandbox from:
// the mount plan as a record, which its constructor executes before its Go
// runtime starts (mounts.c), then the {plan} message.
func sendPlan(sock *os.File, plan *Plan) error {
	mounts, err := mountPlan(plan.FS, plan.Counts)
	if err != nil {
		return err
	}
	m, err := planMessage(plan)
	if err != nil {
		return err
	}
	if err := ipc.SendRecord(sock, mounts); err != nil {
		return fmt.Errorf("sandbox init: %w", err)
	}
	if err := ipc.Send(sock, m); err != nil {
		return fmt.Errorf("sandbox init: %w", err)
	}
	return nil
}

// mountPlan encodes what stage 2's C set-up executes: the per-user counts'
// bounds and spec, with the lists of fs (devices, /proc masks) it applies.
// Layout: mounts.h.
func mountPlan(spec fs.Spec, counts []userns.Count) ([]byte, error) {
	var w wire
	w.u32(mplanMagic, uint32(len(spec.Ops)), uint32(len(counts)),
		uint32(len(fs.Devices)), uint32(len(fs.ProcReadOnly)), uint32(len(fs.ProcMaskedFiles)), uint32(len(fs.ProcMaskedDirs)),
		fs.DevPtsMax)
	w.u64(fs.RootSize(spec), spec.DevShmSize)
	for _, op := range spec.Ops {
		var flags uint32
		if op.RW {
			flags |= C.JAIL_MOP_RW
		}
		if op.IsDir {
			flags |= C.JAIL_MOP_ISDIR
		}
		if len(op.Content) > C.JAIL_MPLAN_MAX {
			return nil, fmt.Errorf("%s: the file %s is larger than a mount plan may be (%d bytes)", op.Where, op.Target, C.JAIL_MPLAN_MAX)
		}
		w.u32(mopKinds[op.Kind], flags, op.Mode, uint32(len(op.Content)))
		w.u64(op.Size, op.ID.Dev, op.ID.Ino)
	}
	for _, c := range counts {
		w.u64(uint64(c.Max))
	}
	for _, op := range spec.Ops {
		if err := w.strs("a mount's path", op.Source, op.Target); err != nil {
			return nil, fmt.Errorf("%s: %w", op.Where, err)
		}
		w.WriteString(op.Content)
	}
	names := make([]string, len(counts))
	for i, c := range counts {
		names[i] = c.Name
	}
	for _, l := range [][]string{names, fs.Devices, fs.ProcReadOnly, fs.ProcMaskedFiles, fs.ProcMaskedDirs} {
		if err := w.strs("a name", l...); err != nil {
			return nil, err
		}
	}
	if w.Len() > C.JAIL_MPLAN_MAX {
		return nil, fmt.Errorf("the mount plan is %d bytes, more than the %d it may be (large files in the profile?)", w.Len(), C.JAIL_MPLAN_MAX)
	}
	return w.Bytes(), nil
}

// mountSteps maps mounts.h's steps to fs's (TestMountStepsMatch checks
// that they are the same numbers).
var mountSteps = [C.JAIL_MS_LAST]fs.Step{
	C.JAIL_MS_BAD_PLAN: fs.StepBadPlan, C.JAIL_MS_MOUNT: fs.StepMount, C.JAIL_MS_PIVOT: fs.StepPivot,
	C.JAIL_MS_UMOUNT: fs.StepUmount, C.JAIL_MS_MKDIR: fs.StepMkdir, C.JAIL_MS_MKDIR_SYMLINK: fs.StepMkdirSymlink,
	C.JAIL_MS_LSTAT: fs.StepLstat, C.JAIL_MS_CHDIR: fs.StepChdir, C.JAIL_MS_OPEN: fs.StepOpen,
	C.JAIL_MS_OPEN_BENEATH: fs.StepOpenBeneath, C.JAIL_MS_SOURCE_NOID: fs.StepSourceNoID,
	C.JAIL_MS_SOURCE_LINK: fs.StepSourceLink, C.JAIL_MS_SOURCE_GONE: fs.StepSourceGone,
	C.JAIL_MS_SOURCE_CHANGED: fs.StepSourceChanged, C.JAIL_MS_FSTAT: fs.StepFstat, C.JAIL_MS_MKNOD: fs.StepMknod,
	C.JAIL_MS_STAT: fs.StepStat, C.JAIL_MS_NOT_REGULAR: fs.StepNotRegular, C.JAIL_MS_OPEN_TREE: fs.StepOpenTree,
	C.JAIL_MS_SETATTR: fs.StepSetattr, C.JAIL_MS_MOVE_MOUNT: fs.StepMoveMount, C.JAIL_MS_FSOPEN: fs.StepFsopen,
	C.JAIL_MS_FSCONFIG: fs.StepFsconfig, C.JAIL_MS_FSMOUNT: fs.StepFsmount, C.JAIL_MS_FCHMOD: fs.StepFchmod,
	C.JAIL_MS_SYMLINK: fs.StepSymlink, C.JAIL_MS_LINK: fs.StepLink, C.JAIL_MS_CREATE: fs.StepCreate,
	C.JAIL_MS_WRITE: fs.StepWrite, C.JAIL_MS_COUNT_OPEN: fs.StepCountOpen, C.JAIL_MS_COUNT_WRITE: fs.StepCountWrite,
	C.JAIL_MS_COUNT_CLOSE: fs.StepCountClose, C.JAIL_MS_UNKNOWN_OP: fs.StepUnknownOp,
}

// mountFailure decodes stage 2's failure record: the one place it becomes
// the error a user reads, the message fs.Setup gives for the same failure.
func mountFailure(spec fs.Spec, rec []byte) *ipc.StageError {
	var r C.struct_jail_mfail
	if len(rec) != int(unsafe.Sizeof(r)) {
		return &ipc.StageError{Stage: "fs", Op: "set-up failure record", Detail: fmt.Sprintf("%d bytes, want %d", len(rec), unsafe.Sizeof(r))}
	}
	r = *(*C.struct_jail_mfail)(unsafe.Pointer(&rec[0]))
	if r.magic != C.JAIL_MFAIL_MAGIC {
		return &ipc.StageError{Stage: "fs", Op: "set-up failure record", Detail: "not one of this binary's"}
	}
	f := fs.Failure{
		Op: int(r.op), Errno: syscall.Errno(r.err), Mode: uint32(r.mode), Flags: uint64(r.flags),
		Dev: uint64(r.dev), Ino: uint64(r.ino),
		Data: cstr(r.data[:]), Source: cstr(r.source[:]), Target: cstr(r.target[:]),
	}
	if int(r.step) < len(mountSteps) {
		f.Step = mountSteps[r.step]
	}
	stage, err := f.Err(spec)
	return ipc.AsStageError(stage, err)
}

// rootBuilt checks, in stage 2 or a batch's zygote, the root that the
// constructor (mounts.c) wrote the per-user counts' bounds for and built
// before this runtime started: it must have, and the mount table must be
// what plan asked for (flags are requests, the table is what the kernel
// did).
func rootBuilt(plan *Plan) error {
	if C.jail_mounts.done == 0 {
		return errors.New("the root was not built before the init's runtime started (no mount plan from stage 0?)")
	}
	return fs.Verify(plan.FS)
}
