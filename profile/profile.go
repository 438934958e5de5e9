// Package profile reads jail's TOML sandbox profiles: it decodes them
// strictly (unknown keys are errors), applies defaults and validates them.
// Every error names the file, the line and the key path, for example
//
//	profile "build.toml": line 7: mount[2].target: must be an absolute path
//
// The package is pure: it parses and checks data and makes no system calls
// beyond reading the file given to Load.
package profile

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Profile is a parsed, defaulted, validated sandbox profile.
type Profile struct {
	// Extends names the profile this one builds on: a built-in name or a
	// path (relative to this file's directory). See Load for the merge rules.
	Extends     string  `toml:"extends" json:"extends,omitempty"`
	Name        string  `toml:"name" json:"name"`               // informational
	Description string  `toml:"description" json:"description"` // informational
	Hostname    string  `toml:"hostname" json:"hostname"`       // default "jail"; 1-64 chars of [A-Za-z0-9.-]
	Cwd         string  `toml:"cwd" json:"cwd"`                 // working dir inside the sandbox; default "/"; absolute
	User        User    `toml:"user" json:"user"`
	Env         Env     `toml:"env" json:"env"`
	Mounts      []Mount `toml:"mount" json:"mounts"` // [[mount]] entries, in order
	Seccomp     Seccomp `toml:"seccomp" json:"seccomp"`
	Limits      Limits  `toml:"limits" json:"limits"`
	Time        Time    `toml:"time" json:"time"`
	Network     Network `toml:"network" json:"network"`
	File        string  `toml:"-" json:"-"` // file name given to Parse, for messages

	// ProtectVCS keeps the version-control metadata that writable binds
	// expose (.git, .hg and what a .git file names) read-only, so that a
	// run cannot plant configuration that git or hg on the host would
	// execute: package fs turns it into read-only binds (fs.Compile).
	ProtectVCS bool `toml:"protect_vcs" json:"protect_vcs,omitempty"`
	// Files are the files the profile was read from, as the loader read
	// them: the one given to Load, then each one it extends (built-in
	// profiles are no files). A run refuses a profile that it could
	// change itself, one inside a bind it makes writable.
	Files []SourceFile `toml:"-" json:"-"`

	lines lineIndex // key path -> line, from Parse; nil for a profile built in Go
}

// User is the identity the command runs as inside the sandbox.
type User struct {
	UID uint32 `toml:"uid" json:"uid"` // default 0
	GID uint32 `toml:"gid" json:"gid"` // default 0
	// KeepCaps are capabilities (e.g. "CAP_NET_BIND_SERVICE") the command
	// keeps, in its own namespaces only; every other one is dropped.
	KeepCaps []string `toml:"keep_caps" json:"keep_caps,omitempty"`
}

// Env describes the environment of the command. Nothing of the caller's
// environment is passed unless listed in Keep.
type Env struct {
	// Keep names the caller's variables passed through (when set); a name
	// ending in * is a prefix ("GITHUB_*").
	Keep []string          `toml:"keep" json:"keep"`
	Set  map[string]string `toml:"set" json:"set"` // variables set explicitly (win over Keep)
	// Unset names variables the command never gets from Keep, and removes
	// them from a parent profile's (extends) Keep and Set.
	Unset []string `toml:"unset" json:"unset,omitempty"`
}

// Time is the [time] section: offsets of the sandbox's time namespace.
// The command sees CLOCK_MONOTONIC (and the clocks based on it) and
// CLOCK_BOOTTIME (and /proc/uptime) moved by these amounts; the wall clock
// (CLOCK_REALTIME) cannot be moved by a time namespace.
type Time struct {
	Monotonic Offset `toml:"monotonic" json:"monotonic,omitempty"`
	Boottime  Offset `toml:"boottime" json:"boottime,omitempty"`
}

// Network is the [network] section.
type Network struct {
	// Mode is "none" (a new network namespace with only lo up; the
	// default), "host" (the host's network namespace) or "user" (a new
	// namespace with outbound access through pasta or slirp4netns).
	Mode string `toml:"mode" json:"mode"`
}

// The network modes.
const (
	NetNone = "none"
	NetHost = "host"
	NetUser = "user"
)

// NetModes lists the network modes.
var NetModes = []string{NetNone, NetHost, NetUser}

