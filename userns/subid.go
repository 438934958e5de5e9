// Package userns builds and writes the uid/gid maps of the sandbox's user namespace.
//
// The pure core (ParseSubID, Build, Args) turns host facts into a Mapping; the thin I/O part (LookupHost,
// Preflight, CheckUserNS, Map) reads /etc/subuid, /etc/subgid and /proc, and runs the setuid helpers
// newuidmap/newgidmap (package "uidmap" on Debian/Ubuntu, "shadow-utils" on Fedora).
package userns

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Range is one line of /etc/subuid or /etc/subgid: ids Start..Start+Count-1 outside.
type Range struct{ Start, Count uint32 }

// maxID is the highest usable id: (uid_t)-1 = 4294967295 is never a valid id, and the kernel refuses
// a map extent whose first+count wraps around 2^32 (kernel/user_namespace.c map_write).
const maxID = 1<<32 - 2

// ParseSubID reads subuid/subgid content and returns the ranges of the user, matched by name OR by decimal uid
// ("alice:100000:65536" and "1000:100000:65536" both match uid 1000 / user alice). Comments (#) and blank
// lines skipped; malformed lines that belong to the user are an error naming the line number; malformed lines
// of other users are ignored. Several ranges are returned in file order; zero-count ranges dropped.
//
// A range whose last id would be above 4294967294 (start+count > 2^32-1) is malformed: (uid_t)-1 cannot be
// mapped.
func ParseSubID(r io.Reader, uid int, user string) ([]Range, error) {
	uidStr := ""
	if uid >= 0 {
		uidStr = strconv.Itoa(uid)
	}
	// bufio.Reader rather than bufio.Scanner: no line-length limit, so a huge line of another user
	// cannot make the whole file unreadable.
	br := bufio.NewReader(r)
	var ranges []Range
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if line == "" && err != nil {
			return ranges, nil
		}
		rg, ok, perr := parseLine(line, uidStr, user)
		if perr != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, perr)
		}
		if ok && rg.Count > 0 {
			ranges = append(ranges, rg)
		}
		if err != nil {
			return ranges, nil
		}
	}
}

// parseLine parses one line. ok is false for comments, blank lines and lines of other users.
func parseLine(line, uidStr, user string) (rg Range, ok bool, err error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return Range{}, false, nil
	}
	owner, rest, _ := strings.Cut(line, ":")
	owner = strings.TrimSpace(owner)
	if owner == "" || !(owner == user || owner == uidStr) {
		return Range{}, false, nil
	}
	fields := strings.Split(rest, ":")
	if len(fields) != 2 {
		return Range{}, false, fmt.Errorf("%q: want name:start:count", line)
	}
	start, err := strconv.ParseUint(strings.TrimSpace(fields[0]), 10, 32)
	if err != nil {
		return Range{}, false, fmt.Errorf("%q: invalid start %q", line, fields[0])
	}
	count, err := strconv.ParseUint(strings.TrimSpace(fields[1]), 10, 32)
	if err != nil {
		return Range{}, false, fmt.Errorf("%q: invalid count %q", line, fields[1])
	}
	if count > 0 && start+count-1 > maxID {
		return Range{}, false, fmt.Errorf("%q: range %d+%d goes past the highest id %d", line, start, count, uint64(maxID))
	}
	return Range{Start: uint32(start), Count: uint32(count)}, true, nil
}
