package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/cmd/jail/internal/ipc"
	"github.com/jail-sandbox/jail/fs"
	"github.com/jail-sandbox/jail/profile"
	"github.com/jail-sandbox/jail/userns"
)

// planVersion changes whenever Plan's meaning changes; stage 2 refuses a
// plan of another version (a stale binary re-executed mid-upgrade). 3: the
// exec spec travels in a message of its own ({exec}, after the plan). 4: a
// bind carries its source's device and inode (fs.Op.ID), which stage 2
// requires. 5: Counts.
const planVersion = 5

// Plan is everything the sandbox does, computed on the host before any
// namespace exists. It is plain data: stage 0 sends it to stage 2 in two
// messages, the plan without Exec ({plan}) and then Exec ({exec}), and
// `jail --plan` prints it whole.
type Plan struct {
	Version int `json:"version"`
	// CloneFlags are the namespaces stage 1 is born in (clone from stage
	// 0). Two are missing on purpose. CLONE_NEWCGROUP: stage 2 passes it
	// when it forks the command (spawn.c), so the cgroup namespace's root
	// is the sandbox's own cgroup. CLONE_NEWTIME: a namespace entered at birth
	// keeps zero offsets, so stage 2 makes its own before its Go runtime
	// starts, with Time's offsets (timens.c says how, and why not in Go).
	// CLONE_NEWNET is missing too when Net is "host".
	CloneFlags uintptr        `json:"clone_flags"`
	IDMap      userns.Mapping `json:"idmap"`
	// Hostname is set by stage 2 with sethostname in the new UTS namespace.
	Hostname string `json:"hostname"`
	// Time is the offsets of the sandbox's time namespace (always new).
	Time TimeSpec `json:"time"`
	// Net is the network mode (profile.NetNone, NetHost, NetUser): stage 2
	// brings lo up in a new network namespace (none, user); stage 0 starts
	// pasta or slirp4netns for user, and stage 2 waits for it before the
	// command starts.
	Net string  `json:"net"`
	FS  fs.Spec `json:"fs"`
	// Counts bound the per-user kernel counts of the sandbox's user
	// namespace (inotify, fanotify, user namespaces): stage 2, or a batch's
	// zygote, writes them to /proc/sys/user before it builds the root,
	// while it holds CAP_SYS_RESOURCE there (userns.SetCounts).
	Counts []userns.Count `json:"counts,omitempty"`
	// Exec is sent on its own, as the {exec} message; the {plan} message
	// leaves it out.
	Exec ExecSpec `json:"exec,omitzero"`
}

// ExecSpec is what stage 2 needs to start the command (spawnCommand).
type ExecSpec struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	Cwd  string   `json:"cwd"`
	UID  uint32   `json:"uid"`
	GID  uint32   `json:"gid"`
	// Setgroups says whether setgroups(2) is allowed in the namespace; with
	// the single-id fallback it is denied and must not be called.
	Setgroups bool `json:"setgroups"`
	// TTY: stdin is a pseudo-terminal of jail's, to become the command's
	// controlling terminal (TIOCSCTTY in the command's new session).
	TTY bool `json:"tty,omitempty"`
	// Seccomp is the compiled filter (classic BPF), loaded by the
	// command's process as its last step before execve; nil for none.
	Seccomp []byte `json:"seccomp,omitempty"`
	// Rlimits are set by the command's process before it drops its
	// privileges.
	Rlimits []Rlimit `json:"rlimits,omitempty"`
	// KeepCaps are the capability numbers the command keeps (bounding,
	// permitted, effective, inheritable and ambient); all others go.
	KeepCaps []int `json:"keep_caps,omitempty"`
}

// planMessage is the {plan} message: the plan without its exec spec, which
// goes in execMessage.
func planMessage(plan *Plan) (ipc.Msg, error) {
	p := *plan
	p.Exec = ExecSpec{}
	data, err := json.Marshal(&p)
	return ipc.Msg{Type: ipc.TypePlan, Data: data}, err
}

// execMessage is the {exec} message, sent after the plan: the command and
// how it runs, and stdio, the command's stdin, stdout and stderr: none for
// those of stage 2 (the ones stage 0 gave the sandbox's init), or exactly
// three descriptors, which ipc.Send passes along and does not close.
func execMessage(spec *ExecSpec, stdio []int) (ipc.Msg, error) {
	if len(stdio) != 0 && len(stdio) != 3 {
		return ipc.Msg{}, fmt.Errorf("exec message: %d descriptors for stdio, want 0 or 3", len(stdio))
	}
	data, err := json.Marshal(spec)
	return ipc.Msg{Type: ipc.TypeExec, Data: data, Fds: stdio}, err
}

// cloneFlags are the namespaces created by the first clone, all owned by the
// new user namespace because CLONE_NEWUSER is in the same call; the network
// namespace is added unless the sandbox shares the host's (netCloneFlags).
const cloneFlags = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUTS

// netCloneFlags is the network namespace of a mode: a new one but for host.
func netCloneFlags(mode string) uintptr {
	if mode == profile.NetHost {
		return 0
	}
	return unix.CLONE_NEWNET
}

