package fs

import (
	"errors"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
)

// verifySpec is a sandbox with a read-only bind at /usr, a writable bind at
// /work and a tmpfs at /tmp, plus non-mount ops that verify must ignore.
var verifySpec = Spec{
	DevShmSize: defaultDevShmSize,
	Ops: []Op{
		{Kind: OpBind, Source: "/usr", Target: "/usr", IsDir: true, Where: "mount[0]"},
		{Kind: OpBind, Source: "/home/u/work", Target: "/work", RW: true, IsDir: true, Where: "mount[1]"},
		{Kind: OpTmpfs, Target: "/tmp", Size: 1 << 20, Mode: 0o1777, Where: "mount[2]"},
		{Kind: OpSymlink, Source: "usr/bin", Target: "/bin", Where: "mount[3]"},
		{Kind: OpDir, Target: "/srv", Mode: 0o755, Where: "mount[4]"},
		{Kind: OpFile, Target: "/etc/hostname", Content: "jail\n", Mode: 0o644, Where: "mount[5]"},
	},
}

// goodTable is the mount table the set-up should leave for verifySpec, in the
// order the kernel lists it. Optional fields carry a master: tag on some
// entries, as after MS_SLAVE, which is allowed.
func goodTable() []*mountinfo.Info {
	infos := []*mountinfo.Info{
		{Mountpoint: "/", FSType: "tmpfs", Options: "ro,nosuid,nodev,relatime"},
		{Mountpoint: "/usr", FSType: "ext4", Options: "ro,nosuid,nodev,relatime", Optional: "master:1"},
		{Mountpoint: "/usr/share/x", FSType: "squashfs", Options: "ro,nosuid,nodev,relatime"},
		{Mountpoint: "/work", FSType: "btrfs", Options: "rw,nosuid,nodev,relatime"},
		{Mountpoint: "/tmp", FSType: "tmpfs", Options: "rw,nosuid,nodev,relatime"},
		{Mountpoint: "/proc", FSType: "proc", Options: "ro,nosuid,nodev,noexec,relatime"},
		{Mountpoint: "/dev", FSType: "tmpfs", Options: "ro,nosuid,noexec,relatime"},
		{Mountpoint: "/dev/pts", FSType: "devpts", Options: "rw,nosuid,noexec,relatime", VFSOptions: "rw,mode=620,ptmxmode=666,max=64"},
		{Mountpoint: "/dev/shm", FSType: "tmpfs", Options: "rw,nosuid,nodev,noexec,relatime"},
	}
	for _, d := range Devices {
		infos = append(infos, &mountinfo.Info{Mountpoint: "/dev/" + d, FSType: "devtmpfs", Options: "rw,nosuid,noexec,relatime", Optional: "master:2"})
	}
	return infos
}

// find returns the entry of infos at mountpoint; the test fails without one.
func find(t *testing.T, infos []*mountinfo.Info, mountpoint string) *mountinfo.Info {
	t.Helper()
	for _, m := range infos {
		if m.Mountpoint == mountpoint {
			return m
		}
	}
	t.Fatalf("good table has no %s", mountpoint)
	return nil
}

func without(infos []*mountinfo.Info, mountpoint string) []*mountinfo.Info {
	var out []*mountinfo.Info
	for _, m := range infos {
		if m.Mountpoint != mountpoint {
			out = append(out, m)
		}
	}
	return out
}

func TestVerifyGood(t *testing.T) {
	if err := verify(verifySpec, goodTable()); err != nil {
		t.Fatalf("verify(good table) = %v", err)
	}
}

func TestVerifyEmptySpec(t *testing.T) {
	// With no profile mounts, only jail's own mounts are expected.
	var infos []*mountinfo.Info
	for _, m := range goodTable() {
		switch m.Mountpoint {
		case "/usr", "/usr/share/x", "/work", "/tmp":
			continue
		}
		infos = append(infos, m)
	}
	if err := verify(Spec{}, infos); err != nil {
		t.Fatalf("verify = %v", err)
	}
	// And the profile's mounts are then unexpected.
	if err := verify(Spec{}, goodTable()); err == nil {
		t.Fatal("verify accepted mounts not in the spec")
	}
}

