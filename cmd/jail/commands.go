package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/jail-sandbox/jail/profile"
	"github.com/jail-sandbox/jail/userns"
)

// subcommands are the words jail takes as its first argument instead of a
// command to run (`jail -- check` runs a program called check).
var subcommands = []string{"batch", "check", "clean", "completion", "doctor", "profiles", "setup-cgroup", "version"}

// plainOptions are jail's options without a value.
var plainOptions = []string{"--plan", "-q", "--quiet", "-h", "--help", "--version", "--meta-extended"}

// exitUsage is the status of a command (profiles, completion, doctor,
// setup-cgroup) given arguments it does not take.
const exitUsage = 2

// Exit codes of jail check.
const (
	checkOK      = 0
	checkInvalid = 1
)

// checkMain is `jail check [--profile P] [OPTIONS]`: it loads the profile
// as a run would (extends, variables, the command line's overrides), checks
// everything a run checks before it creates a namespace (bind sources,
// seccomp names, ids, capabilities) and prints the effective profile as
// TOML.
func checkMain(args []string, stdout, stderr io.Writer) int {
	opts, err := parseArgs(args)
	if err == errHelp {
		fmt.Fprint(stdout, "usage: jail check [--profile P] [OPTIONS]\n\nValidate the profile with the options applied and print it as TOML.\nExit status: 0 valid, 1 invalid.\n")
		return checkOK
	}
	if err == nil && len(opts.argv) > 0 {
		err = fmt.Errorf("check runs nothing: unexpected %q", opts.argv[0])
	}
	if err != nil {
		fmt.Fprintf(stderr, "jail check: %v\n", err)
		return checkInvalid
	}
	p, err := effectiveProfile(opts)
	if err != nil {
		fmt.Fprintf(stderr, "jail check: %v\n", err)
		return checkInvalid
	}
	fmt.Fprint(stdout, p.TOML())
	return checkOK
}

// effectiveProfile loads --profile, applies the overrides and runs every
// check of buildPlan.
func effectiveProfile(opts options) (*profile.Profile, error) {
	p, _, _, err := prepare(opts, []string{"true"})
	return p, err
}

// prepare is what a run does before any namespace exists: it loads
// --profile, applies the command line, looks up the caller's sub-ids and
// plans the sandbox for argv.
func prepare(opts options, argv []string) (*profile.Profile, userns.Mapping, *Plan, error) {
	var m userns.Mapping
	p, err := loadProfile(opts.profile)
	if err != nil {
		return nil, m, nil, err
	}
	if err := applyOverrides(p, opts.overrides); err != nil {
		return nil, m, nil, err
	}
	host, err := userns.LookupHost()
	if err != nil {
		return nil, m, nil, err
	}
	m = userns.Build(host)
	plan, err := buildPlan(p, m, argv, os.Environ())
	if err != nil {
		return nil, m, nil, err
	}
	// A quarter of the caller's own limits, read here on the host: inside
	// its namespace the sandbox sees only its own.
	plan.Counts = userns.SandboxCounts(userns.HostCounts)
	return p, m, plan, nil
}

// profilesMain is `jail profiles`: the built-in profiles, one line each.
func profilesMain(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "jail profiles: takes no arguments (show one with: jail check --profile NAME)\n")
		return exitUsage
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, n := range profile.BuiltinNames() {
		fmt.Fprintf(w, "%s\t%s\n", n, profile.Description(n))
	}
	w.Flush()
	return 0
}

// completionMain is `jail completion bash|zsh`: a completion script built
// from the option tables, so it cannot fall behind them.
func completionMain(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] != "bash" && args[0] != "zsh" {
		fmt.Fprintf(stderr, "usage: jail completion bash|zsh\n")
		return exitUsage
	}
	var withValue []string
	for name := range valueOptions {
		withValue = append(withValue, name)
	}
	for name := range overrideOptions {
		withValue = append(withValue, name)
	}
	slices.Sort(withValue)
	plain := slices.Clone(plainOptions)
	for name := range flagOptions {
		plain = append(plain, name)
	}
	slices.Sort(plain)
	r := strings.NewReplacer(
		"@SUBCOMMANDS@", strings.Join(subcommands, " "),
		"@VALUE_OPTS@", strings.Join(withValue, " "),
		"@PLAIN_OPTS@", strings.Join(plain, " "),
		"@PROFILES@", strings.Join(profile.BuiltinNames(), " "),
		"@NETMODES@", strings.Join(profile.NetModes, " "),
		"@VALUE_CASE@", strings.Join(withValue, "|"),
	)
	if args[0] == "bash" {
		r.WriteString(stdout, bashCompletion)
	} else {
		r.WriteString(stdout, zshCompletion)
	}
	return 0
}