// Seccomp is the [seccomp] section: a named base policy and rules on top.
// The names (syscalls, actions, errnos, architectures) are checked by
// package seccomp when jail compiles the filter, with this file's lines.
type Seccomp struct {
	Base          string        `toml:"base" json:"base"`                               // "default" (the default), "judge" or "none"
	DefaultAction string        `toml:"default_action" json:"default_action,omitempty"` // "" keeps the base's
	DefaultErrno  string        `toml:"default_errno" json:"default_errno,omitempty"`
	AllowArch     []string      `toml:"allow_arch" json:"allow_arch,omitempty"` // ABIs allowed besides the native one
	Rules         []SeccompRule `toml:"rule" json:"rules,omitempty"`            // [[seccomp.rule]]
}

// SeccompRule is one [[seccomp.rule]]: what happens on these syscalls.
type SeccompRule struct {
	Syscalls []string     `toml:"syscalls" json:"syscalls"`
	Action   string       `toml:"action" json:"action"`
	Errno    string       `toml:"errno" json:"errno,omitempty"`
	Args     []SeccompArg `toml:"args" json:"args,omitempty"`
	Line     int          `toml:"-" json:"-"`
	File     string       `toml:"-" json:"-"` // file of the rule (a parent's, with extends)

	lines lineIndex // of File
	seg   string    // "rule[N]" in File
}

// LineOf returns the line of one of the rule's keys ("syscalls", "args")
// in the rule's own file, or the line of its header.
func (r *SeccompRule) LineOf(key string) int {
	if l := r.lines.find("seccomp", r.seg, key); l != 0 {
		return l
	}
	return r.Line
}

// SeccompArg is a condition on one argument: {index, op, value, mask}.
type SeccompArg struct {
	Index uint   `toml:"index" json:"index"`
	Op    string `toml:"op" json:"op"`
	Value uint64 `toml:"value" json:"value"`
	Mask  uint64 `toml:"mask" json:"mask,omitempty"`
}

// Limits is the [limits] section. Zero means no limit. Memory, Pids and
// CPUs are cgroup limits (with an rlimit fallback where one exists, unless
// RequireCgroup); the times and the output size are enforced by jail while
// the command runs; the rest are rlimits of the command.
type Limits struct {
	Memory        Size     `toml:"memory" json:"memory,omitempty"`       // RAM of the whole sandbox
	Swap          bool     `toml:"swap" json:"swap,omitempty"`           // false: swap is counted and off
	Pids          uint64   `toml:"pids" json:"pids,omitempty"`           // processes and threads
	CPUs          float64  `toml:"cpus" json:"cpus,omitempty"`           // CPU bandwidth, in CPUs
	CPUTime       Duration `toml:"cpu_time" json:"cpu_time,omitempty"`   // CPU time summed over the sandbox
	WallTime      Duration `toml:"wall_time" json:"wall_time,omitempty"` // from the command's start
	ExtraTime     Duration `toml:"extra_time" json:"extra_time,omitempty"`
	Output        Size     `toml:"output" json:"output,omitempty"`         // stdout+stderr bytes
	FileSize      Size     `toml:"file_size" json:"file_size,omitempty"`   // RLIMIT_FSIZE
	OpenFiles     uint64   `toml:"open_files" json:"open_files,omitempty"` // RLIMIT_NOFILE
	Stack         Size     `toml:"stack" json:"stack,omitempty"`           // RLIMIT_STACK
	RequireCgroup bool     `toml:"require_cgroup" json:"require_cgroup,omitempty"`
	Cgroup        string   `toml:"cgroup" json:"cgroup,omitempty"` // delegated cgroup directory to use; "none": no cgroup
}

// DefaultSeccompBase is the policy of a profile without [seccomp].
const DefaultSeccompBase = "default"

var (
	seccompKeys     = map[string]bool{"base": true, "default_action": true, "default_errno": true, "allow_arch": true, "rule": true}
	seccompRuleKeys = map[string]bool{"syscalls": true, "action": true, "errno": true, "args": true}
	seccompArgKeys  = map[string]bool{"index": true, "op": true, "value": true, "mask": true}
)

// LineOf returns the line of a key path such as "seccomp.rule[1].syscalls"
// (or of its nearest enclosing table), 0 when unknown.
func (p *Profile) LineOf(path string) int {
	return p.lines.find(strings.Split(path, ".")...)
}

// MountType says what a Mount puts at its Target.
type MountType string

// The mount types. Fields that do not apply to a type are validation errors.
const (
	Bind    MountType = "bind"    // bind a host path (Source) at Target; read-only unless RW
	Tmpfs   MountType = "tmpfs"   // fresh tmpfs at Target, always writable, Size cap (default 64MiB), Mode default 0o755
	Dir     MountType = "dir"     // an empty directory at Target (Mode default 0o755)
	Symlink MountType = "symlink" // a symlink at Target whose text is Source
	File    MountType = "file"    // a small regular file at Target with Content (Mode default 0o644), max 1 MiB
)

