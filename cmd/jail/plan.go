package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/fs"
	"github.com/jail-sandbox/jail/profile"
	"github.com/jail-sandbox/jail/userns"
)

// planVersion changes whenever Plan's meaning changes; stage 2 refuses a
// plan of another version (a stale binary re-executed mid-upgrade).
const planVersion = 1

// Plan is everything the sandbox does, computed on the host before any
// namespace exists. It is plain data: stage 0 sends these exact bytes to
// stage 2, and `jail plan` prints them.
type Plan struct {
	Version int `json:"version"`
	// CloneFlags are the namespaces stage 1 is born in (clone3 from stage 0).
	// CLONE_NEWCGROUP is deliberately absent: stage 2 passes it when it forks
	// stage 3, so the cgroup namespace's root is the sandbox's own cgroup.
	// CLONE_NEWTIME is here: clone3 takes it (only the old clone's flags
	// collide with CSIGNAL), and the Go runtime uses clone3 for it. The
	// alternative, unshare in stage 2, fails on Linux 6.1: after it, no
	// clone with CLONE_VM (Go's vfork, Go's threads) is allowed, and execve
	// does not enter the new namespace there. The cost: the namespace is
	// entered at birth, so its offsets stay zero.
	CloneFlags uintptr        `json:"clone_flags"`
	IDMap      userns.Mapping `json:"idmap"`
	// Hostname is set by stage 2 with sethostname in the new UTS namespace.
	Hostname string   `json:"hostname"`
	FS       fs.Spec  `json:"fs"`
	Exec     ExecSpec `json:"exec"`
}

// ExecSpec is what stage 3 needs to start the command.
type ExecSpec struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	Cwd  string   `json:"cwd"`
	UID  uint32   `json:"uid"`
	GID  uint32   `json:"gid"`
	// Setgroups says whether setgroups(2) is allowed in the namespace; with
	// the single-id fallback it is denied and stage 3 must not call it.
	Setgroups bool `json:"setgroups"`
	// TTY: stdin is a pseudo-terminal of jail's, to become the command's
	// controlling terminal (TIOCSCTTY in stage 3's new session).
	TTY bool `json:"tty,omitempty"`
	// Seccomp is the compiled filter (classic BPF), loaded by stage 3 as
	// its last step before execve; nil for none.
	Seccomp []byte `json:"seccomp,omitempty"`
	// Rlimits are set by stage 3 first thing.
	Rlimits []Rlimit `json:"rlimits,omitempty"`
	// KeepCaps are the capability numbers the command keeps (bounding,
	// permitted, effective, inheritable and ambient); all others go.
	KeepCaps []int `json:"keep_caps,omitempty"`
}

// cloneFlags are the namespaces created by the first clone, all owned by the
// new user namespace because CLONE_NEWUSER is in the same call.
const cloneFlags = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID |
	unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWTIME

// buildPlan combines a validated profile, the user mapping and the command.
// It reads nothing but what fs.Compile checks on the host (bind sources).
func buildPlan(p *profile.Profile, m userns.Mapping, argv, environ []string) (*Plan, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("no command given: usage: jail [--profile P] -- COMMAND [ARG...]")
	}
	if p.User.UID > m.MaxUID() {
		return nil, &profile.Error{File: p.File, Key: "user.uid", Msg: fmt.Sprintf(
			"uid %d is not mapped into the sandbox (mapped: 0..%d); give the user a /etc/subuid range", p.User.UID, m.MaxUID())}
	}
	if p.User.GID > m.MaxGID() {
		return nil, &profile.Error{File: p.File, Key: "user.gid", Msg: fmt.Sprintf(
			"gid %d is not mapped into the sandbox (mapped: 0..%d); give the user a /etc/subgid range", p.User.GID, m.MaxGID())}
	}
	spec, err := fs.Compile(p)
	if err != nil {
		return nil, err
	}
	filter, err := compileFilter(p)
	if err != nil {
		return nil, err
	}
	keep, err := capNumbers(p)
	if err != nil {
		return nil, err
	}
	return &Plan{
		Version:    planVersion,
		CloneFlags: cloneFlags,
		IDMap:      m,
		Hostname:   p.Hostname,
		FS:         spec,
		Exec: ExecSpec{
			Argv:      argv,
			Env:       buildEnv(p.Env, environ),
			Cwd:       p.Cwd,
			UID:       p.User.UID,
			GID:       p.User.GID,
			Setgroups: !m.SetgroupsDeny,
			Seccomp:   filter,
			KeepCaps:  keep,
		},
	}, nil
}

// buildEnv starts empty: only the variables the profile keeps (when the
// caller has them, and unless it unsets them) and the ones it sets, sorted
// for a stable plan.
func buildEnv(e profile.Env, environ []string) []string {
	env := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || slices.Contains(e.Unset, k) {
			continue
		}
		for _, keep := range e.Keep {
			if k == keep || strings.HasSuffix(keep, "*") && strings.HasPrefix(k, strings.TrimSuffix(keep, "*")) {
				env[k] = v
			}
		}
	}
	for k, v := range e.Set {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// loadProfile reads --profile: the name of a built-in profile (a bare
// name) or a path, following extends, with variables from the caller.
func loadProfile(arg string) (*profile.Profile, error) {
	if arg == "" {
		arg = "default"
	}
	return profile.Loader{Vars: profile.HostVars()}.Load(arg)
}

// capNames are the capabilities by number, as the kernel numbers them.
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// capNumbers turns user.keep_caps into capability numbers.
func capNumbers(p *profile.Profile) ([]int, error) {
	var out []int
	for _, name := range p.User.KeepCaps {
		n := slices.Index(capNames, strings.ToUpper(name))
		if n < 0 {
			n = slices.Index(capNames, "CAP_"+strings.ToUpper(name))
		}
		if n < 0 {
			return nil, &profile.Error{File: p.File, Line: p.LineOf("user.keep_caps"), Key: "user.keep_caps",
				Msg: fmt.Sprintf("unknown capability %q (names like CAP_NET_BIND_SERVICE)", name)}
		}
		out = append(out, n)
	}
	return out, nil
}
