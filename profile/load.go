package profile

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/jail-sandbox/jail/profiles"
)

// A Loader reads profiles, following extends and expanding ${NAME} with
// Vars.
//
// Inheritance: a profile with extends = "NAME" (a built-in profile) or
// extends = "PATH" (a file; a relative path is taken from the directory of
// the file that names it) starts from that profile and changes it, key by
// key, with what it sets itself:
//
//   - every scalar it sets (name, hostname, cwd, user.uid, limits.memory,
//     seccomp.base, time.boottime, network.mode, ...) replaces the parent's;
//   - user.keep_caps replaces the parent's list (capabilities are never
//     gained by accident);
//   - env.keep and seccomp.allow_arch append to the parent's lists;
//     env.set adds to the parent's table, its own values winning;
//     env.unset removes names from the parent's keep and set, and adds
//     them to the parent's unset (so a keep pattern of the parent, like
//     "CI_*", does not pass them); a name the child keeps or sets is taken
//     off the parent's unset;
//   - a [[mount]] whose target is one of the parent's replaces that entry,
//     in place; the others are added after the parent's;
//   - [[seccomp.rule]] entries are added after the parent's.
//
// Variables are expanded in each file before merging, so ${PWD} always
// means the caller's directory, whichever file names it.
type Loader struct {
	Vars Vars
	// ReadFile reads a profile file (the path given to Load, or one an
	// extends names) and names what it read (SourceFile.Read). Nil: the file at
	// the path, opened without blocking, must be a regular file (readFile);
	// jail's (fs.ReadProfile) follows no name twice and accepts a pipe the
	// caller gave.
	ReadFile func(path string) ([]byte, []FileID, error)
}

// maxDepth bounds a chain of extends.
const maxDepth = 16

// IsBuiltinRef reports whether a --profile or extends value names a
// built-in profile rather than a file: a bare name, with no '/' and no
// ".toml" ending. (Write ./name to read a file called name.)
func IsBuiltinRef(ref string) bool {
	return ref != "" && !strings.ContainsRune(ref, '/') && !strings.HasSuffix(ref, ".toml")
}

// Load reads a profile given by a built-in name or a path.
func (l Loader) Load(ref string) (*Profile, error) {
	return l.load(ref, nil)
}

// Parse reads a profile from src; file names it in messages and anchors
// relative extends paths.
func (l Loader) Parse(src []byte, file string) (*Profile, error) {
	return l.parse(src, file, []string{file})
}

func (l Loader) load(ref string, chain []string) (*Profile, error) {
	var (
		src  []byte
		file string
		read []FileID
		err  error
	)
	if IsBuiltinRef(ref) {
		file = "builtin:" + ref
		src, err = profiles.FS.ReadFile(ref + ".toml")
		if err != nil {
			return nil, fmt.Errorf("no built-in profile %q (built-in: %s; a file needs a '/' or a .toml ending)",
				ref, strings.Join(BuiltinNames(), ", "))
		}
	} else {
		file = ref
		rf := l.ReadFile
		if rf == nil {
			rf = readFile
		}
		src, read, err = rf(ref)
		if err != nil {
			return nil, fmt.Errorf("load profile: %w", err)
		}
	}
	key := file
	if !IsBuiltinRef(ref) {
		if abs, err := filepath.Abs(ref); err == nil {
			key = abs
		}
	}
	if slices.Contains(chain, key) {
		return nil, fmt.Errorf("profile %q: extends loops: %s -> %s", file, strings.Join(chain, " -> "), key)
	}
	if len(chain) >= maxDepth {
		return nil, fmt.Errorf("profile %q: extends is nested more than %d deep", file, maxDepth)
	}
	p, err := l.parse(src, file, append(chain, key))
	if err != nil || IsBuiltinRef(ref) {
		return p, err
	}
	p.Files = append([]SourceFile{{Path: file, Read: read}}, p.Files...)
	return p, nil
}