// Defaults and limits applied by Parse and checked by Validate.
const (
	DefaultHostname  = "jail"
	DefaultCwd       = "/"
	DefaultTmpfsSize = Size(64 << 20)
	MaxFileContent   = 1 << 20
)

var mountTypes = []MountType{Bind, Tmpfs, Dir, Symlink, File}

// Mount is one [[mount]] entry.
type Mount struct {
	Type     MountType `toml:"type" json:"type"`
	Source   string    `toml:"source" json:"source,omitempty"`     // bind: host path; symlink: link text
	Target   string    `toml:"target" json:"target"`               // absolute, clean path inside the sandbox
	RW       bool      `toml:"rw" json:"rw,omitempty"`             // bind only
	Optional bool      `toml:"optional" json:"optional,omitempty"` // bind: skip silently if Source is missing; tmpfs: see LeftOut
	Size     Size      `toml:"size" json:"size,omitempty"`         // tmpfs only
	Mode     uint32    `toml:"mode" json:"mode,omitempty"`         // tmpfs, dir, file; 0 in the file means the type's default
	Content  string    `toml:"content" json:"content,omitempty"`   // file only
	Line     int       `toml:"-" json:"-"`                         // line of the [[mount]] header in the file (0 if unknown)
	File     string    `toml:"-" json:"-"`                         // file of the entry (a parent's, with extends)
}

// LeftOut reports whether the i-th mount gives way, and is left out of the
// sandbox: an optional tmpfs does when its target is "/" or when another
// entry has the same target and is not an optional tmpfs, or is one that
// comes first. A profile can so name a tmpfs by a variable (HOME) that may
// turn out to be "/" or the target of another entry (the current
// directory, /tmp), which then wins.
func (p *Profile) LeftOut(i int) bool {
	m := &p.Mounts[i]
	if m.Type != Tmpfs || !m.Optional {
		return false
	}
	if m.Target == "/" {
		return true
	}
	for j, o := range p.Mounts {
		if j != i && o.Target == m.Target && (j < i || o.Type != Tmpfs || !o.Optional) {
			return true
		}
	}
	return false
}

// mountKeys are the keys a [[mount]] table may hold.
var mountKeys = map[string]bool{
	"type": true, "source": true, "target": true, "rw": true,
	"optional": true, "size": true, "mode": true, "content": true,
}

// raw is the first decoding stage: every section stays a toml.Primitive so
// that a type error in one section does not hide those of the others.
type raw struct {
	Extends     toml.Primitive `toml:"extends"`
	Name        toml.Primitive `toml:"name"`
	Description toml.Primitive `toml:"description"`
	Hostname    toml.Primitive `toml:"hostname"`
	Cwd         toml.Primitive `toml:"cwd"`
	ProtectVCS  toml.Primitive `toml:"protect_vcs"`
	User        toml.Primitive `toml:"user"`
	Env         toml.Primitive `toml:"env"`
	Mount       toml.Primitive `toml:"mount"`
	Seccomp     toml.Primitive `toml:"seccomp"`
	Limits      toml.Primitive `toml:"limits"`
	Time        toml.Primitive `toml:"time"`
	Network     toml.Primitive `toml:"network"`
}

// Load reads the profile at path (following extends, expanding variables
// from HostVars); messages name it as given.
func Load(path string) (*Profile, error) {
	if IsBuiltinRef(path) {
		path = "./" + path
	}
	return Loader{Vars: HostVars()}.Load(path)
}

// Default returns the profile embedded from profiles/default.toml. It panics
// only if that file is broken, which a test rules out.
func Default() *Profile {
	p, err := Loader{}.Load("default")
	if err != nil {
		panic("embedded " + err.Error())
	}
	return p
}

// Parse decodes a profile strictly, applies the defaults, follows extends
// and validates it, with variables from HostVars. file is used in messages
// and to find a relative extends. The error is an errors.Join of *Error.
func Parse(r io.Reader, file string) (*Profile, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read profile %q: %w", file, err)
	}
	return Loader{Vars: HostVars()}.Parse(b, file)
}

func syntaxError(file string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return &Error{File: file, Line: pe.Position.Line, Msg: "syntax error: " + pe.Message}
	}
	return &Error{File: file, Msg: "syntax error: " + err.Error()}
}

// decoder is the second stage: it decodes each section into its typed field
// and collects type errors and unknown keys.
type decoder struct {
	md    *toml.MetaData
	lines lineIndex
	file  string
	errs  []error
}

