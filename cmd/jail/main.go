// Command jail runs a command in a rootless sandbox described by a TOML
// profile: its own user namespace (ids from /etc/subuid via newuidmap), all
// eight namespaces, a read-only root filesystem and a PID 1 init.
package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jail-sandbox/jail/cmd/jail/internal/ipc"
	"github.com/jail-sandbox/jail/fs"
	"github.com/jail-sandbox/jail/limits"
	"github.com/jail-sandbox/jail/profile"
)

// exitLimit is jail's exit status when a limit ended the run (TO, ML, OL).
const exitLimit = 128 + 9

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: jail [OPTIONS] [--] COMMAND [ARG...]
       jail batch|check|clean|profiles|doctor|completion|setup-cgroup|version ...

Run COMMAND in a rootless sandbox: new user, mount, PID, network, IPC, UTS,
cgroup and time namespaces, a read-only root built from a profile, a seccomp
filter, no capabilities. Reference: docs/cli.md and docs/profile.md.

  -p, --profile P        built-in profile NAME (see jail profiles) or a FILE
                         (with a '/' or .toml); default: default
      --plan             print the sandbox plan as JSON and exit
  -q, --quiet            no warnings
  -h, --help | --version

Profile overrides (a flag beats the profile):
      --bind SRC[:DST]   --ro-bind SRC[:DST]   --tmpfs DST[:SIZE]
      --chdir DIR        --hostname NAME       --uid N   --gid N
      --setenv K=V       --unsetenv K          --keep-env K
      --net none|host|user                     --time-offset [CLOCK=]OFFSET
Limits (SIZE like 256MiB, TIME like 2.5s):
      --memory SIZE  --pids N  --cpus N  --cpu-time TIME  --wall-time TIME
      --extra-time TIME  --output SIZE  --file-size SIZE  --open-files N
      --stack SIZE  --cgroup DIR|none  --require-cgroup
Judge I/O and reports:
      --stdin F  --stdout F  --stderr F  --report F  --meta F  --meta-extended

Commands:
  batch [OPTIONS]        run one sandbox per JSON request line of stdin
  check [OPTIONS]        validate; print the effective profile as TOML
  clean PATH...          remove files a run left under your sub-uids
  profiles               list the built-in profiles
  doctor [-v]            check this host; print the fix for each problem
  completion bash|zsh    print a shell completion script
  setup-cgroup --user U  (root, once) delegate a cgroup v1 subtree
  version                print the version

