package profile

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
)

// Vars supplies the values of ${NAME} in a profile. Builtin holds jail's
// own variables (PWD, HOME, UID, GID, USER), which win over the caller's
// environment; Env looks up any other name.
type Vars struct {
	Builtin map[string]string
	Env     func(name string) (string, bool)
}

// VarNames are the names HostVars defines itself.
var VarNames = []string{"PWD", "HOME", "UID", "GID", "USER"}

// HostVars returns the variables of the calling process: PWD is its working
// directory, HOME and USER come from the environment or else the user
// database (HOME is "/" for a user it does not know or without a home, as
// login(1) has it), UID and GID are its real ids on the host; every other
// name is looked up in its environment.
func HostVars() Vars {
	b := map[string]string{
		"UID": strconv.Itoa(os.Getuid()),
		"GID": strconv.Itoa(os.Getgid()),
	}
	if wd, err := os.Getwd(); err == nil {
		b["PWD"] = wd
	}
	var u *user.User
	for _, k := range []string{"HOME", "USER"} {
		if v := os.Getenv(k); v != "" {
			b[k] = v
			continue
		}
		if u == nil {
			u, _ = user.LookupId(b["UID"])
		}
		switch {
		case k == "USER" && u != nil:
			b[k] = u.Username
		case k == "HOME" && u != nil && u.HomeDir != "":
			b[k] = u.HomeDir
		case k == "HOME":
			b[k] = "/"
		}
	}
	return Vars{Builtin: b, Env: os.LookupEnv}
}

func (vs Vars) lookup(name string) (string, bool) {
	if v, ok := vs.Builtin[name]; ok {
		return v, true
	}
	if vs.Env != nil {
		return vs.Env(name)
	}
	return "", false
}

// Expand replaces ${NAME} and ${NAME:-default} in s; $$ is a literal $.
// Any other $ is an error, so a typo never passes silently, and so is an
// unset variable without a default.
func (vs Vars) Expand(s string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		s = s[i+1:]
		switch {
		case strings.HasPrefix(s, "$"):
			b.WriteByte('$')
			s = s[1:]
			continue
		case !strings.HasPrefix(s, "{"):
			return "", fmt.Errorf("a $ must start ${NAME} or ${NAME:-default}, or be doubled ($$) for a literal $")
		}
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ (no closing })")
		}
		body := s[1:end]
		s = s[end+1:]
		name, def, hasDef := strings.Cut(body, ":-")
		if !validVarName(name) {
			return "", fmt.Errorf("invalid variable name %q in ${%s}: letters, digits and _ only", name, body)
		}
		v, ok := vs.lookup(name)
		switch {
		case ok && v != "":
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		case ok:
			// set but empty: empty, as in the shell without :-
		default:
			return "", fmt.Errorf("variable %s is not set (give a default: ${%s:-value})", name, name)
		}
	}
}

func validVarName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
