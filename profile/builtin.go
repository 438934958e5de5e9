package profile

import (
	"fmt"
	"sort"
	"strings"

	"github.com/jail-sandbox/jail/profiles"
)

// Builtin returns the built-in profile called name (profiles/NAME.toml,
// embedded in the binary), with variables from HostVars.
func Builtin(name string) (*Profile, error) {
	if !IsBuiltinRef(name) {
		return nil, fmt.Errorf("%q is not a built-in profile name", name)
	}
	return Loader{Vars: HostVars()}.Load(name)
}

// Description returns the description of a built-in profile, "" if it
// cannot be read.
func Description(name string) string {
	p, err := Loader{Vars: HostVars()}.Load(name)
	if err != nil {
		return ""
	}
	return p.Description
}

// BuiltinNames lists the built-in profiles.
func BuiltinNames() []string {
	ents, _ := profiles.FS.ReadDir(".")
	var names []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".toml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}
