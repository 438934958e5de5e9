package main

// `jail doctor` checks this host for everything jail needs and prints, for
// each problem, the exact fix. Each area is one check of a table; a check
// reads facts gathered once by probeDoctorHost (the only part that touches
// the system, including a real trial of the namespaces), so the checks
// themselves are pure and unit-tested with made-up facts.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/limits"
	"github.com/jail-sandbox/jail/seccomp"
	"github.com/jail-sandbox/jail/userns"
)

// Exit codes of `jail doctor`.
const (
	doctorOK    = 0 // jail can run here; "warn" lines cost a feature (e.g. cgroup limits), not the sandbox
	doctorFail  = 1 // something blocks jail from running: a "fail" line says what, and how to fix it
	doctorUsage = 2 // bad arguments
)

// Hidden arguments of `jail doctor`: the children of the trials.
const (
	doctorProbeArg = "__probe" // in jail's namespaces: mount, proc, pivot_root, seccomp
	doctorWaitArg  = "__wait"  // reads stdin to EOF and exits 0
)

const trialTimeout = 10 * time.Second // for each trial child

const doctorUsageText = `usage: jail doctor [-v|--verbose]

Check this host for everything jail needs: user namespaces (tried for
real), /etc/subuid and /etc/subgid ranges, newuidmap and newgidmap, cgroups
and their delegation, kernel features, and a container's seccomp profile.
Each problem comes with the exact fix.

  -v, --verbose  show the details of every check, also when it is ok

Exit status: 0 jail can run here (warnings cost a feature, not the sandbox),
1 something blocks jail from running, 2 bad usage.
`

type status int

const (
	statusOK   status = iota
	statusWarn        // jail runs, without something (a cgroup, sub-ids)
	statusFail        // jail cannot run
)

func (s status) String() string { return [...]string{"ok", "warn", "fail"}[s] }

// finding is what one check found.
type finding struct {
	status  status
	summary string   // one line
	notes   []string // what the problem costs; shown unless ok
	fixes   []string // exact commands or steps; shown unless ok
	details []string // shown with --verbose
}

var doctorChecks = []struct {
	name string
	run  func(*doctorHost) finding
}{
	{"user namespaces", checkNamespaces},
	{"subuid/subgid", checkSubIDs},
	{"uid helpers", checkHelpers},
	{"cgroups", checkCgroups},
	{"kernel", checkKernel},
	{"container", checkContainer},
}

// doctorHost is every fact the checks use, read once by probeDoctorHost.
type doctorHost struct {
	uid, gid int
	user     string // login name, or the uid when it has none
	exe      string // this binary, for the fixes that name it

	ids    userns.Host // ranges and helpers as jail sees them
	idsErr error       // reading /etc/subuid or /etc/subgid failed

	sysctls map[string]string // name (sysctl(8) spelling) -> value; absent: no such file

	trial    nsTrial
	mapTrial *mapTrial // nil: not tried (root, or no ranges or helpers)
	helpers  []helperFact

	layout     *limits.Layout
	layoutErr  error
	jailCgroup string // $JAIL_CGROUP

	kernel       string // uname release
	timeNS       bool   // /proc/self/ns/time exists
	seccompMode  int    // Seccomp: of /proc/self/status; -1 unknown
	seccompCount int    // Seccomp_filters:, -1 unknown
	seccompErr   error  // nil: the kernel takes seccomp filters
	landlockABI  int
	landlockErr  error

	container    string   // kind, "" if none detected
	containerWhy []string // the evidence
}

// nsTrial is the result of starting a child in jail's namespaces.
type nsTrial struct {
	err   error    // nil: everything worked
	step  string   // the probe step that failed; "" when the clone itself failed
	steps []string // what was done, for --verbose
	// refused lists the namespaces that fail alone (with a user namespace),
	// found after a failed clone to name the culprit.
	refused []string
	// clone3 is set when clone3 fails with ENOSYS on a kernel that has
	// it: a seccomp filter (Docker's default profile) answers it so.
	clone3 error
}

// mapTrial is the result of mapping a child's ids with newuidmap/newgidmap.
type mapTrial struct {
	err        error
	uids, gids uint64 // ids mapped, read back from /proc/PID/uid_map and gid_map
	mappings   string
}

// helperFact is what was found about newuidmap or newgidmap.
type helperFact struct {
	name, path string
	how        string // "setuid root" or the file capability
	err        error  // not found, or cannot raise privileges
}

func doctorMain(args []string, stdout, stderr io.Writer) int {
	verbose := false
	for _, a := range args {
		switch a {
		case doctorProbeArg:
			return doctorProbe(stdout)
		case doctorWaitArg:
			_, _ = io.Copy(io.Discard, os.Stdin)
			return 0
		case "-v", "--verbose":
			verbose = true
		case "-h", "--help":
			fmt.Fprint(stdout, doctorUsageText)
			return doctorOK
		default:
			fmt.Fprintf(stderr, "jail doctor: unknown argument %q\n%s", a, doctorUsageText)
			return doctorUsage
		}
	}
	return report(stdout, probeDoctorHost(), verbose)
}

// report runs the checks and prints one line per area (with notes and
// fixes when it is not ok) and returns the exit code.
func report(w io.Writer, h *doctorHost, verbose bool) int {
	width := 0
	for _, c := range doctorChecks {
		width = max(width, len(c.name))
	}
	indent := strings.Repeat(" ", 6+width+2)
	lines := func(prefix string, ss []string) {
		for _, s := range ss {
			fmt.Fprintf(w, "%s%s%s\n", indent, prefix, s)
		}
	}
	worst, warns := statusOK, 0
	for _, c := range doctorChecks {
		f := c.run(h)
		worst = max(worst, f.status)
		fmt.Fprintf(w, "%-4s  %-*s  %s\n", f.status, width, c.name, f.summary)
		if f.status != statusOK {
			lines("", f.notes)
			lines("fix: ", f.fixes)
		}
		if f.status == statusWarn {
			warns++
		}
		if verbose {
			lines("", f.details)
		}
	}
	switch {
	case worst == statusFail:
		fmt.Fprintln(w, "jail cannot run here: fix the \"fail\" lines above")
		return doctorFail
	case warns == 1:
		fmt.Fprintln(w, "jail can run here, with less (1 warning above)")
	case warns > 1:
		fmt.Fprintf(w, "jail can run here, with less (%d warnings above)\n", warns)
	}
	return doctorOK
}

