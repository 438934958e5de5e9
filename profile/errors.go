package profile

import (
	"fmt"
	"strconv"
	"strings"
)

// Error is one problem found in a profile. Parse and Validate return an
// errors.Join of *Error values, so callers can use errors.As to get at the
// location of the first one.
type Error struct {
	File string // file name given to Parse; "" if unknown
	Line int    // 1-based line in File; 0 if unknown
	Key  string // key path like "mount[2].target" (mount index 0-based); "" for the whole file
	Msg  string
}

// Error formats as `profile "build.toml": line 7: mount[2].target: must be an absolute path`,
// leaving out the parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		fmt.Fprintf(&b, "profile %q: ", e.File)
	} else {
		b.WriteString("profile: ")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// isBare reports whether s can be written as a bare TOML key.
func isBare(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// keySeg formats one key segment the way it is shown in messages: bare if
// possible, quoted otherwise.
func keySeg(s string) string {
	if isBare(s) {
		return s
	}
	return strconv.Quote(s)
}

// mountSeg is the key path component of the i-th [[mount]] entry.
func mountSeg(i int) string { return "mount[" + strconv.Itoa(i) + "]" }
