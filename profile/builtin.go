package profile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/jail-sandbox/jail/profiles"
)

// Builtin returns the built-in profile called name (profiles/NAME.toml,
// embedded in the binary).
func Builtin(name string) (*Profile, error) {
	b, err := profiles.FS.ReadFile(name + ".toml")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no profile file %q and no built-in profile of that name (built-in: %s)",
			name, strings.Join(BuiltinNames(), ", "))
	}
	if err != nil {
		return nil, err
	}
	return Parse(bytes.NewReader(b), "builtin:"+name)
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