// probeDoctorHost gathers the facts, trials included.
func probeDoctorHost() *doctorHost {
	h := &doctorHost{uid: os.Getuid(), gid: os.Getgid(), seccompMode: -1, seccompCount: -1}
	h.ids, h.idsErr = userns.LookupHost()
	h.user = h.ids.User
	if h.user == "" {
		h.user = strconv.Itoa(h.uid)
	}
	h.exe, _ = os.Executable()
	h.sysctls = readSysctls("/proc/sys")
	h.trial = tryNamespaces(h)
	h.helpers = findHelpers()
	if m := userns.Build(h.ids); h.idsErr == nil && m.Helper {
		h.mapTrial = tryHelpers(m)
	}
	h.layout, h.layoutErr = limits.HostLayout()
	h.jailCgroup = os.Getenv(limits.EnvCgroup)
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		h.kernel = unix.ByteSliceToString(uts.Release[:])
	}
	_, err := os.Stat("/proc/self/ns/time")
	h.timeNS = err == nil
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		h.seccompMode, h.seccompCount = parseSeccompStatus(string(b))
	}
	h.seccompErr = seccompFilters()
	h.landlockABI, h.landlockErr = landlockABI()
	h.container, h.containerWhy = detectContainer("/")
	return h
}

// errText is err with the errno's name, which the fixes refer to.
func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) && errno != 0 {
		if name := unix.ErrnoName(errno); name != "" && !strings.Contains(err.Error(), name) {
			return fmt.Sprintf("%v (%s)", err, name)
		}
	}
	return err.Error()
}

// --- user namespaces ---

// usernsSysctls are the settings that can forbid user namespaces.
var usernsSysctls = []struct {
	name    string // as sysctl(8) spells it
	bad     int64  // the value that forbids them
	rootToo bool   // bad stops root (CAP_SYS_ADMIN) too
	good    string // the value that allows them
	why     string
}{
	{"kernel.unprivileged_userns_clone", 0, false, "1", "unprivileged user namespaces are disabled (a Debian kernel setting)"},
	{"user.max_user_namespaces", 0, true, "15000", "user namespaces are disabled for everyone"},
	{"kernel.apparmor_restrict_unprivileged_userns", 1, false, "0", "AppArmor gives unprivileged user namespaces no capabilities (Ubuntu 23.10+), so jail cannot mount"},
}

func readSysctls(dir string) map[string]string {
	out := map[string]string{}
	for _, s := range usernsSysctls {
		if b, err := os.ReadFile(filepath.Join(dir, strings.ReplaceAll(s.name, ".", "/"))); err == nil {
			out[s.name] = strings.TrimSpace(string(b))
		}
	}
	return out
}

// classifySysctl says whether value of the sysctl name blocks jail for the
// caller, why, and the commands that fix it (now, and after a reboot).
// Unknown names and values that are not numbers block nothing.
func classifySysctl(name, value string, root bool, exe string) (blocks bool, why string, fixes []string) {
	v, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
	for _, s := range usernsSysctls {
		if err != nil || s.name != name || v != s.bad || root && !s.rootToo {
			continue
		}
		if name == "kernel.apparmor_restrict_unprivileged_userns" {
			if exe == "" {
				exe = "/usr/local/bin/jail"
			}
			prof := "abi <abi/4.0>,\\ninclude <tunables/global>\\nprofile jail " + exe + " flags=(unconfined) {\\n  userns,\\n}\\n"
			fixes = append(fixes, "allow user namespaces to jail alone (AppArmor profile): printf '"+prof+"' | sudo tee /etc/apparmor.d/jail && sudo apparmor_parser -r /etc/apparmor.d/jail")
		}
		fixes = append(fixes,
			"sudo sysctl -w "+name+"="+s.good,
			"to keep it after a reboot: echo "+name+"="+s.good+" | sudo tee /etc/sysctl.d/90-jail.conf")
		return true, fmt.Sprintf("%s (%s=%s)", s.why, name, value), fixes
	}
	return false, "", nil
}