func TestVerifyCorrupt(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info
		target  string // VerifyError.Target
		want    string // VerifyError.Want
	}{
		{
			name: "ro bind found rw",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				find(t, infos, "/usr").Options = "rw,nosuid,nodev,relatime"
				return infos
			},
			target: "/usr", want: "ro",
		},
		{
			name: "submount of ro bind found rw",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				find(t, infos, "/usr/share/x").Options = "rw,nosuid,nodev,relatime"
				return infos
			},
			target: "/usr/share/x", want: "ro",
		},
		{
			name: "submount of ro bind missing nodev",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				find(t, infos, "/usr/share/x").Options = "ro,nosuid,relatime"
				return infos
			},
			target: "/usr/share/x", want: "nodev",
		},
		{
			name: "rw bind found ro",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				find(t, infos, "/work").Options = "ro,nosuid,nodev,relatime"
				return infos
			},
			target: "/work", want: "rw",
		},
		{
			name: "bind missing nosuid",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				find(t, infos, "/work").Options = "rw,nodev,relatime"
				return infos
			},
			target: "/work", want: "nosuid",
		},
		{
			name: "device missing noexec",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				find(t, infos, "/dev/null").Options = "rw,nosuid,relatime"
				return infos
			},
			target: "/dev/null", want: "noexec",
		},
		{
			name: "option matched as a whole word only",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				find(t, infos, "/tmp").Options = "rw,nosuidx,nodev"
				return infos
			},
			target: "/tmp", want: "nosuid",
		},
		{
			name: "unexpected mount",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				return append(infos, &mountinfo.Info{Mountpoint: "/mnt", FSType: "ext4", Options: "rw,nosuid,nodev"})
			},
			target: "/mnt", want: "no mount",
		},
		{
			name: "unexpected mount under a tmpfs",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				return append(infos, &mountinfo.Info{Mountpoint: "/tmp/x", FSType: "tmpfs", Options: "rw,nosuid,nodev"})
			},
			target: "/tmp/x", want: "no mount",
		},
		{
			name: "second mount stacked on a tmpfs",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				return append(infos, &mountinfo.Info{Mountpoint: "/tmp", FSType: "tmpfs", Options: "rw,nosuid,nodev"})
			},
			target: "/tmp", want: "no mount",
		},
		{
			name: "shared propagation",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				find(t, infos, "/work").Optional = "shared:5"
				return infos
			},
			target: "/work", want: "private propagation",
		},
		{
			name: "shared and slave propagation",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				find(t, infos, "/usr/share/x").Optional = "shared:7 master:1"
				return infos
			},
			target: "/usr/share/x", want: "private propagation",
		},
		{
			name: "missing /proc",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				return without(infos, "/proc")
			},
			target: "/proc", want: "a mount",
		},
		{
			name: "missing profile tmpfs",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				return without(infos, "/tmp")
			},
			target: "/tmp", want: "a mount",
		},
		{
			name: "wrong fstype on /tmp",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				find(t, infos, "/tmp").FSType = "ext4"
				return infos
			},
			target: "/tmp", want: "tmpfs",
		},
		{
			name: "wrong fstype on /proc",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				find(t, infos, "/proc").FSType = "tmpfs"
				return infos
			},
			target: "/proc", want: "proc",
		},
		{
			name: "root rw",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				find(t, infos, "/").Options = "rw,nosuid,nodev,relatime"
				return infos
			},
			target: "/", want: "ro",
		},
		{
			name: "/dev rw",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				find(t, infos, "/dev").Options = "rw,nosuid,noexec"
				return infos
			},
			target: "/dev", want: "ro",
		},
		{
			// Without max= the instance draws on the host's whole pty
			// pool (issue 11).
			name: "devpts without max",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				find(t, infos, "/dev/pts").VFSOptions = "rw,mode=620,ptmxmode=666"
				return infos
			},
			target: "/dev/pts", want: "max=64",
		},
		{
			name: "devpts with another max",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				find(t, infos, "/dev/pts").VFSOptions = "rw,mode=620,ptmxmode=666,max=640"
				return infos
			},
			target: "/dev/pts", want: "max=64",
		},
		{
			name: "/dev/shm exec",
			corrupt: func(t *testing.T, infos []*mountinfo.Info) []*mountinfo.Info {
				find(t, infos, "/dev/shm").Options = "rw,nosuid,nodev"
				return infos
			},
			target: "/dev/shm", want: "noexec",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			infos := tc.corrupt(t, goodTable())
			err := verify(verifySpec, infos)
			if err == nil {
				t.Fatal("verify accepted the corrupted table")
			}
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("error is %T (%v), want *VerifyError", err, err)
			}
			if ve.Target != tc.target || ve.Want != tc.want {
				t.Errorf("VerifyError{Target: %q, Want: %q}, want Target %q, Want %q (%v)", ve.Target, ve.Want, tc.target, tc.want, err)
			}
			if !strings.HasPrefix(err.Error(), "mount table check: "+tc.target+": want ") {
				t.Errorf("message %q does not name %s", err, tc.target)
			}
		})
	}
}

func TestVerifyErrorMessage(t *testing.T) {
	err := &VerifyError{Target: "/usr", Want: "ro", Got: "rw,nosuid,nodev"}
	const want = "mount table check: /usr: want ro, found rw,nosuid,nodev"
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestParentDir(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", "/"},
		{"/usr", "/"},
		{"/usr/share", "/usr"},
		{"/usr/share/x", "/usr/share"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := parentDir(tc.in); got != tc.want {
				t.Errorf("parentDir(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
