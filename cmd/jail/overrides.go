package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/jail-sandbox/jail/profile"
)

// An override is a command-line option that changes the profile. It is
// checked when the command line is read and applied, in command-line
// order, to the loaded profile: a flag beats the profile.
type override func(*profile.Profile)

// overrideOptions are the options that change the profile, with the
// profile key each one sets (docs/cli.md lists them; a test keeps it true).
var overrideOptions = map[string]struct {
	key   string
	parse func(v string) (override, error)
}{
	"--bind":        {"mount (type bind, rw)", bindOpt(true)},
	"--ro-bind":     {"mount (type bind)", bindOpt(false)},
	"--tmpfs":       {"mount (type tmpfs)", tmpfsOpt},
	"--chdir":       {"cwd", pathOpt(func(p *profile.Profile, v string) { p.Cwd = v })},
	"--hostname":    {"hostname", stringOpt(func(p *profile.Profile, v string) { p.Hostname = v })},
	"--setenv":      {"env.set", setenvOpt},
	"--unsetenv":    {"env.unset", envNameOpt(unsetenv)},
	"--keep-env":    {"env.keep", envNameOpt(keepenv)},
	"--net":         {"network.mode", netOpt},
	"--time-offset": {"time.monotonic, time.boottime", timeOffsetOpt},
	"--uid":         {"user.uid", idOpt(func(p *profile.Profile, n uint32) { p.User.UID = n })},
	"--gid":         {"user.gid", idOpt(func(p *profile.Profile, n uint32) { p.User.GID = n })},
	"--cgroup":      {"limits.cgroup", limitOpt(func(l *profile.Limits, v string) error { l.Cgroup = v; return nil })},
	"--memory":      {"limits.memory", sizeOpt(func(l *profile.Limits) *profile.Size { return &l.Memory })},
	"--output":      {"limits.output", sizeOpt(func(l *profile.Limits) *profile.Size { return &l.Output })},
	"--file-size":   {"limits.file_size", sizeOpt(func(l *profile.Limits) *profile.Size { return &l.FileSize })},
	"--stack":       {"limits.stack", sizeOpt(func(l *profile.Limits) *profile.Size { return &l.Stack })},
	"--cpu-time":    {"limits.cpu_time", durationOpt(func(l *profile.Limits) *profile.Duration { return &l.CPUTime })},
	"--wall-time":   {"limits.wall_time", durationOpt(func(l *profile.Limits) *profile.Duration { return &l.WallTime })},
	"--extra-time":  {"limits.extra_time", durationOpt(func(l *profile.Limits) *profile.Duration { return &l.ExtraTime })},
	"--pids":        {"limits.pids", countOpt(func(l *profile.Limits) *uint64 { return &l.Pids })},
	"--open-files":  {"limits.open_files", countOpt(func(l *profile.Limits) *uint64 { return &l.OpenFiles })},
	"--cpus": {"limits.cpus", limitOpt(func(l *profile.Limits, v string) error {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("want a number of CPUs like 1 or 0.5 (0: no limit), got %q", v)
		}
		l.CPUs = n
		return nil
	})},
}

// flagOptions are the overrides that take no value.
var flagOptions = map[string]struct {
	key   string
	apply override
}{
	"--require-cgroup": {"limits.require_cgroup", func(p *profile.Profile) { p.Limits.RequireCgroup = true }},
}

// applyOverrides applies the command line to p and checks the result, so
// that a flag's bad value is named as the flag's.
func applyOverrides(p *profile.Profile, ovs []override) error {
	if len(ovs) == 0 {
		return nil
	}
	for _, ov := range ovs {
		ov(p)
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("the profile with the command-line options: %w", err)
	}
	return nil
}

// commandLine is the File of a mount that an option added.
const commandLine = "command line"

// setMount replaces the profile's mount at the same target, in place, or
// adds m: the rule extends follows too.
func setMount(p *profile.Profile, m profile.Mount) {
	m.File = commandLine
	if i := slices.IndexFunc(p.Mounts, func(pm profile.Mount) bool { return pm.Target == m.Target }); i >= 0 {
		p.Mounts[i] = m
		return
	}
	p.Mounts = append(p.Mounts, m)
}

// bindOpt reads SRC[:DST]: a relative SRC is taken from the working
// directory; DST defaults to SRC's absolute path.
func bindOpt(rw bool) func(string) (override, error) {
	return func(v string) (override, error) {
		src, dst, _ := strings.Cut(v, ":")
		if src == "" {
			return nil, fmt.Errorf("want SRC[:DST], got %q", v)
		}
		abs, err := filepath.Abs(src)
		if err != nil {
			return nil, err
		}
		if dst == "" {
			dst = abs
		}
		if !filepath.IsAbs(dst) {
			return nil, fmt.Errorf("the target must be an absolute path, not %q", dst)
		}
		m := profile.Mount{Type: profile.Bind, Source: abs, Target: filepath.Clean(dst), RW: rw}
		return func(p *profile.Profile) { setMount(p, m) }, nil
	}
}