// nsNames names jail's clone flags, in the order they are tried alone.
var nsNames = []struct {
	name string
	flag uintptr
}{
	{"mount", unix.CLONE_NEWNS}, {"pid", unix.CLONE_NEWPID}, {"network", unix.CLONE_NEWNET},
	{"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS}, {"time", unix.CLONE_NEWTIME},
}

// flagNames spells clone flags for the details.
func flagNames(flags uintptr) string {
	var names []string
	if flags&unix.CLONE_NEWUSER != 0 {
		names = append(names, "user")
	}
	for _, ns := range nsNames {
		if flags&ns.flag != 0 {
			names = append(names, ns.name)
		}
	}
	return strings.Join(names, "|")
}

// tryNamespaces starts `jail doctor __probe` as jail starts its sandbox
// (the same clone flags; the time namespace comes from unshare, as in
// jail's stage 2), with the Go runtime writing a map: the caller's own ids
// for an unprivileged caller (newuidmap is tried apart), jail's own map for
// root. The child does what the sandbox's init does first: make / private,
// mount a tmpfs and a fresh proc, pivot_root, a cgroup namespace, a seccomp
// filter.
func tryNamespaces(h *doctorHost) nsTrial {
	var t nsTrial
	out, err := runTrial(cloneFlags, trialMaps(h), doctorProbeArg)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if step, ok := strings.CutPrefix(line, "ok "); ok {
			t.steps = append(t.steps, step)
		}
		if rest, ok := strings.CutPrefix(line, "fail "); ok {
			step, msg, _ := strings.Cut(rest, ": ")
			n, msg, _ := strings.Cut(msg, " ")
			errno, _ := strconv.Atoi(n)
			t.step, t.err = step, fmt.Errorf("%s: %w", msg, syscall.Errno(errno))
		}
	}
	var ee *exec.ExitError
	switch {
	case err == nil, t.err != nil:
		return t
	case errors.As(err, &ee):
		t.step, t.err = "probe", fmt.Errorf("%v: %s", err, strings.TrimSpace(out))
		return t
	}
	// The clone failed: find which namespace (or clone3) is refused.
	t.err = err
	if _, err := runTrial(unix.CLONE_NEWUSER, trialMaps(h), doctorWaitArg); err != nil {
		t.refused = []string{"user"}
		return t
	}
	for _, ns := range nsNames {
		_, err := runTrial(unix.CLONE_NEWUSER|ns.flag, trialMaps(h), doctorWaitArg)
		switch {
		case err == nil:
		case ns.flag == unix.CLONE_NEWTIME && h.timeNS && errors.Is(err, unix.ENOSYS):
			// Go uses clone3 for the time namespace, and a kernel with
			// time namespaces (5.6) has clone3 (5.3): a filter answers it.
			t.clone3 = err
		default:
			t.refused = append(t.refused, ns.name)
		}
	}
	return t
}

// trialMaps is what the Go runtime writes for the trial child.
func trialMaps(h *doctorHost) *syscall.SysProcAttr {
	m := userns.Build(h.ids)
	if h.uid != 0 {
		m = userns.Mapping{
			UIDs:          []userns.IDMap{{Inside: 0, Outside: uint32(h.uid), Count: 1}},
			GIDs:          []userns.IDMap{{Inside: 0, Outside: uint32(h.gid), Count: 1}},
			SetgroupsDeny: true,
		}
	}
	return &syscall.SysProcAttr{
		UidMappings:                sysMap(m.UIDs),
		GidMappings:                sysMap(m.GIDs),
		GidMappingsEnableSetgroups: !m.SetgroupsDeny,
		Credential:                 &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: m.SetgroupsDeny},
	}
}

// trialCmd is `jail doctor ARG`, run as a child of this binary.
func trialCmd(ctx context.Context, arg string, attr *syscall.SysProcAttr) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/proc/self/exe", "doctor", arg)
	cmd.Args[0] = "jail"
	cmd.Env = []string{}
	attr.Pdeathsig = unix.SIGKILL
	cmd.SysProcAttr = attr
	return cmd
}

// runTrial starts `jail doctor ARG` in new namespaces and returns its
// output; a clone failure comes back as the error of Start.
func runTrial(flags uintptr, attr *syscall.SysProcAttr, arg string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), trialTimeout)
	defer cancel()
	attr.Cloneflags = flags
	cmd := trialCmd(ctx, arg, attr)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// doctorProbe runs in the trial's namespaces as uid 0 with every
