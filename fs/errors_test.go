package fs

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMountErrorMessage(t *testing.T) {
	tests := []struct {
		name    string
		err     *MountError
		prefix  string   // the message starts with this
		contain []string // and contains these
		absent  []string // and not these
	}{
		{
			name: "mount with MS flags and data",
			err: &MountError{Op: "mount", Source: "tmpfs", Target: "/tmp",
				Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "size=1", Err: unix.EPERM},
			prefix:  "mount tmpfs on /tmp: operation not permitted (MS_NOSUID|MS_NODEV, size=1, ",
			contain: []string{"seccomp"},
		},
		{
			name: "all MS flags in table order",
			err: &MountError{Op: "mount", Target: "/x",
				Flags: unix.MS_SLAVE | unix.MS_REC | unix.MS_BIND | unix.MS_REMOUNT | unix.MS_NOEXEC | unix.MS_RDONLY,
				Err:   unix.EINVAL},
			prefix: "mount /x: invalid argument (MS_RDONLY|MS_NOEXEC|MS_REMOUNT|MS_BIND|MS_REC|MS_SLAVE)",
			absent: []string{" on "},
		},
		{
			name: "mount_setattr prints MOUNT_ATTR names",
			err: &MountError{Op: "mount_setattr", Target: "/usr",
				Flags: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV,
				Err:   unix.EINVAL},
			prefix: "mount_setattr /usr: invalid argument (MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOSUID|MOUNT_ATTR_NODEV)",
			absent: []string{"MS_"},
		},
		{
			name: "mount_setattr noexec",
			err: &MountError{Op: "mount_setattr", Target: "/dev",
				Flags: unix.MOUNT_ATTR_NOEXEC, Err: unix.EINVAL},
			prefix: "mount_setattr /dev: invalid argument (MOUNT_ATTR_NOEXEC)",
		},
		{
			name:    "ENOSYS hint",
			err:     &MountError{Op: "open_tree", Source: "/usr", Target: "/usr", Err: unix.ENOSYS},
			prefix:  "open_tree /usr on /usr: " + unix.ENOSYS.Error() + " (",
			contain: []string{"5.12", "new mount API"},
		},
		{
			name:    "ENOSPC hint",
			err:     &MountError{Op: "move_mount", Target: "/usr", Err: unix.ENOSPC},
			prefix:  "move_mount /usr: no space left on device (",
			contain: []string{"mount-max"},
		},
		{
			name:   "no flags, no data, no hint",
			err:    &MountError{Op: "pivot_root", Target: "/newroot", Err: unix.EBUSY},
			prefix: "pivot_root /newroot: device or resource busy",
			absent: []string{"("},
		},
		{
			name:   "non-errno error has no hint",
			err:    &MountError{Op: "umount2", Target: "/old", Err: errors.New("boom")},
			prefix: "umount2 /old: boom",
			absent: []string{"("},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := tc.err.Error()
			if !strings.HasPrefix(msg, tc.prefix) {
				t.Errorf("Error() = %q\n want prefix %q", msg, tc.prefix)
			}
			for _, s := range tc.contain {
				if !strings.Contains(msg, s) {
					t.Errorf("Error() = %q, missing %q", msg, s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(msg, s) {
					t.Errorf("Error() = %q, should not contain %q", msg, s)
				}
			}
		})
	}
}

func TestMountErrorUnwrap(t *testing.T) {
	tests := []struct {
		name  string
		errno unix.Errno
	}{
		{"EPERM", unix.EPERM},
		{"ENOSYS", unix.ENOSYS},
		{"EINVAL", unix.EINVAL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error = &MountError{Op: "mount", Source: "tmpfs", Target: "/tmp", Err: tc.errno}
			if !errors.Is(err, tc.errno) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.errno)
			}
			wrapped := errors.Join(errors.New("setup"), err)
			var me *MountError
			if !errors.As(wrapped, &me) || me.Target != "/tmp" {
				t.Errorf("errors.As did not find the *MountError in %v", wrapped)
			}
			if !errors.Is(wrapped, tc.errno) {
				t.Errorf("errors.Is through Join = false")
			}
		})
	}
}
