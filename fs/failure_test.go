package fs

import (
	"errors"
	"syscall"
	"testing"
)

// TestFailureMessages: a failure record of the C set-up reads as the error
// the Go set-up gave for the same failure (the messages tests and users
// rely on).
func TestFailureMessages(t *testing.T) {
	spec := Spec{Ops: []Op{
		{Kind: OpBind, Source: "/src", Target: "/w", IsDir: true, ID: FileID{Dev: 1, Ino: 2}, Where: "profile p.toml, mount 1"},
		{Kind: OpBind, Source: "/w/config", Target: "/w/config", ID: FileID{Dev: 1, Ino: 3}, Where: "--bind /w/config"},
		{Kind: "weird", Target: "/x", Where: "mount 3"},
	}}
	tests := []struct {
		name  string
		f     Failure
		stage string
		want  string
		errno syscall.Errno
	}{
		{"not a regular file", Failure{Op: 1, Step: StepNotRegular, Mode: syscall.S_IFIFO, Target: "/w/config"}, "fs",
			"--bind /w/config (bind /w/config): mount point /w/config: is a FIFO, not a regular file; refusing to mount a file on it (remove it from the host directory)", 0},
		{"source changed", Failure{Op: 0, Step: StepSourceChanged, Source: "/src", Dev: 5, Ino: 6}, "fs",
			"profile p.toml, mount 1 (bind /w): bind /src: changed since it was checked (device 5 inode 6, checked as device 1 inode 2): something replaced it while jail started (a sandbox writing there?); run again once nothing changes it", 0},
		{"source behind a link", Failure{Op: 0, Step: StepSourceLink, Source: "/src", Errno: syscall.ELOOP}, "fs",
			"profile p.toml, mount 1 (bind /w): bind /src: changed since it was checked (a symlink is in its path now): something replaced it while jail started (a sandbox writing there?); run again once nothing changes it", 0},
		{"source gone", Failure{Op: 0, Step: StepSourceGone, Source: "/src", Errno: syscall.ENOENT}, "fs",
			"profile p.toml, mount 1 (bind /w): bind /src: changed since it was checked (it is gone: no such file or directory): something replaced it while jail started (a sandbox writing there?); run again once nothing changes it", 0},
		{"target through a symlink", Failure{Op: 1, Step: StepOpenBeneath, Errno: syscall.ELOOP, Target: "/w"}, "fs",
			"--bind /w/config (bind /w/config): open /w: path contains a symlink; refusing to follow it", 0},
		{"component is a symlink", Failure{Op: 0, Step: StepMkdirSymlink, Target: "/w"}, "fs",
			"profile p.toml, mount 1 (bind /w): mkdir /w: path component is a symlink; refusing to follow it", 0},
		{"mount", Failure{Op: -1, Step: StepMount, Errno: syscall.EPERM, Source: "proc", Target: "/proc", Flags: syscall.MS_NOSUID}, "fs",
			"mount proc on /proc: operation not permitted (MS_NOSUID, not allowed in this user namespace: is jail running inside a container whose seccomp profile blocks mounts?)", syscall.EPERM},
		{"setattr", Failure{Op: -1, Step: StepSetattr, Errno: syscall.EINVAL, Target: "/", Flags: 3}, "fs",
			"mount_setattr /: invalid argument (MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOSUID)", syscall.EINVAL},
		{"link", Failure{Op: -1, Step: StepLink, Errno: syscall.EEXIST, Source: "pts/ptmx", Target: "/newroot/dev/ptmx"}, "fs",
			"symlink pts/ptmx /newroot/dev/ptmx: file exists", syscall.EEXIST},
		{"count", Failure{Op: -1, Step: StepCountOpen, Errno: syscall.EACCES, Target: "/proc/sys/user/max_user_namespaces"}, "userns",
			"open /proc/sys/user/max_user_namespaces: permission denied", syscall.EACCES},
		{"unknown kind", Failure{Op: 2, Step: StepUnknownOp, Target: "/x"}, "fs", `mount 3 (weird /x): unknown operation "weird"`, 0},
		{"bad plan", Failure{Op: -1, Step: StepBadPlan, Data: "trailing bytes"}, "fs", "bad mount plan: trailing bytes", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stage, err := tc.f.Err(spec)
			if stage != tc.stage || err.Error() != tc.want {
				t.Errorf("got %s: %q\nwant %s: %q", stage, err, tc.stage, tc.want)
			}
			if tc.errno != 0 && !errors.Is(err, tc.errno) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.errno)
			}
			if tc.f.Step == StepSourceChanged && !errors.Is(err, ErrSourceChanged) {
				t.Errorf("not ErrSourceChanged: %v", err)
			}
		})
	}
}