// capability there. It prints "ok STEP" per step, or "fail STEP: ERRNO
// message" and exits 1. Everything happens in its own mount namespace and
// dies with it.
func doctorProbe(w io.Writer) int {
	const root = "/tmp" // covered by a tmpfs in this mount namespace only
	mount := func(src, dst, fstype string, flags uintptr, data string) error {
		return os.NewSyscallError("mount", unix.Mount(src, dst, fstype, flags, data))
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"make / private", func() error { return mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "") }},
		{"mount tmpfs", func() error { return mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=64k,mode=0755") }},
		{"mount proc", func() error {
			if err := os.Mkdir(root+"/proc", 0o755); err != nil {
				return err
			}
			return mount("proc", root+"/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
		}},
		{"pivot_root", func() error {
			if err := os.Mkdir(root+"/old", 0o755); err != nil {
				return err
			}
			if err := unix.PivotRoot(root, root+"/old"); err != nil {
				return os.NewSyscallError("pivot_root", err)
			}
			if err := unix.Chdir("/"); err != nil {
				return err
			}
			return os.NewSyscallError("umount2", unix.Unmount("/old", unix.MNT_DETACH))
		}},
		{"sethostname", func() error { return os.NewSyscallError("sethostname", unix.Sethostname([]byte("jail"))) }},
		{"cgroup namespace", func() error { return os.NewSyscallError("unshare", unix.Unshare(unix.CLONE_NEWCGROUP)) }},
		{"time namespace", func() error { return os.NewSyscallError("unshare", unix.Unshare(unix.CLONE_NEWTIME)) }},
		{"seccomp filter", func() error {
			if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
				return os.NewSyscallError("prctl(PR_SET_NO_NEW_PRIVS)", err)
			}
			return seccomp.Load(&seccomp.Program{BPF: allowAll()})
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			var errno syscall.Errno
			errors.As(err, &errno)
			fmt.Fprintf(w, "fail %s: %d %v\n", s.name, int(errno), err)
			return 1
		}
		fmt.Fprintf(w, "ok %s\n", s.name)
	}
	return 0
}

// allowAll is a one-instruction filter: return SECCOMP_RET_ALLOW.
func allowAll() []byte {
	b := make([]byte, 8)
	binary.NativeEndian.PutUint16(b[0:], unix.BPF_RET|unix.BPF_K)
	binary.NativeEndian.PutUint32(b[4:], unix.SECCOMP_RET_ALLOW)
	return b
}

func checkNamespaces(h *doctorHost) finding {
	var f finding
	var sysctlNotes, sysctlFixes []string
	for _, s := range usernsSysctls {
		v, ok := h.sysctls[s.name]
		if !ok {
			continue
		}
		f.details = append(f.details, s.name+" = "+v)
		if blocks, why, fixes := classifySysctl(s.name, v, h.uid == 0, h.exe); blocks {
			sysctlNotes, sysctlFixes = append(sysctlNotes, why), append(sysctlFixes, fixes...)
		}
	}
	f.details = append(f.details, "tried: "+strings.Join(append([]string{"clone " + flagNames(cloneFlags)}, h.trial.steps...), ", "))
	if len(h.trial.refused) > 0 {
		f.details = append(f.details, "refused alone (with a user namespace): "+strings.Join(h.trial.refused, ", "))
	}
	t := h.trial
	switch {
	case t.err == nil:
		f.summary = "created jail's namespaces; mount, proc, pivot_root and a seccomp filter work in them"
		return f
	case t.step == "":
		f.summary = "cannot create jail's namespaces: " + errText(t.err)
	default:
		f.summary = fmt.Sprintf("namespaces created, but %s fails in them: %s", t.step, errText(t.err))
	}
	f.status = statusFail
	if len(sysctlNotes) > 0 {
		f.notes, f.fixes = sysctlNotes, sysctlFixes
		return f
	}
	switch {
	case errors.Is(t.err, unix.ENOSPC):
		f.notes = append(f.notes, "the limit on user namespaces is reached (user.max_user_namespaces="+h.sysctls["user.max_user_namespaces"]+")")
		f.fixes = append(f.fixes, "sudo sysctl -w user.max_user_namespaces=15000")
	case errors.Is(t.err, unix.EUSERS):
		f.notes = append(f.notes, "user namespaces are nested too deep already (the kernel allows 32 levels)")
	case t.clone3 != nil:
		f.notes = append(f.notes, "clone3 fails ("+errText(t.clone3)+"): jail needs it to start a sandbox in its cgroup (cgroup v2, CLONE_INTO_CGROUP); a seccomp filter of the container or sandbox around jail answers it (Docker's default profile does)")
	case len(t.refused) > 0 && !slices.Contains(t.refused, "user"):
		f.notes = append(f.notes, "the kernel refuses these namespaces: "+strings.Join(t.refused, ", "))
		if slices.Contains(t.refused, "time") && !h.timeNS {
			f.fixes = append(f.fixes, "time namespaces need Linux 5.6 or newer built with CONFIG_TIME_NS=y")
		}
	case t.step == "mount proc" && errors.Is(t.err, unix.EPERM):
		f.notes = append(f.notes, "a fresh proc is refused when parts of /proc are covered by other mounts (as container runtimes do)")
	}
	if h.seccompMode == 2 || h.container != "" {
		f.notes = append(f.notes, "see \"container\" below")
	}
	return f
}

// --- sub-ids and helpers ---

// withoutSubIDs is what mapping only the caller's own ids costs.
const withoutSubIDs = "without them jail maps only your own uid and gid (to 0 inside)"

func checkSubIDs(h *doctorHost) finding {
	if h.idsErr != nil {
		return finding{
			status:  statusFail,
			summary: errText(h.idsErr),
			notes:   []string{"jail reads /etc/subuid and /etc/subgid before every run and stops at this error"},
			fixes:   []string{"correct the line named above: each line is NAME_OR_UID:START:COUNT"},
		}
	}
	uids, gids := h.ids.SubUIDs, h.ids.SubGIDs
	var f finding
	if h.uid == 0 {
		f.summary = "root: sandboxes run as uids " + rangeText(rootRange(uids)) + ", gids " + rangeText(rootRange(gids)) + ", never as host root"
		if len(uids) == 0 {
			f.details = append(f.details, "root has no /etc/subuid range: jail uses its default range")
		}
		return f
	}
	f.details = []string{"/etc/subuid: " + rangesText(uids), "/etc/subgid: " + rangesText(gids)}
	if len(uids) > 0 && len(gids) > 0 {
		f.summary = fmt.Sprintf("%s: uids %s, gids %s", h.user, rangesText(uids), rangesText(gids))
		return f
	}
	start := h.ids.FreeSubID
	if start == 0 {
		start = 100000
	}
	r := fmt.Sprintf("%d-%d", start, start+65535)
	var files, add []string
	if len(uids) == 0 {
		files, add = append(files, "/etc/subuid"), append(add, "--add-subuids "+r)
	}
	if len(gids) == 0 {
		files, add = append(files, "/etc/subgid"), append(add, "--add-subgids "+r)
	}
	f.status = statusWarn
	f.summary = "no " + strings.Join(files, " or ") + " range for " + h.user
	f.notes = []string{withoutSubIDs + ": other ids show as nobody, commands that change user fail, and the judge profiles (which run submissions as uid 1000) are refused"}
	f.fixes = []string{"sudo usermod " + strings.Join(add, " ") + " " + h.user}
	return f
}

func rootRange(rs []userns.Range) userns.Range {
	if len(rs) > 0 {
		return rs[0]
	}
	return userns.DefaultRootRange
}

func rangeText(r userns.Range) string {
	return fmt.Sprintf("%d-%d", r.Start, uint64(r.Start)+uint64(r.Count)-1)
}

func rangesText(rs []userns.Range) string {
	if len(rs) == 0 {
		return "none"
	}
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = rangeText(r)
	}
	return strings.Join(s, ", ")
}

// Capabilities the helpers need, and the layout of the security.capability
// xattr (struct vfs_ns_cap_data in linux/capability.h).
const (
	capSetgid         = 6
	capSetuid         = 7
	vfsCapRevMask     = 0xff000000
	vfsCapRev1        = 0x01000000
	vfsCapRev2        = 0x02000000
	vfsCapRev3        = 0x03000000
	vfsCapFlagsEffect = 0x000001
)