// parse decodes one file, expands its variables, validates it on its own
// (so that errors carry its lines) and, with extends, merges it onto its
// parent and validates the result.
func (l Loader) parse(b []byte, file string, chain []string) (*Profile, error) {
	src := string(b)
	var rw raw
	md, err := toml.Decode(src, &rw)
	if err != nil {
		return nil, syntaxError(file, err)
	}
	d := &decoder{md: &md, lines: scanLines(src), file: file}
	p := d.decode(&rw)
	d.expand(p, l.Vars)
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	defined := definedKeys(&md)
	p.setDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p.Extends == "" {
		return p, nil
	}
	ref := p.Extends
	if !IsBuiltinRef(ref) && !filepath.IsAbs(ref) && !strings.HasPrefix(file, "builtin:") {
		ref = filepath.Join(filepath.Dir(file), ref)
	}
	if strings.HasPrefix(file, "builtin:") && !IsBuiltinRef(ref) {
		return nil, &Error{File: file, Line: p.LineOf("extends"), Key: "extends", Msg: "a built-in profile extends built-in profiles only"}
	}
	parent, err := l.load(ref, chain)
	if err != nil {
		return nil, errors.Join(&Error{File: file, Line: p.LineOf("extends"), Key: "extends",
			Msg: fmt.Sprintf("cannot use %q:", p.Extends)}, err)
	}
	m := merge(parent, p, defined)
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// definedKeys lists the keys a file sets, as "name", "user.uid",
// "env.set", "mount", "seccomp.rule": deeper keys are cut to two parts.
func definedKeys(md *toml.MetaData) map[string]bool {
	def := map[string]bool{}
	for _, k := range md.Keys() {
		def[k[0]] = true
		if len(k) > 1 {
			def[k[0]+"."+k[1]] = true
		}
	}
	return def
}

// merge returns parent changed by child (see Loader). The result belongs to
// child's file: messages about it name child.File.
func merge(parent, child *Profile, defined map[string]bool) *Profile {
	out := parent.clone()
	out.File, out.lines = child.File, child.lines
	out.Extends = "" // resolved: the result stands on its own

	// Scalars and whole-list replacements, by their TOML names.
	mergeFields(reflect.ValueOf(out).Elem(), reflect.ValueOf(child).Elem(), "", defined)

	// Lists that add up.
	e := &out.Env
	e.Keep = slices.DeleteFunc(e.Keep, func(k string) bool { return slices.Contains(child.Env.Unset, k) })
	for _, k := range child.Env.Unset {
		delete(e.Set, k)
	}
	for _, k := range child.Env.Keep {
		if !slices.Contains(e.Keep, k) {
			e.Keep = append(e.Keep, k)
		}
	}
	maps.Copy(e.Set, child.Env.Set)
	e.Unset = slices.DeleteFunc(e.Unset, func(k string) bool {
		_, set := child.Env.Set[k]
		return set || slices.Contains(child.Env.Keep, k)
	})
	for _, k := range child.Env.Unset {
		if !slices.Contains(e.Unset, k) {
			e.Unset = append(e.Unset, k)
		}
	}
	for _, a := range child.Seccomp.AllowArch {
		if !slices.Contains(out.Seccomp.AllowArch, a) {
			out.Seccomp.AllowArch = append(out.Seccomp.AllowArch, a)
		}
	}
	out.Seccomp.Rules = append(out.Seccomp.Rules, child.Seccomp.Rules...)
	for _, m := range child.Mounts {
		if i := slices.IndexFunc(out.Mounts, func(pm Mount) bool { return pm.Target == m.Target }); i >= 0 {
			out.Mounts[i] = m
		} else {
			out.Mounts = append(out.Mounts, m)
		}
	}
	return out
}

// mergeFields copies from src to dst every scalar field (and []string
// field other than the appending ones) that defined names, walking into
// the section structs.
func mergeFields(dst, src reflect.Value, prefix string, defined map[string]bool) {
	t := dst.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		key := prefix + name
		switch key {
		case "extends", "env", "mount", "seccomp.allow_arch", "seccomp.rule":
			continue // merged by hand
		}
		if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == t.PkgPath() {
			if defined[key] {
				mergeFields(dst.Field(i), src.Field(i), key+".", defined)
			}
			continue
		}
		if defined[key] {
			dst.Field(i).Set(src.Field(i))
		}
	}
}

// clone returns a deep copy of p's lists and tables.
func (p *Profile) clone() *Profile {
	c := *p
	c.User.KeepCaps = slices.Clone(p.User.KeepCaps)
	c.Env.Keep = slices.Clone(p.Env.Keep)
	c.Env.Set = maps.Clone(p.Env.Set)
	c.Env.Unset = slices.Clone(p.Env.Unset)
	c.Mounts = slices.Clone(p.Mounts)
	c.Files = slices.Clone(p.Files)
	for i := range c.Files {
		c.Files[i].Read = slices.Clone(p.Files[i].Read)
	}
	c.Seccomp.AllowArch = slices.Clone(p.Seccomp.AllowArch)
	c.Seccomp.Rules = slices.Clone(p.Seccomp.Rules)
	for i := range c.Seccomp.Rules {
		c.Seccomp.Rules[i].Syscalls = slices.Clone(p.Seccomp.Rules[i].Syscalls)
		c.Seccomp.Rules[i].Args = slices.Clone(p.Seccomp.Rules[i].Args)
	}
	if c.Env.Set == nil {
		c.Env.Set = map[string]string{}
	}
	return &c
}

// Clone returns a deep copy of p, for changing it without touching p.
func (p *Profile) Clone() *Profile { return p.clone() }

// expand replaces ${NAME} in the keys that hold paths and values: extends,
// hostname, cwd, mount sources and targets, env.set values and
// limits.cgroup. File contents and seccomp rules are left as written.
func (d *decoder) expand(p *Profile, vs Vars) {
	// one expands *s and reports whether it held a variable.
	one := func(s *string, path ...string) bool {
		v, err := vs.Expand(*s)
		if err != nil {
			d.errorf(d.lines.find(path...), strings.Join(path, "."), "%v", err)
			return false
		}
		had := v != *s
		*s = v
		return had
	}
	one(&p.Extends, "extends")
	one(&p.Hostname, "hostname")
	if one(&p.Cwd, "cwd") {
		p.Cwd = cleanVarPath(p.Cwd)
	}
	one(&p.Limits.Cgroup, "limits", "cgroup")
	for i := range p.Mounts {
		m := &p.Mounts[i]
		if one(&m.Source, mountSeg(i), "source") && m.Type == Bind {
			m.Source = cleanVarPath(m.Source)
		}
		if one(&m.Target, mountSeg(i), "target") {
			m.Target = cleanVarPath(m.Target)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(p.Env.Set)) {
		v := p.Env.Set[k]
		one(&v, "env", "set", keySeg(k))
		p.Env.Set[k] = v
	}
}

// cleanVarPath cleans an absolute path that variables built, so that
// ${HOME}/.cache with HOME=/ (or HOME=/home/u/) is a clean path; a path
// as written is left for Validate to judge.
func cleanVarPath(s string) string {
	if !path.IsAbs(s) {
		return s
	}
	return path.Clean(s)
}