// bashCompletion completes subcommands first, option names, the values of
// --profile (built-in names and files), --net and the file options, and
// after "--" or the first non-option, commands and their files.
const bashCompletion = `# bash completion for jail; load with: source <(jail completion bash)
_jail() {
	local cur prev i
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--) _jail_command $((i + 1)); return ;;
		@VALUE_CASE@) ((i++)) ;;
		-*) ;;
		*)
			# A subcommand, or the command to run.
			[ "$i" = 1 ] && [[ " @SUBCOMMANDS@ " == *" ${COMP_WORDS[1]} "* ]] && continue
			_jail_command "$i"
			return
			;;
		esac
	done
	case $prev in
	--profile|-p) COMPREPLY=($(compgen -W "@PROFILES@" -- "$cur") $(compgen -f -- "$cur")); return ;;
	--net) COMPREPLY=($(compgen -W "@NETMODES@" -- "$cur")); return ;;
	--stdin|--stdout|--stderr|--report|--meta|--bind|--ro-bind|--cgroup) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--chdir|--tmpfs) COMPREPLY=($(compgen -d -- "$cur")); return ;;
	@VALUE_CASE@) return ;;
	completion) COMPREPLY=($(compgen -W "bash zsh" -- "$cur")); return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "@VALUE_OPTS@ @PLAIN_OPTS@ --" -- "$cur"))
	elif [ "$COMP_CWORD" = 1 ]; then
		COMPREPLY=($(compgen -W "@SUBCOMMANDS@" -- "$cur") $(compgen -c -- "$cur"))
	else
		COMPREPLY=($(compgen -c -- "$cur"))
	fi
}
# _jail_command completes a command line starting at word $1.
_jail_command() {
	if [ "$COMP_CWORD" -eq "$1" ]; then
		COMPREPLY=($(compgen -c -- "${COMP_WORDS[COMP_CWORD]}"))
	else
		COMPREPLY=($(compgen -f -- "${COMP_WORDS[COMP_CWORD]}"))
	fi
}
complete -F _jail jail
`

// zshCompletion does the same for zsh.
const zshCompletion = `#compdef jail
# zsh completion for jail; load with: source <(jail completion zsh)
_jail() {
	local -a value_opts plain_opts
	value_opts=(@VALUE_OPTS@)
	plain_opts=(@PLAIN_OPTS@)
	local i=2
	while (( i < CURRENT )); do
		case ${words[i]} in
		--) shift $i words; (( CURRENT -= i )); _normal; return ;;
		@VALUE_CASE@) (( i++ )) ;;
		-*) ;;
		*)
			# A subcommand, or the command to run.
			if (( i > 2 )) || [[ " @SUBCOMMANDS@ " != *" ${words[2]} "* ]]; then
				shift $((i - 1)) words; (( CURRENT -= i - 1 )); _normal; return
			fi
			;;
		esac
		(( i++ ))
	done
	case ${words[CURRENT-1]} in
	--profile|-p) _alternative 'profiles:built-in profile:(@PROFILES@)' 'files:profile file:_files'; return ;;
	--net) _values 'network mode' @NETMODES@; return ;;
	--stdin|--stdout|--stderr|--report|--meta|--bind|--ro-bind|--cgroup) _files; return ;;
	--chdir|--tmpfs) _files -/; return ;;
	@VALUE_CASE@) return ;;
	completion) _values 'shell' bash zsh; return ;;
	esac
	if [[ $PREFIX == -* ]]; then
		compadd -- $value_opts $plain_opts --
	elif (( CURRENT == 2 )); then
		_alternative 'subcommands:subcommand:(@SUBCOMMANDS@)' 'commands:command:_command_names -e'
	else
		_command_names -e
	fi
}
compdef _jail jail
`