func capName(bit uint) string {
	if bit == capSetuid {
		return "cap_setuid"
	}
	return "cap_setgid"
}

func findHelpers() []helperFact {
	var out []helperFact
	for _, h := range []struct {
		name string
		cap  uint
	}{{"newuidmap", capSetuid}, {"newgidmap", capSetgid}} {
		fact := helperFact{name: h.name}
		fact.path, fact.err = userns.FindHelper(h.name)
		if fact.err == nil {
			fact.how, fact.err = helperPrivilege(fact.path, h.cap)
		}
		out = append(out, fact)
	}
	return out
}

// helperPrivilege says how the program at path gets the capability it
// needs (capBit: CAP_SETUID for newuidmap, CAP_SETGID for newgidmap):
// setuid root, or a file capability with that bit permitted and effective.
// The error says why it cannot.
func helperPrivilege(path string, capBit uint) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", &os.PathError{Op: "stat", Path: path, Err: err}
	}
	how := "setuid root"
	if st.Mode&unix.S_ISUID == 0 || st.Uid != 0 {
		buf := make([]byte, 24)
		n, err := unix.Getxattr(path, "security.capability", buf)
		switch {
		case err == nil:
			ok, why := fileCapHas(buf[:n], capBit)
			if !ok {
				return "", fmt.Errorf("%s: its file capabilities %s", path, why)
			}
			how = "file capability " + capName(capBit) + "+ep"
		case st.Mode&unix.S_ISUID != 0:
			return "", fmt.Errorf("%s is setuid but owned by uid %d, not root", path, st.Uid)
		default:
			return "", fmt.Errorf("%s is neither setuid root nor has file capabilities", path)
		}
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err == nil && sfs.Flags&unix.ST_NOSUID != 0 {
		return "", fmt.Errorf("%s is %s, but on a nosuid mount, which ignores both", path, how)
	}
	return how, nil
}

// fileCapHas decodes a security.capability value: does it permit capBit,
// effective, for the host's root (revision 3 names a namespace's root)?
func fileCapHas(b []byte, capBit uint) (bool, string) {
	if len(b) < 4 {
		return false, "are unreadable"
	}
	magic := binary.LittleEndian.Uint32(b)
	switch rev := magic & vfsCapRevMask; {
	case rev == vfsCapRev1 && len(b) >= 12, rev == vfsCapRev2 && len(b) >= 20:
	case rev == vfsCapRev3 && len(b) >= 24:
		if root := binary.LittleEndian.Uint32(b[20:]); root != 0 {
			return false, fmt.Sprintf("belong to the user namespace of uid %d, not the host", root)
		}
	default:
		return false, fmt.Sprintf("have an unknown revision %#x", rev)
	}
	if permitted := binary.LittleEndian.Uint32(b[4:]); permitted&(1<<capBit) == 0 { // capabilities 0-31
		return false, "lack " + capName(capBit)
	}
	if magic&vfsCapFlagsEffect == 0 {
		return false, "have " + capName(capBit) + " permitted but not effective (want +ep)"
	}
	return true, ""
}

// tryHelpers starts a child in a new user namespace and maps it as jail
// would, with newuidmap and newgidmap, then reads the maps back.
func tryHelpers(m userns.Mapping) *mapTrial {
	cmd := trialCmd(context.Background(), doctorWaitArg, &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER})
	in, err := cmd.StdinPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		return &mapTrial{err: err}
	}
	t := &mapTrial{}
	ctx, cancel := context.WithTimeout(context.Background(), trialTimeout)
	t.err = userns.Map(ctx, cmd.Process.Pid, m)
	cancel()
	if t.err == nil {
		proc := "/proc/" + strconv.Itoa(cmd.Process.Pid)
		var u, g []byte
		if u, t.err = os.ReadFile(proc + "/uid_map"); t.err == nil {
			g, t.err = os.ReadFile(proc + "/gid_map")
		}
		t.uids, t.gids = countMapped(string(u)), countMapped(string(g))
		t.mappings = strings.Join(strings.Fields(string(u)), " ")
	}
	in.Close()
	if err := cmd.Wait(); err != nil && t.err == nil {
		t.err = err
	}
	return t
}

// countMapped adds up the counts of a uid_map/gid_map.
func countMapped(m string) uint64 {
	var n uint64
	for _, line := range strings.Split(m, "\n") {
		if f := strings.Fields(line); len(f) == 3 {
			c, _ := strconv.ParseUint(f[2], 10, 32)
			n += c
		}
	}
	return n
}

func checkHelpers(h *doctorHost) finding {
	const reinstall = "sudo apt-get install --reinstall uidmap (Fedora: sudo dnf reinstall shadow-utils)"
	var f finding
	var bad []string
	for _, x := range h.helpers {
		if x.err != nil {
			bad = append(bad, errText(x.err))
			f.details = append(f.details, x.name+": "+errText(x.err))
		} else {
			f.details = append(f.details, x.name+": "+x.path+", "+x.how)
		}
	}
	switch t := h.mapTrial; {
	case h.uid == 0:
		f.summary = "not needed: root writes its sandboxes' id maps itself"
	case t != nil && t.err == nil:
		f.summary = fmt.Sprintf("newuidmap and newgidmap mapped %d uids and %d gids in a trial namespace", t.uids, t.gids)
		f.details = append(f.details, "uid_map: "+t.mappings)
	case t != nil:
		f.status = statusFail
		f.summary = "mapping a trial namespace failed: " + errText(t.err)
		f.notes = append(bad, "jail maps every sandbox this way, so it cannot run")
		f.fixes = []string{
			"check that /etc/subuid and /etc/subgid name " + h.user + " (or uid " + strconv.Itoa(h.uid) + ") with ranges that do not contain your own ids",
			reinstall,
		}
	case len(bad) > 0:
		f.status = statusWarn
		f.summary = strings.Join(bad, "; ")
		f.notes = []string{withoutSubIDs + ", as without sub-id ranges"}
		f.fixes = []string{reinstall}
		if slices.ContainsFunc(h.helpers, func(x helperFact) bool { return x.path == "" }) {
			f.fixes = []string{"sudo apt-get install uidmap (Fedora: sudo dnf install shadow-utils)"}
		}
	default:
		f.summary = "newuidmap and newgidmap are usable (not tried: no ranges to map)"
	}
	return f
}