func (d *decoder) errorf(line int, key, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) decode(rw *raw) *Profile {
	p := &Profile{File: d.file, lines: d.lines}
	failed := map[string]bool{} // sections whose decoding stopped early
	for _, s := range []struct {
		name string
		prim toml.Primitive
		dst  any
	}{
		{"extends", rw.Extends, &p.Extends},
		{"name", rw.Name, &p.Name},
		{"description", rw.Description, &p.Description},
		{"hostname", rw.Hostname, &p.Hostname},
		{"cwd", rw.Cwd, &p.Cwd},
		{"protect_vcs", rw.ProtectVCS, &p.ProtectVCS},
		{"user", rw.User, &p.User},
		{"env", rw.Env, &p.Env},
		{"limits", rw.Limits, &p.Limits},
		{"time", rw.Time, &p.Time},
		{"network", rw.Network, &p.Network},
	} {
		if !d.md.IsDefined(s.name) {
			continue
		}
		if err := d.md.PrimitiveDecode(s.prim, s.dst); err != nil {
			failed[s.name] = true
			d.typeError(err, "", "")
		}
	}
	if d.md.IsDefined("mount") {
		p.Mounts = d.decodeMounts(rw.Mount)
	}
	if d.md.IsDefined("seccomp") {
		p.Seccomp = d.decodeSeccomp(rw.Seccomp)
	}

	// Unknown keys outside [[mount]] (those are checked per entry). Only
	// the outermost unknown key is reported: [extra] implies extra.*.
	reported := map[string]bool{}
	for _, k := range d.md.Undecoded() {
		if k[0] == "mount" || k[0] == "seccomp" || failed[k[0]] {
			continue
		}
		path := make([]string, len(k))
		for i, seg := range k {
			path[i] = keySeg(seg)
		}
		name := strings.Join(path, ".")
		reported[name] = true
		if underReported(reported, path) {
			continue
		}
		d.errorf(d.lines.find(path...), name, "unknown key")
	}
	return p
}

// underReported reports whether a proper prefix of path is in reported.
func underReported(reported map[string]bool, path []string) bool {
	for n := 1; n < len(path); n++ {
		if reported[strings.Join(path[:n], ".")] {
			return true
		}
	}
	return false
}

// decodeMounts decodes the [[mount]] entries one by one, so errors carry
// the index of their entry.
func (d *decoder) decodeMounts(prim toml.Primitive) []Mount {
	var elems []toml.Primitive
	if err := d.md.PrimitiveDecode(prim, &elems); err != nil {
		d.errorf(d.lines.find("mount"), "mount", "must be an array of tables ([[mount]])")
		return nil
	}
	mounts := make([]Mount, len(elems))
	for i, e := range elems {
		seg := mountSeg(i)
		mounts[i].Line, mounts[i].File = d.lines.find(seg), d.file
		var keys map[string]any
		if err := d.md.PrimitiveDecode(e, &keys); err != nil {
			d.errorf(mounts[i].Line, seg, "must be a table")
			continue
		}
		if err := d.md.PrimitiveDecode(e, &mounts[i]); err != nil {
			d.typeError(err, "mount", seg)
		}
		var unknown []string
		for k := range keys {
			if !mountKeys[k] {
				unknown = append(unknown, k)
			}
		}
		sort.Slice(unknown, func(a, b int) bool {
			la, lb := d.lines.find(seg, keySeg(unknown[a])), d.lines.find(seg, keySeg(unknown[b]))
			return la < lb || la == lb && unknown[a] < unknown[b]
		})
		for _, k := range unknown {
			d.errorf(d.lines.find(seg, keySeg(k)), seg+"."+keySeg(k), "unknown key")
		}
	}
	return mounts
}