Exit status: the command's own; 128+N if signal N killed it; 137 when a
limit ended it; 125 if jail could not set up the sandbox; 126 if the
command is not executable; 127 if it was not found.
`

type options struct {
	profile string
	plan    bool
	quiet   bool
	argv    []string

	overrides    []override // command-line changes to the profile, in order
	stdin        string
	stdout       string
	stderr       string
	report       string
	meta         string
	metaExtended bool
}

// valueOptions are the options of jail's own that take a value; those
// that change the profile are in overrideOptions.
var valueOptions = map[string]func(o *options, v string) error{
	"--profile": func(o *options, v string) error { o.profile = v; return nil },
	"-p":        func(o *options, v string) error { o.profile = v; return nil },
	"--stdin":   func(o *options, v string) error { o.stdin = v; return nil },
	"--stdout":  func(o *options, v string) error { o.stdout = v; return nil },
	"--stderr":  func(o *options, v string) error { o.stderr = v; return nil },
	"--report":  func(o *options, v string) error { o.report = v; return nil },
	"--meta":    func(o *options, v string) error { o.meta = v; return nil },
}

func main() {
	// The stages re-execute this binary: dispatch before anything else, so
	// the sandbox's init does no flag parsing and no logging set-up.
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case stage1Arg:
			os.Exit(stage1())
		case stage2Arg:
			os.Exit(stage2())
		case zygote1Arg:
			os.Exit(zygote1())
		case zygote2Arg:
			os.Exit(zygote2())
		case cleanArg:
			os.Exit(cleanChild())
		}
	}
	// Before anything marks them close-on-exec: the descriptors the
	// caller gave jail, which /dev/fd/N may name (fs.CallerFD).
	fs.NoteCallerFDs()
	os.Exit(jailMain(os.Args[1:], os.Stdout, os.Stderr))
}

func jailMain(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "setup-cgroup":
			return setupCgroupMain(args[1:], stdout, stderr)
		case "doctor":
			return doctorMain(args[1:], stdout, stderr)
		case "check":
			return checkMain(args[1:], stdout, stderr)
		case "profiles":
			return profilesMain(args[1:], stdout, stderr)
		case "completion":
			return completionMain(args[1:], stdout, stderr)
		case "version":
			fmt.Fprintln(stdout, "jail", version)
			return 0
		case "batch":
			return batchMain(args[1:], os.Stdin, stdout, stderr)
		case "clean":
			return cleanMain(args[1:], stdout, stderr)
		}
	}
	opts, err := parseArgs(args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if errors.Is(err, errVersion) {
		fmt.Fprintln(stdout, "jail", version)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "jail: %v\n%s", err, "Try 'jail --help'.\n")
		return exitSetup
	}
	rep := &Report{Version: reportVersion, Enforcement: map[string]string{}}
	// The reports' directories are opened now, before any sandbox
	// exists: the reports land there whatever the run does to the paths.
	reports, err := openReports(opts)
	defer reports.close()
	// Every failure from here writes the reports too (status XX): a judge
	// must never read a previous run's file as this run's verdict.
	failSetup := func(err error) int {
		fmt.Fprintf(stderr, "jail: %v\n", err)
		rep.Status, rep.Message = StatusXX, err.Error()
		if werr := reports.write(rep); werr != nil {
			fmt.Fprintf(stderr, "jail: %v\n", werr)
		}
		return exitSetup
	}
	if err != nil {
		return failSetup(err) // into whichever of the two could be opened
	}
	p, mapping, plan, err := prepare(opts, opts.argv)
	if err != nil {
		return failSetup(err)
	}
	if opts.plan {
		b, _ := json.MarshalIndent(plan, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	if mapping.Warning != "" && !opts.quiet {
		fmt.Fprintf(stderr, "jail: warning: %s\n", mapping.Warning)
	}
	// No descriptor of the caller's terminal enters the sandbox: the
	// command could make it its controlling terminal (TIOCSCTTY works on
	// a terminal that is no session's) and type into it. Each of 0-2 that
	// is a terminal is replaced by a pseudo-terminal of jail's instead.
	// Before the sandbox exists: what its sweep checks after the run.
	guard, err := guardVCS(p, plan)
	if err != nil {
		return failSetup(err)
	}
	code, err := supervise(opts, p, plan, rep)
	sweepVCS(guard, stderr, "jail")
	err = withIDHint(err, plan.IDMap, &plan.Exec)
	if err != nil {
		fmt.Fprintf(stderr, "jail: %s\n", describe(err))
		failedRun(rep, code, err)
	} else if rep.Limit != "" && !opts.quiet {
		fmt.Fprintf(stderr, "jail: %s\n", rep.Message)
	}
	if werr := reports.write(rep); werr != nil {
		fmt.Fprintf(stderr, "jail: %v\n", werr)
		if code == 0 {
			code = exitSetup
		}
	}
	return code
}

// failedRun fills the report of a run that supervise ended with err: XX
// for a set-up failure, RE for a command that could not be executed.
func failedRun(rep *Report, code int, err error) {
	rep.Message = describe(err)
	var se *setupError
	if code == exitSetup || errors.As(err, &se) {
		rep.Status = StatusXX
	} else {
		rep.Status, rep.ExitCode = StatusRE, code
	}
}

// supervise prepares the cgroup and the command's stdio, runs the sandbox
// and fills rep.
func supervise(opts options, p *profile.Profile, plan *Plan, rep *Report) (int, error) {
	l := p.Limits
	cg, err := limits.Prepare(limits.Spec{
		Memory: uint64(l.Memory), Swap: l.Swap, Pids: l.Pids, CPUs: l.CPUs,
		CgroupDir: l.Cgroup, Require: l.RequireCgroup,
	}, sandboxID())
	if err != nil {
		return exitSetup, fmt.Errorf("cgroup: %w", err)
	}
	defer cg.Remove()
	rep.Enforcement = enforcement(l, cg)
	if cg.Backend() == limits.None && l.Pids > 0 {
		// RLIMIT_NPROC counts the processes of a uid: give this
		// sandbox's command a host uid of its own.
		if m, ok := plan.IDMap.Isolate(plan.Exec.UID, plan.Exec.GID, uint32(os.Getpid())); ok {
			plan.IDMap = m
			rep.Enforcement["pids"] = "rlimit (RLIMIT_NPROC on a host uid of this sandbox's own)"
		}
	}
	rep.Enforcement["user"] = userEnforcement(plan.IDMap, &plan.Exec)
	plan.Exec.Rlimits = rlimits(l, cg.Backend())
	if err := checkRlimits(plan.Exec.Rlimits); err != nil {
		return exitSetup, fmt.Errorf("limits: %w", err)
	}

	stdio := [3]*os.File{os.Stdin, os.Stdout, os.Stderr}
	closeStdio, err := openStdio(opts, &stdio)
	if err != nil {
		return exitSetup, err
	}
	defer closeStdio()
	relay, err := commandStdio(stdio, plan.IDMap, &plan.Exec)
	if err != nil {
		return exitSetup, err
	}
	in, err := commandStdin(stdio[0], plan.IDMap, &plan.Exec)
	if err != nil {
		return exitSetup, err
	}
	if in != stdio[0] {
		defer in.Close()
		stdio[0] = in
	}
	var tty *ptyRelay
	if term := terminalFDs(stdio); len(term) > 0 {
		if tty, err = newPtyRelay(term); err != nil {
			return exitSetup, err
		}
		plan.Exec.TTY = term[0] == 0
		for _, fd := range term {
			stdio[fd] = tty.slave
		}
	}
	code, err := run(plan, &runConfig{stdio: stdio, tty: tty, limits: l, cg: cg, relay: relay}, rep)
	if err == nil {
		code = judge(rep, l, code)
	}
	return code, err
}

// judge gives a finished run its verdict and returns jail's exit code: the
// command's, or exitLimit for every limit, whatever delivered the end
// (jail's SIGKILL, the OOM killer, RLIMIT_CPU's SIGXCPU).
func judge(rep *Report, l profile.Limits, code int) int {
	rep.verdict(wdReason(rep), time.Duration(l.CPUTime), time.Duration(l.WallTime))
	switch rep.Status {
	case StatusTO, StatusML, StatusOL:
		return exitLimit
	}
	return code
}

// wdReason is the limit jail's own watchdog or the OOM killer ended the
// run for, as run recorded it in rep.Limit.
func wdReason(rep *Report) string {
	r := rep.Limit
	rep.Limit = ""
	if r == "memory" {
		return "" // the verdict reads the OOM count itself
	}
	return r
}

// sandboxID names the sandbox's cgroup: unique among concurrent runs.
func sandboxID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%d-%x", os.Getpid(), b)
}

// enforcement says how each limit asked for is enforced.
// memoryPeakSource says, per backend, where a report's memory.peak comes
// from (enforcement.memory_peak).
var memoryPeakSource = map[limits.Backend]string{
	limits.Cgroup2: "cgroup: memory.peak of the run's cgroup (every process of the sandbox together)",
	limits.Cgroup1: "cgroup: memory.max_usage_in_bytes of the run's cgroup (every process of the sandbox together)",
	limits.None: "rusage: the largest resident set of one of the command's processes (ru_maxrss); " +
		"/proc is read-only, so that clear_refs cannot reset it",
}

func enforcement(l profile.Limits, cg *limits.Cgroup) map[string]string {
	e := map[string]string{"backend": string(cg.Backend())}
	for k, v := range cg.Enforced(limits.Spec{Memory: uint64(l.Memory), Swap: l.Swap, Pids: l.Pids, CPUs: l.CPUs}) {
		e[k] = v
	}
	if cg.Backend() == limits.None {
		if l.Memory > 0 {
			e["memory"] = "rlimit (RLIMIT_AS: address space of each process, not the sandbox's RAM)"
		}
		if l.Pids > 0 {
			e["pids"] = "rlimit (RLIMIT_NPROC: counts every process of the uid; set user.uid to a non-zero id with a sub-uid range to give each sandbox its own)"
		}
		if l.CPUs > 0 {
			e["cpus"] = "none (needs a cgroup)"
		}
	}
	e["memory_peak"] = memoryPeakSource[cg.Backend()]
	if l.CPUTime > 0 {
		if cg.Backend() == limits.None {
			e["cpu_time"] = "rlimit (RLIMIT_CPU per process) and the init's rusage"
		} else {
			e["cpu_time"] = "jail (cgroup CPU usage polled every 10ms)"
		}
	}
	if l.WallTime > 0 {
		e["wall_time"] = "jail (timer)"
	}
	if l.Output > 0 {
		e["output"] = "jail (counted relay)"
	}
	return e
}

// openStdio opens the files the options name for the command's stdio
// (those given, in place of what stdio holds), before the sandbox starts,
// on the host, with the caller's rights, as fs.OpenInput and
// fs.CreateOutput do: nothing a sandbox planted at these paths is followed,
// written through or blocked on. The same path for stdout and stderr is
// one file, as 2>&1 makes it.
func openStdio(opts options, stdio *[3]*os.File) (closeAll func(), err error) {
	var opened []*os.File
	closeAll = func() {
		for _, f := range opened {
			f.Close()
		}
	}
	for i, p := range []string{opts.stdin, opts.stdout, opts.stderr} {
		var f *os.File
		switch {
		case p == "":
			continue
		case i == 0:
			f, err = fs.OpenInput(p)
		case i == 2 && opts.stdout != "" && filepath.Clean(p) == filepath.Clean(opts.stdout):
			stdio[2] = stdio[1]
			continue
		default:
			f, err = fs.CreateOutput(p)
		}
		if err != nil {
			closeAll()
			return func() {}, fmt.Errorf("%s: %w", []string{"stdin", "stdout", "stderr"}[i], err)
		}
		opened = append(opened, f)
		stdio[i] = f
	}
	return closeAll, nil
}

// reportFiles are a run's --report and --meta files, their directories
// opened before the sandbox exists (fs.Output): written after the run
// through those, never through anything the sandbox left at their names.
type reportFiles struct {
	report, meta *fs.Output
	extended     bool
}

// openReports prepares the options' report files. On an error, the result
// still holds those that could be prepared, for an XX report.
func openReports(opts options) (*reportFiles, error) {
	r := &reportFiles{extended: opts.metaExtended}
	var errs []error
	var err error
	if opts.report != "" {
		if r.report, err = fs.PrepareOutput(opts.report); err != nil {
			errs = append(errs, fmt.Errorf("report: %w", err))
		}
	}
	if opts.meta != "" {
		if r.meta, err = fs.PrepareOutput(opts.meta); err != nil {
			errs = append(errs, fmt.Errorf("meta: %w", err))
		}
	}
	return r, errors.Join(errs...)
}

// write writes rep to the report files, each replaced at once by a
// complete new file.
func (r *reportFiles) write(rep *Report) error {
	var errs []error
	if r.report != nil {
		b, err := rep.encodeJSON()
		if err == nil {
			err = r.report.WriteFile(b)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("report: %w", err))
		}
	}
	if r.meta != nil {
		if err := r.meta.WriteFile(rep.encodeMeta(r.extended)); err != nil {
			errs = append(errs, fmt.Errorf("meta: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (r *reportFiles) close() {
	r.report.Close()
	r.meta.Close()
}

// describe words an error for the user; exec failures read like a shell's.
func describe(err error) string {
	var h *hintError
	if errors.As(err, &h) {
		return describe(h.err) + " (" + h.hint + ")"
	}
	var ee *execError
	var se *ipc.StageError
	if errors.As(err, &ee) && errors.As(err, &se) && se.Path != "" {
		why := se.Detail
		if se.Errno != 0 {
			why = se.Unwrap().Error()
		}
		if se.Op == "chdir" {
			return fmt.Sprintf("cannot enter working directory %s: %s (profile key cwd)", se.Path, why)
		}
		return fmt.Sprintf("%s: %s", se.Path, why)
	}
	return err.Error()
}

var (
	errHelp    = errors.New("help")
	errVersion = errors.New("version")
)

// parseArgs reads options up to "--" or the first argument that is not an
// option: everything after it belongs to the command, untouched.
func parseArgs(args []string) (options, error) {
	var o options
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(a, "=")
		set, isValue := valueOptions[name]
		ovr, isOverride := overrideOptions[name]
		if isValue || isOverride {
			if !hasValue {
				if i+1 >= len(args) {
					return o, fmt.Errorf("%s needs a value", name)
				}
				i++
				value = args[i]
			}
			var err error
			if isValue {
				err = set(&o, value)
			} else {
				var ov override
				if ov, err = ovr.parse(value); err == nil {
					o.overrides = append(o.overrides, ov)
				}
			}
			if err != nil {
				return o, fmt.Errorf("%s %s: %w", name, value, err)
			}
			continue
		}
		if _, isFlag := flagOptions[name]; hasValue && (isFlag || slices.Contains(plainOptions, name)) {
			return o, fmt.Errorf("%s takes no value", name)
		}
		if f, ok := flagOptions[name]; ok {
			o.overrides = append(o.overrides, f.apply)
			continue
		}
		switch name {
		case "--":
			o.argv = args[i+1:]
			return o, nil
		case "-h", "--help":
			return o, errHelp
		case "--version":
			return o, errVersion
		case "--plan":
			o.plan = true
		case "-q", "--quiet":
			o.quiet = true
		case "--meta-extended":
			o.metaExtended = true
		default:
			if strings.HasPrefix(a, "-") {
				return o, fmt.Errorf("unknown option %q", a)
			}
			o.argv = args[i:]
			return o, nil
		}
	}
	return o, nil
}