// --- cgroups ---

// cgroupVersion names the layout: "v2" (unified), "v1", "hybrid" (v1
// controllers and a cgroup2 mount, as systemd's hybrid mode), or "none".
func cgroupVersion(l *limits.Layout) string {
	switch {
	case len(l.V1) > 0 && l.V2Mount != "":
		return "hybrid"
	case len(l.V1) > 0 || len(l.V1Other) > 0:
		return "v1"
	case l.V2Mount != "":
		return "v2"
	}
	return "none"
}

// v2Writable is what Prepare checks before it uses a cgroup2 directory.
func v2Writable(dir string) error {
	for _, f := range []string{dir, filepath.Join(dir, "cgroup.procs"), filepath.Join(dir, "cgroup.subtree_control")} {
		if err := unix.Access(f, unix.W_OK); err != nil {
			return &os.PathError{Op: "access", Path: f, Err: err}
		}
	}
	return nil
}

// controllers reads a cgroup2 directory's cgroup.controllers.
func controllers(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	return strings.Fields(string(b)), err
}

// controllersText is controllers for a message.
func controllersText(dir string) string {
	c, _ := controllers(dir)
	return wordsText(c)
}

func wordsText(w []string) string {
	if len(w) == 0 {
		return "no controllers"
	}
	return strings.Join(w, " ")
}

// lacking returns the wanted controllers that have is missing.
func lacking(have []string) []string {
	return slices.DeleteFunc(limits.V2Controllers(), func(c string) bool { return slices.Contains(have, c) })
}

const delegateDropIn = "sudo mkdir -p /etc/systemd/system/user@.service.d && " +
	"printf '[Service]\\nDelegate=cpu cpuset io memory pids\\n' | sudo tee /etc/systemd/system/user@.service.d/delegate.conf && " +
	"sudo systemctl daemon-reload; then log out and in again"

const noCgroupNote = "without a cgroup jail still runs: memory and pids limits fall back to rlimits, --cpus is not enforced, and CPU time is counted per process"

// withoutCgroup makes f a warning that jail runs without a cgroup.
func withoutCgroup(f finding, summary string, fixes ...string) finding {
	f.status, f.summary, f.notes, f.fixes = statusWarn, summary, []string{noCgroupNote}, fixes
	return f
}

func checkCgroups(h *doctorHost) finding {
	if h.layoutErr != nil {
		return withoutCgroup(finding{}, "cannot read the cgroup layout: "+errText(h.layoutErr))
	}
	l, ver := h.layout, cgroupVersion(h.layout)
	var f finding
	layout := ver
	if l.V2Mount != "" {
		ctl := controllersText(l.V2Mount)
		f.details = append(f.details, fmt.Sprintf("cgroup2 at %s, controllers: %s", l.V2Mount, ctl))
		if ver == "hybrid" {
			layout = fmt.Sprintf("hybrid (v1 controllers; cgroup2 at %s with %s)", l.V2Mount, ctl)
		}
	}
	for _, c := range l.V1 {
		f.details = append(f.details, fmt.Sprintf("v1 %s at %s", c.Name, c.Mount))
	}
	if len(l.V1Other) > 0 {
		f.details = append(f.details, "other v1 controllers: "+strings.Join(l.V1Other, " "))
	}

	switch named := h.jailCgroup; {
	case named == limits.NoCgroup:
		return withoutCgroup(f, layout+": off ("+limits.EnvCgroup+"=none)", "unset "+limits.EnvCgroup)
	case named != "" && l.V2Mount != "" && strings.HasPrefix(filepath.Clean(named)+"/", strings.TrimSuffix(l.V2Mount, "/")+"/"):
		if err := v2Writable(named); err != nil {
			f.status, f.summary = statusFail, fmt.Sprintf("%s: %s=%s is not usable: %s", layout, limits.EnvCgroup, named, errText(err))
			f.notes = []string{"jail refuses to run with a named cgroup it cannot use"}
			f.fixes = []string{"unset " + limits.EnvCgroup + ", or name a cgroup2 directory delegated to you"}
			return f
		}
		f.summary = fmt.Sprintf("%s: %s=%s (%s)", layout, limits.EnvCgroup, named, controllersText(named))
		return f
	case named != "":
		f.summary = fmt.Sprintf("%s: %s=%s (a v1 parent; not checked here)", layout, limits.EnvCgroup, named)
		return f
	}

	// As Prepare: our own cgroup2 directory first, then v1 delegation.
	if l.V2Dir != "" {
		if have, err := controllers(l.V2Dir); err == nil {
			werr, miss := v2Writable(l.V2Dir), lacking(have)
			f.details = append(f.details, fmt.Sprintf("own cgroup2 directory %s: controllers %s", l.V2Dir, wordsText(have)))
			switch {
			case werr == nil && len(miss) == 0:
				f.summary = fmt.Sprintf("%s: %s is delegated to you (%s)", layout, l.V2Dir, wordsText(have))
				return f
			case ver == "v2" && werr == nil:
				f.status = statusWarn
				f.summary = fmt.Sprintf("v2: %s is delegated to you but lacks %s (has %s)", l.V2Dir, strings.Join(miss, ", "), wordsText(have))
				f.notes = []string{"jail uses a cgroup only with memory, pids and cpu; systemd delegates only memory and pids by default", noCgroupNote}
				f.fixes = []string{"delegate cpu too: " + delegateDropIn}
				return f
			case ver == "v2":
				return v2NotDelegated(h, f, werr)
			}
		}
	}
	if len(l.V1) == 0 {
		return withoutCgroup(f, layout+": no cgroup controllers jail can use")
	}
	var found, lack []string
	for _, c := range l.V1 {
		i := slices.IndexFunc(c.Candidates, func(d string) bool { return limits.V1Writable(d) == nil })
		switch {
		case i >= 0:
			found = append(found, c.Name)
			f.details = append(f.details, c.Name+": delegated at "+c.Candidates[i])
		case c.Optional:
			f.details = append(f.details, c.Name+": not delegated (optional) at "+strings.Join(c.Candidates, " or "))
		default:
			lack = append(lack, c.Name)
			f.details = append(f.details, c.Name+": not delegated: none of "+strings.Join(c.Candidates, ", ")+" is writable by you")
		}
	}
	if len(lack) == 0 {
		f.summary = fmt.Sprintf("%s: v1 delegated to %s (%s)", layout, h.user, strings.Join(found, " "))
		return f
	}
	sudo := "sudo "
	if h.uid == 0 {
		sudo = ""
	}
	return withoutCgroup(f, fmt.Sprintf("%s: no v1 subtree delegated to %s (lacks %s)", layout, h.user, strings.Join(lack, ", ")),
		"as root, once: "+sudo+exeName(h)+" setup-cgroup --user "+h.user)
}