// decodeSeccomp decodes [seccomp] with its [[seccomp.rule]] entries one by
// one, so that errors carry the rule's index.
func (d *decoder) decodeSeccomp(prim toml.Primitive) Seccomp {
	var sc Seccomp
	var keys map[string]toml.Primitive
	if err := d.md.PrimitiveDecode(prim, &keys); err != nil {
		d.errorf(d.lines.find("seccomp"), "seccomp", "must be a table")
		return sc
	}
	d.unknownKeys(keys, seccompKeys, "seccomp")
	for k, dst := range map[string]any{"base": &sc.Base, "default_action": &sc.DefaultAction, "default_errno": &sc.DefaultErrno, "allow_arch": &sc.AllowArch} {
		if v, ok := keys[k]; ok {
			if err := d.md.PrimitiveDecode(v, dst); err != nil {
				d.errorf(d.lines.find("seccomp", k), "seccomp."+k, "%s", strings.TrimPrefix(err.Error(), "toml: "))
			}
		}
	}
	v, ok := keys["rule"]
	if !ok {
		return sc
	}
	var elems []toml.Primitive
	if err := d.md.PrimitiveDecode(v, &elems); err != nil {
		d.errorf(d.lines.find("seccomp", "rule"), "seccomp.rule", "must be an array of tables ([[seccomp.rule]])")
		return sc
	}
	sc.Rules = make([]SeccompRule, len(elems))
	for i, e := range elems {
		seg := "rule[" + strconv.Itoa(i) + "]"
		r := &sc.Rules[i]
		r.Line, r.File, r.lines, r.seg = d.lines.find("seccomp", seg), d.file, d.lines, seg
		var rk map[string]toml.Primitive
		if err := d.md.PrimitiveDecode(e, &rk); err != nil {
			d.errorf(r.Line, "seccomp."+seg, "must be a table")
			continue
		}
		d.unknownKeys(rk, seccompRuleKeys, "seccomp."+seg)
		if err := d.md.PrimitiveDecode(e, r); err != nil {
			d.typeError(err, "seccomp.rule", "seccomp."+seg)
			continue
		}
		if a, ok := rk["args"]; ok {
			var args []map[string]any
			if err := d.md.PrimitiveDecode(a, &args); err == nil {
				for j, arg := range args {
					keys := make(map[string]toml.Primitive, len(arg))
					for k := range arg {
						keys[k] = toml.Primitive{}
					}
					d.unknownKeys(keys, seccompArgKeys, "seccomp."+seg+".args["+strconv.Itoa(j)+"]")
				}
			}
		}
	}
	return sc
}

// unknownKeys reports the keys of a table that are not in allowed, in
// line order, under the key path prefix.
func (d *decoder) unknownKeys(keys map[string]toml.Primitive, allowed map[string]bool, prefix string) {
	var unknown []string
	for k := range keys {
		if !allowed[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		path := append(strings.Split(prefix, "."), keySeg(k))
		d.errorf(d.lines.find(path...), prefix+"."+keySeg(k), "unknown key")
	}
}

// lastKeyRE takes apart the plain errors of BurntSushi/toml's decoder, like
// `toml: line 2 (last key "user.uid"): incompatible types: ...`.
var lastKeyRE = regexp.MustCompile(`^toml: (?:line \d+ )?\(last key "((?:[^"\\]|\\.)*)"\): (.*)$`)

// typeError turns an error of PrimitiveDecode into an *Error. The library
// names the key without array indices ("mount.size"), so in a [[mount]]
// entry the leading from component is replaced by to ("mount[1]"). The
// line comes from our own index: the library's is the last occurrence of
// the key in the file, not necessarily the one that failed.
func (d *decoder) typeError(err error, from, to string) {
	var key, msg string
	var pe toml.ParseError
	if errors.As(err, &pe) {
		key, msg = pe.LastKey, pe.Message
	} else if m := lastKeyRE.FindStringSubmatch(err.Error()); m != nil {
		key, msg = m[1], m[2]
		if u, err := strconv.Unquote(`"` + m[1] + `"`); err == nil {
			key = u
		}
	} else {
		key, msg = to, strings.TrimPrefix(err.Error(), "toml: ")
	}
	if from != "" && (key == from || strings.HasPrefix(key, from+".")) {
		key = to + strings.TrimPrefix(key, from)
	}
	path := strings.Split(key, ".")
	d.errorf(d.lines.find(path...), key, "%s", msg)
}

// setDefaults fills in what the file left out.
func (p *Profile) setDefaults() {
	if p.Hostname == "" {
		p.Hostname = DefaultHostname
	}
	if p.Cwd == "" {
		p.Cwd = DefaultCwd
	}
	if p.Env.Keep == nil {
		p.Env.Keep = []string{}
	}
	if p.Env.Set == nil {
		p.Env.Set = map[string]string{}
	}
	if p.Mounts == nil {
		p.Mounts = []Mount{}
	}
	if p.Seccomp.Base == "" {
		p.Seccomp.Base = DefaultSeccompBase
	}
	if p.Network.Mode == "" {
		p.Network.Mode = NetNone
	}
	for i := range p.Mounts {
		m := &p.Mounts[i]
		switch m.Type {
		case Tmpfs:
			if m.Size == 0 {
				m.Size = DefaultTmpfsSize
			}
			if m.Mode == 0 {
				m.Mode = 0o755
			}
		case Dir:
			if m.Mode == 0 {
				m.Mode = 0o755
			}
		case File:
			if m.Mode == 0 {
				m.Mode = 0o644
			}
		}
	}
}
