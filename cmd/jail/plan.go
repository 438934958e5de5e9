package main

import (
	"fmt"
	"os"
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
		},
	}, nil
}

// buildEnv starts empty: only the variables the profile keeps (when the
// caller has them) and the ones it sets, sorted for a stable plan.
func buildEnv(e profile.Env, environ []string) []string {
	env := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		for _, keep := range e.Keep {
			if k == keep {
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

// loadProfile reads --profile: a path, or the name of a built-in profile.
func loadProfile(arg string) (*profile.Profile, error) {
	if arg == "" {
		return profile.Default(), nil
	}
	if !strings.ContainsRune(arg, '/') && !strings.HasSuffix(arg, ".toml") {
		if _, err := os.Stat(arg); err != nil {
			return profile.Builtin(arg)
		}
	}
	return profile.Load(arg)
}