// v2NotDelegated explains a cgroup2 host where our own cgroup is not ours,
// looking at what systemd's user manager would delegate.
func v2NotDelegated(h *doctorHost, f finding, werr error) finding {
	f = withoutCgroup(f, fmt.Sprintf("v2: your cgroup %s is not delegated to you", h.layout.V2Dir),
		"run jail in a delegated scope: systemd-run --user --scope -p Delegate=yes "+exeName(h)+" ...")
	f.details = append(f.details, errText(werr))
	mgr := filepath.Join(h.layout.V2Mount, "user.slice", fmt.Sprintf("user-%d.slice", h.uid), fmt.Sprintf("user@%d.service", h.uid))
	have, err := controllers(mgr)
	switch {
	case err != nil:
		f.notes = append(f.notes, fmt.Sprintf("no systemd user manager runs for uid %d (%s), so systemd-run --user has none to ask", h.uid, mgr))
		f.fixes = append(f.fixes, "start one: log in (not su), or: sudo loginctl enable-linger "+h.user)
	case len(lacking(have)) > 0:
		f.notes = append(f.notes, fmt.Sprintf("systemd delegates only %s to %s: jail needs memory, pids and cpu", wordsText(have), mgr))
		f.fixes = append(f.fixes, "delegate cpu too: "+delegateDropIn)
	default:
		f.details = append(f.details, fmt.Sprintf("%s offers %s", mgr, wordsText(have)))
	}
	f.fixes = append(f.fixes, "or have root make a cgroup2 directory, chown it to you, and name it: --cgroup DIR or "+limits.EnvCgroup+"=DIR")
	return f
}

// exeName is how the fixes call jail: its path when it is not in PATH.
func exeName(h *doctorHost) string {
	if h.exe != "" {
		if p, err := exec.LookPath("jail"); err != nil || p != h.exe {
			return h.exe
		}
	}
	return "jail"
}

// --- kernel ---

// kernelAtLeast compares a uname release ("6.1.0-18-amd64") with maj.min.
func kernelAtLeast(release string, maj, min int) bool {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return false
	}
	a, err1 := strconv.Atoi(parts[0])
	b, err2 := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	return err1 == nil && err2 == nil && (a > maj || a == maj && b >= min)
}

// parseSeccompStatus reads the Seccomp (0 none, 1 strict, 2 filter) and
// Seccomp_filters fields of /proc/PID/status; -1 when absent.
func parseSeccompStatus(status string) (mode, filters int) {
	mode, filters = -1, -1
	for _, line := range strings.Split(status, "\n") {
		k, v, _ := strings.Cut(line, ":")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		switch {
		case err != nil:
		case k == "Seccomp":
			mode = n
		case k == "Seccomp_filters":
			filters = n
		}
	}
	return mode, filters
}

// seccompFilters asks the kernel whether it takes seccomp filters, without
// installing one: SECCOMP_GET_ACTION_AVAIL (Linux 4.14) for an action every
// filter kernel knows.
func seccompFilters() error {
	if _, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl(PR_GET_SECCOMP)", err)
	}
	action := uint32(unix.SECCOMP_RET_KILL_PROCESS)
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&action))); errno != 0 {
		return os.NewSyscallError("seccomp(SECCOMP_GET_ACTION_AVAIL)", errno)
	}
	return nil
}

func landlockABI() (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0, os.NewSyscallError("landlock_create_ruleset", errno)
	}
	return int(r), nil
}

