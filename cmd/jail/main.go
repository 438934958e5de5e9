// Command jail runs a command in a rootless sandbox described by a TOML
// profile: its own user namespace (ids from /etc/subuid via newuidmap), all
// eight namespaces, a read-only root filesystem and a PID 1 init.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jail-sandbox/jail/cmd/jail/internal/ipc"
	"github.com/jail-sandbox/jail/userns"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: jail [OPTIONS] [--] COMMAND [ARG...]

Run COMMAND in a rootless sandbox: new user, mount, PID, network, IPC, UTS,
cgroup and time namespaces, a read-only root built from the profile, a
private /tmp, no network.

Options:
  -p, --profile P   profile file (a path) or built-in profile name;
                    default: the embedded default profile
      --plan        print the sandbox plan as JSON and exit (dry run)
  -q, --quiet       do not print warnings
  -h, --help        this help
      --version     print the version

Exit status: the command's own status, 128+N if signal N killed it,
125 if jail could not set up the sandbox, 126 if the command is not
executable, 127 if it was not found.
`

type options struct {
	profile string
	plan    bool
	quiet   bool
	argv    []string
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
		case stage3Arg:
			os.Exit(stage3())
		}
	}
	os.Exit(jailMain(os.Args[1:], os.Stdout, os.Stderr))
}

func jailMain(args []string, stdout, stderr io.Writer) int {
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
	p, err := loadProfile(opts.profile)
	if err != nil {
		fmt.Fprintf(stderr, "jail: %v\n", err)
		return exitSetup
	}
	host, err := userns.LookupHost()
	if err != nil {
		fmt.Fprintf(stderr, "jail: %v\n", err)
		return exitSetup
	}
	mapping := userns.Build(host)
	plan, err := buildPlan(p, mapping, opts.argv, os.Environ())
	if err != nil {
		fmt.Fprintf(stderr, "jail: %v\n", err)
		return exitSetup
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
	stdio := [3]*os.File{os.Stdin, os.Stdout, os.Stderr}
	var tty *ptyRelay
	if term := terminalFDs(); len(term) > 0 {
		if tty, err = newPtyRelay(term); err != nil {
			fmt.Fprintf(stderr, "jail: %v\n", err)
			return exitSetup
		}
		plan.Exec.TTY = isTerminal(0)
		for _, fd := range term {
			stdio[fd] = tty.slave
		}
	}
	code, err := run(plan, stdio, tty)
	if err != nil {
		fmt.Fprintf(stderr, "jail: %s\n", describe(err))
	}
	return code
}

// describe words an error for the user; exec failures read like a shell's.
func describe(err error) string {
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
		case "-p", "--profile":
			if !hasValue {
				if i+1 >= len(args) {
					return o, fmt.Errorf("%s needs a value", name)
				}
				i++
				value = args[i]
			}
			o.profile = value
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