// tmpfsOpt reads DST[:SIZE].
func tmpfsOpt(v string) (override, error) {
	dst, size, _ := strings.Cut(v, ":")
	if !filepath.IsAbs(dst) {
		return nil, fmt.Errorf("want an absolute DST[:SIZE], got %q", v)
	}
	m := profile.Mount{Type: profile.Tmpfs, Target: filepath.Clean(dst), Size: profile.DefaultTmpfsSize, Mode: 0o755}
	if size != "" {
		n, err := profile.ParseSize(size)
		if err != nil {
			return nil, err
		}
		m.Size = n
	}
	return func(p *profile.Profile) { setMount(p, m) }, nil
}

func stringOpt(set func(*profile.Profile, string)) func(string) (override, error) {
	return func(v string) (override, error) {
		return func(p *profile.Profile) { set(p, v) }, nil
	}
}

func pathOpt(set func(*profile.Profile, string)) func(string) (override, error) {
	return func(v string) (override, error) {
		if !filepath.IsAbs(v) {
			return nil, fmt.Errorf("want an absolute path inside the sandbox, got %q", v)
		}
		v = filepath.Clean(v)
		return func(p *profile.Profile) { set(p, v) }, nil
	}
}

func setenvOpt(v string) (override, error) {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return nil, fmt.Errorf("want NAME=VALUE, got %q", v)
	}
	return func(p *profile.Profile) {
		p.Env.Set[k] = val
		p.Env.Unset = slices.DeleteFunc(p.Env.Unset, func(n string) bool { return n == k })
	}, nil
}

func unsetenv(p *profile.Profile, k string) {
	delete(p.Env.Set, k)
	p.Env.Keep = slices.DeleteFunc(p.Env.Keep, func(n string) bool { return n == k })
	if !slices.Contains(p.Env.Unset, k) {
		p.Env.Unset = append(p.Env.Unset, k)
	}
}

func keepenv(p *profile.Profile, k string) {
	if !slices.Contains(p.Env.Keep, k) {
		p.Env.Keep = append(p.Env.Keep, k)
	}
	p.Env.Unset = slices.DeleteFunc(p.Env.Unset, func(n string) bool { return n == k })
}

func envNameOpt(apply func(*profile.Profile, string)) func(string) (override, error) {
	return func(v string) (override, error) {
		if v == "" || strings.ContainsAny(v, "=\x00") {
			return nil, fmt.Errorf("want a variable name, got %q", v)
		}
		return func(p *profile.Profile) { apply(p, v) }, nil
	}
}

func netOpt(v string) (override, error) {
	if !slices.Contains(profile.NetModes, v) {
		return nil, fmt.Errorf("want one of %s, got %q", strings.Join(profile.NetModes, ", "), v)
	}
	return func(p *profile.Profile) { p.Network.Mode = v }, nil
}

// timeOffsetOpt reads [monotonic=|boottime=]OFFSET; without a clock name
// the offset applies to both clocks.
func timeOffsetOpt(v string) (override, error) {
	clock, off, named := strings.Cut(v, "=")
	if !named {
		clock, off = "", v
	}
	o, err := profile.ParseOffset(off)
	if err != nil {
		return nil, err
	}

	switch clock {
	case "":
		return func(p *profile.Profile) { p.Time.Monotonic, p.Time.Boottime = o, o }, nil
	case "monotonic":
		return func(p *profile.Profile) { p.Time.Monotonic = o }, nil
	case "boottime":
		return func(p *profile.Profile) { p.Time.Boottime = o }, nil
	}
	return nil, fmt.Errorf("unknown clock %q: want monotonic=OFFSET, boottime=OFFSET or OFFSET for both", clock)
}

func idOpt(set func(*profile.Profile, uint32)) func(string) (override, error) {
	return func(v string) (override, error) {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("want a numeric id, got %q", v)
		}
		return func(p *profile.Profile) { set(p, uint32(n)) }, nil
	}
}

func limitOpt(set func(*profile.Limits, string) error) func(string) (override, error) {
	return func(v string) (override, error) {
		var l profile.Limits
		if err := set(&l, v); err != nil { // check now, apply later
			return nil, err
		}
		return func(p *profile.Profile) { _ = set(&p.Limits, v) }, nil
	}
}

func sizeOpt(field func(*profile.Limits) *profile.Size) func(string) (override, error) {
	return limitOpt(func(l *profile.Limits, v string) error {
		n, err := profile.ParseSize(v)
		*field(l) = n
		return err
	})
}

func durationOpt(field func(*profile.Limits) *profile.Duration) func(string) (override, error) {
	return limitOpt(func(l *profile.Limits, v string) error {
		// A bare number is seconds, as in the profile.
		if secs, err := strconv.ParseFloat(v, 64); err == nil {
			return (*field(l)).UnmarshalTOML(secs)
		}
		d, err := profile.ParseDuration(v)
		*field(l) = d
		return err
	})
}

func countOpt(field func(*profile.Limits) *uint64) func(string) (override, error) {
	return limitOpt(func(l *profile.Limits, v string) error {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", v)
		}
		*field(l) = n
		return nil
	})
}