func checkKernel(h *doctorHost) finding {
	var f finding
	var have []string
	if h.timeNS {
		have = append(have, "time namespaces")
	} else {
		f.status = statusFail
		f.notes = append(f.notes, "no time namespaces (/proc/self/ns/time): jail gives every sandbox one")
		f.fixes = append(f.fixes, "a kernel of Linux 5.6 or newer built with CONFIG_TIME_NS=y")
	}
	if h.seccompErr == nil {
		have = append(have, "seccomp filters")
	} else {
		f.status = statusFail
		f.notes = append(f.notes, "no seccomp filters ("+errText(h.seccompErr)+"): jail's profiles load one")
		f.fixes = append(f.fixes, "a kernel built with CONFIG_SECCOMP_FILTER=y")
	}
	// Only a cgroup2 sandbox needs these three.
	if h.layout != nil && cgroupVersion(h.layout) == "v2" {
		feature := func(name string, maj, min int, file, without string) {
			ok := kernelAtLeast(h.kernel, maj, min)
			if file != "" && h.layout.V2Path != "/" && h.layout.V2Dir != "" {
				_, err := os.Stat(filepath.Join(h.layout.V2Dir, file))
				ok = err == nil
			}
			if ok {
				have = append(have, name)
				return
			}
			f.status = max(f.status, statusWarn)
			f.notes = append(f.notes, fmt.Sprintf("no %s (Linux %d.%d): %s", name, maj, min, without))
		}
		feature("CLONE_INTO_CGROUP", 5, 7, "", "jail moves the sandbox into its cgroup after it starts")
		feature("cgroup.kill", 5, 14, "cgroup.kill", "jail kills the sandbox process by process")
		feature("memory.peak", 5, 19, "memory.peak", "reports give no peak memory")
	} else {
		f.details = append(f.details, "CLONE_INTO_CGROUP, cgroup.kill, memory.peak: cgroup v2 only, not used here")
	}
	if h.landlockErr == nil {
		have = append(have, fmt.Sprintf("Landlock ABI %d", h.landlockABI))
	} else {
		f.details = append(f.details, "no Landlock ("+errText(h.landlockErr)+"); jail does not need it")
	}
	if h.seccompMode == 2 {
		f.details = append(f.details, fmt.Sprintf("this process is already under %s seccomp filter(s); jail's filter stacks on them", countText(h.seccompCount)))
	}
	f.summary = "Linux " + h.kernel + ": " + strings.Join(have, ", ")
	return f
}

func countText(n int) string {
	if n < 0 {
		return "some"
	}
	return strconv.Itoa(n)
}

// --- containers ---

// detectContainer looks for the marks container runtimes leave, below root
// (a parameter for tests), and asks systemd-detect-virt when it is there.
func detectContainer(root string) (kind string, why []string) {
	found := func(k, w string) {
		if kind == "" {
			kind = k
		}
		why = append(why, w)
	}
	if _, err := os.Stat(filepath.Join(root, ".dockerenv")); err == nil {
		found("docker", "/.dockerenv exists")
	}
	if _, err := os.Stat(filepath.Join(root, "run/.containerenv")); err == nil {
		found("podman", "/run/.containerenv exists")
	}
	if b, err := os.ReadFile(filepath.Join(root, "proc/1/cgroup")); err == nil {
		for _, m := range []struct{ mark, kind string }{
			{"/docker", "docker"}, {"kubepods", "kubernetes"}, {"libpod", "podman"}, {"/lxc", "lxc"}, {"containerd", "containerd"},
		} {
			if bytes.Contains(b, []byte(m.mark)) {
				found(m.kind, "/proc/1/cgroup mentions "+strings.TrimPrefix(m.mark, "/"))
				break
			}
		}
	}
	if root == "/" {
		if p, err := exec.LookPath("systemd-detect-virt"); err == nil {
			out, _ := exec.Command(p, "--container").Output()
			if v := strings.TrimSpace(string(out)); v != "" && v != "none" {
				found(v, "systemd-detect-virt --container says "+v)
			}
		}
	}
	return kind, why
}

func checkContainer(h *doctorHost) finding {
	f := finding{details: h.containerWhy}
	filtered := h.seccompMode == 2
	if filtered {
		f.details = append(f.details, fmt.Sprintf("this process is under %s seccomp filter(s) (Seccomp: 2 in /proc/self/status)", countText(h.seccompCount)))
	}
	where := "no container detected"
	switch {
	case h.container != "":
		where = "a container (" + h.container + ")"
	case filtered:
		where = "no container detected, but under a seccomp filter"
	}
	switch {
	case h.container == "" && !filtered:
		f.summary = where
		return f
	case h.trial.err == nil:
		f.summary = where + "; jail's namespaces work in it"
		return f
	}
	f.status = statusFail
	f.summary = where + ": it blocks what jail needs (" + trialWhat(h.trial) + ")"
	switch {
	case h.container == "":
		f.notes = []string{"whatever started this process (a sandbox, a service manager) installed a seccomp filter that blocks namespace system calls"}
		f.fixes = []string{"run jail outside it, or have the filter allow clone, clone3, unshare, setns, mount, umount2 and pivot_root"}
	case h.trial.step == "mount proc":
		f.notes = []string{"the runtime covers parts of /proc, so the kernel refuses a fresh proc"}
		f.fixes = []string{"docker run --security-opt systempaths=unconfined ... (podman: --security-opt unmask=ALL)"}
	case h.trial.step != "" && errors.Is(h.trial.err, unix.EACCES):
		f.notes = []string{"an AppArmor or SELinux policy of the container denies it"}
		f.fixes = []string{"docker run --security-opt apparmor=unconfined ... (SELinux: --security-opt label=disable)"}
	default:
		f.notes = []string{"its seccomp profile blocks namespace system calls (clone, clone3, unshare, mount, pivot_root, setns)"}
		f.fixes = []string{
			"docker run --security-opt seccomp=unconfined ... (podman likewise)",
			"or a seccomp profile that allows clone, clone3, unshare, setns, mount, umount2 and pivot_root",
		}
	}
	return f
}

// trialWhat names what failed in a trial.
func trialWhat(t nsTrial) string {
	switch {
	case t.step != "":
		return t.step + ": " + errText(t.err)
	case t.clone3 != nil:
		return "clone3: " + errText(t.clone3)
	}
	return "clone: " + errText(t.err)
}