// withResolver gives the sandbox an /etc/resolv.conf for its network mode,
// unless the profile has one: the forwarder of pasta or slirp4netns in
// user mode, the host's own file in host mode, none without a network.
func withResolver(p *profile.Profile) *profile.Profile {
	const target = "/etc/resolv.conf"
	mode := p.Network.Mode
	if mode != profile.NetUser && mode != profile.NetHost ||
		slices.ContainsFunc(p.Mounts, func(m profile.Mount) bool { return m.Target == target }) {
		return p
	}
	q := p.Clone()
	m := profile.Mount{Type: profile.Bind, Source: target, Target: target, Optional: true, File: "network." + mode}
	if mode == profile.NetUser {
		m = profile.Mount{Type: profile.File, Target: target, Content: "nameserver " + netDNS + "\n", Mode: 0o644, File: "network." + mode}
	}
	q.Mounts = append(q.Mounts, m)
	return q
}

// buildPlan combines a validated profile, the user mapping and the command.
// It reads nothing but what fs.Compile checks on the host (bind sources)
// and the clocks a negative time offset moves (checkOffsets).
func buildPlan(p *profile.Profile, m userns.Mapping, argv, environ []string) (*Plan, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("no command given: usage: jail [--profile P] -- COMMAND [ARG...]")
	}
	// Without a sub-id range only the caller's own ids exist inside: a
	// profile that runs its command as another id (the judges) is refused,
	// never run as the caller instead, which would own its stdin file, its
	// outputs and the init's /proc/1 (docs/profile.md, user.uid).
	if p.User.UID > m.MaxUID() {
		return nil, &profile.Error{File: p.File, Key: "user.uid", Msg: fmt.Sprintf(
			"uid %d is not mapped into the sandbox (mapped: 0..%d); %s", p.User.UID, m.MaxUID(), unmappedFix(m, "/etc/subuid"))}
	}
	if p.User.GID > m.MaxGID() {
		return nil, &profile.Error{File: p.File, Key: "user.gid", Msg: fmt.Sprintf(
			"gid %d is not mapped into the sandbox (mapped: 0..%d); %s", p.User.GID, m.MaxGID(), unmappedFix(m, "/etc/subgid"))}
	}
	spec, err := fs.Compile(withResolver(p))
	if err != nil {
		return nil, err
	}
	if err := checkProfileFiles(p, spec); err != nil {
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
	if err := checkOffsets(p); err != nil {
		return nil, err
	}
	mode := p.Network.Mode
	if mode == "" {
		mode = profile.NetNone
	}
	return &Plan{
		Version:    planVersion,
		CloneFlags: cloneFlags | netCloneFlags(mode),
		IDMap:      m,
		Hostname:   p.Hostname,
		Time:       TimeSpec{Monotonic: p.Time.Monotonic, Boottime: p.Time.Boottime},
		Net:        mode,
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

// unmappedFix is the way out for an id the mapping lacks: the single-id
// fallback's own fix (its warning names the command to add a range), or
// a range file; and, to run as the caller regardless, the override.
func unmappedFix(m userns.Mapping, file string) string {
	fix := "give the user a " + file + " range"
	if m.Warning != "" {
		fix = m.Warning
	}
	return fix + "; or run the command as yourself with --uid 0 --gid 0 (it then owns its --stdin file and can read what you can in its binds)"
}

// checkProfileFiles refuses a profile that the run could change for the
// next one: a file it was read from (or extends) that lies inside one of
// the run's writable binds, --bind included. Without it, a build in the
// directory of ./mybuild.toml could give itself the host's network, no
// filter or more writable binds on the next run with the same command
// line. What is judged is what the loader read (fs.ReadProfile's record:
// the file by the descriptor it was read from, and the directories its
// path was resolved through), not a second lookup of its path.
func checkProfileFiles(p *profile.Profile, spec fs.Spec) error {
	for _, f := range p.Files {
		if len(f.Read) == 0 {
			return &profile.Error{File: f.Path, Msg: "cannot tell whether this run could change it: no record of what was read"}
		}
		op, found := spec.WritableBindOf(f.Read)
		if !found {
			continue
		}
		by := op.Where
		if i := slices.IndexFunc(p.Mounts, func(m profile.Mount) bool { return m.Target == op.Target }); i >= 0 {
			if m := p.Mounts[i]; m.File == commandLine {
				by = "--bind"
			} else if m.File != "" {
				by = fmt.Sprintf("%s of profile %q", op.Where, m.File)
			}
		}
		if op.Target != op.Source {
			by += " at " + op.Target
		}
		return &profile.Error{File: f.Path, Msg: fmt.Sprintf(
			"the run could change it for the next one: it lies in %s, which this run binds writable (%s); "+
				"keep profiles, and the files they extend, outside every directory a run can write, "+
				"for example in ~/.config/jail/ or the project's parent directory", op.Source, by)}
	}
	return nil
}

// buildEnv starts empty: only the variables the profile keeps (when the
// caller has them; profile.Env.Keeps says which: never one it unsets, nor
// one that looks like a credential through a prefix) and the ones it sets,
// sorted for a stable plan.
func buildEnv(e profile.Env, environ []string) []string {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && e.Keeps(k) {
			env[k] = v
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
// name) or a path, following extends, with variables from the caller;
// each file read once, without blocking (fs.ReadProfile).
func loadProfile(arg string) (*profile.Profile, error) {
	if arg == "" {
		arg = "default"
	}
	return profile.Loader{Vars: profile.HostVars(), ReadFile: fs.ReadProfile}.Load(arg)
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
