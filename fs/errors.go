package fs

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/profile"
)

// MountError is a failed mount-family call, with its flags spelled out.
type MountError struct {
	Op     string // "mount", "open_tree", "mount_setattr", "move_mount", "umount2", "pivot_root"
	Source string
	Target string
	Flags  uintptr // MS_* for mount, MOUNT_ATTR_* for mount_setattr
	Data   string
	Err    error
}

func (e *MountError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(" ")
	if e.Source != "" {
		b.WriteString(e.Source)
		b.WriteString(" on ")
	}
	b.WriteString(e.Target)
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	var detail []string
	if f := flagNames(e.Op, e.Flags); f != "" {
		detail = append(detail, f)
	}
	if e.Data != "" {
		detail = append(detail, e.Data)
	}
	if h := hint(e.Err); h != "" {
		detail = append(detail, h)
	}
	if len(detail) > 0 {
		b.WriteString(" (" + strings.Join(detail, ", ") + ")")
	}
	return b.String()
}

func (e *MountError) Unwrap() error { return e.Err }

var msFlags = []struct {
	bit  uintptr
	name string
}{
	{unix.MS_RDONLY, "MS_RDONLY"}, {unix.MS_NOSUID, "MS_NOSUID"}, {unix.MS_NODEV, "MS_NODEV"},
	{unix.MS_NOEXEC, "MS_NOEXEC"}, {unix.MS_REMOUNT, "MS_REMOUNT"}, {unix.MS_BIND, "MS_BIND"},
	{unix.MS_REC, "MS_REC"}, {unix.MS_PRIVATE, "MS_PRIVATE"}, {unix.MS_SLAVE, "MS_SLAVE"},
}

var attrFlags = []struct {
	bit  uintptr
	name string
}{
	{unix.MOUNT_ATTR_RDONLY, "MOUNT_ATTR_RDONLY"}, {unix.MOUNT_ATTR_NOSUID, "MOUNT_ATTR_NOSUID"},
	{unix.MOUNT_ATTR_NODEV, "MOUNT_ATTR_NODEV"}, {unix.MOUNT_ATTR_NOEXEC, "MOUNT_ATTR_NOEXEC"},
}

func flagNames(op string, flags uintptr) string {
	table := msFlags
	if op == "mount_setattr" {
		table = attrFlags
	}
	var names []string
	for _, f := range table {
		if flags&f.bit != 0 {
			names = append(names, f.name)
			flags &^= f.bit
		}
	}
	if flags != 0 {
		names = append(names, "0x"+strconv.FormatUint(uint64(flags), 16))
	}
	return strings.Join(names, "|")
}

// hint explains the errno values a user meets when setting up mounts.
func hint(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return ""
	}
	switch errno {
	case unix.ENOSYS:
		return "this kernel lacks the new mount API: Linux 5.12 or newer is needed"
	case unix.ENOSPC:
		return "too many mounts: see /proc/sys/fs/mount-max"
	case unix.EPERM:
		return "not allowed in this user namespace: is jail running inside a container whose seccomp profile blocks mounts?"
	}
	return ""
}

// VerifyError says the final mount table is not what was asked for.
type VerifyError struct {
	Target string
	Want   string
	Got    string
}

func (e *VerifyError) Error() string {
	return "mount table check: " + e.Target + ": want " + e.Want + ", found " + e.Got
}

// fileKind names a file type for messages.
func fileKind(mode uint32) string { return profile.KindName(mode) }

func pathErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return &os.PathError{Op: op, Path: path, Err: err}
}

func unwrapErrno(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
