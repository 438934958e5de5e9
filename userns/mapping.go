package userns

import (
	"fmt"
	"strconv"
	"strings"
)

// IDMap is one line of a uid_map/gid_map: Count ids starting at Inside map to Outside.
type IDMap struct {
	Inside  uint32 `json:"inside"`
	Outside uint32 `json:"outside"`
	Count   uint32 `json:"count"`
}

// Mapping says how the sandbox's user namespace is mapped and how to write it.
// It is plain data: stage 0 computes it (Build) and writes it (Map) on the stage-1 child's pid.
type Mapping struct {
	UIDs []IDMap `json:"uids"`
	GIDs []IDMap `json:"gids"`
	// Helper: write with newuidmap/newgidmap (unprivileged caller with ranges). When false the parent
	// writes /proc/PID/{setgroups,uid_map,gid_map} itself: either the single-id fallback (setgroups "deny"
	// written first, as the kernel requires) or the caller is root (may write any map; setgroups stays allowed).
	Helper        bool `json:"helper"`
	SetgroupsDeny bool `json:"setgroups_deny"`
	// Warning is a one-line message for the user when a fallback was taken, "" otherwise.
	Warning string `json:"warning,omitempty"`
}

// Host facts used to build the mapping (injected so it is testable).
type Host struct {
	UID, GID   int
	User       string // login name ("" if unknown)
	SubUIDs    []Range
	SubGIDs    []Range
	HasHelpers bool // newuidmap and newgidmap found and setuid-root or with file capabilities
	// FreeSubID is the start of a 65536-id range no line of /etc/subuid or
	// /etc/subgid uses, for the hint given to a user without a range (0: 100000).
	FreeSubID uint32
}

// Default range for a root caller: used when root has no /etc/subuid (resp. /etc/subgid) entry, so that
// the sandbox never runs as host root. 0x70000000 (1879048192) is far above the ranges useradd hands out
// (100000 upwards in steps of 65536).
const (
	DefaultRootStart uint32 = 0x70000000
	DefaultRootCount uint32 = 65536
)

// DefaultRootRange is the range mapped for a root caller without an /etc/subuid (resp. /etc/subgid) entry.
var DefaultRootRange = Range{Start: DefaultRootStart, Count: DefaultRootCount}

// MaxLines is the kernel's limit on the lines of one uid_map or gid_map (340 since Linux 4.15).
const MaxLines = 340

// Build computes the mapping:
//   - unprivileged caller with sub-uid AND sub-gid ranges and helpers: inside 0 -> caller's uid (gid likewise),
//     inside 1..N -> the ranges concatenated in order, Helper=true. At most MaxLines lines per map: extra
//     ranges are dropped, as are ranges overlapping the caller's id or an earlier range (the kernel refuses
//     overlapping extents).
//   - unprivileged caller missing ranges or helpers: single-id map inside 0 -> caller's uid / gid,
//     SetgroupsDeny=true, Helper=false, and a Warning naming what is missing and the fix.
//   - root caller (UID 0): the sandbox never runs as host root. Inside 0..count-1 maps to root's first
//     sub-uid range, or DefaultRootRange when root has none. Same for gids. Helper=false (root writes the
//     maps itself), SetgroupsDeny=false.
func Build(h Host) Mapping {
	subU, subG := usable(h.SubUIDs), usable(h.SubGIDs)
	if h.UID == 0 {
		return Mapping{UIDs: rootMap(subU), GIDs: rootMap(subG)}
	}
	uid, gid := uint32(h.UID), uint32(h.GID)
	if len(subU) > 0 && len(subG) > 0 && h.HasHelpers {
		return Mapping{UIDs: helperMap(uid, subU), GIDs: helperMap(gid, subG), Helper: true}
	}
	return Mapping{
		UIDs:          []IDMap{{Inside: 0, Outside: uid, Count: 1}},
		GIDs:          []IDMap{{Inside: 0, Outside: gid, Count: 1}},
		SetgroupsDeny: true,
		Warning:       fallbackWarning(h, len(subU) > 0, len(subG) > 0),
	}
}

// usable drops empty ranges and clips those reaching past maxID (Host may be built by hand).
func usable(rs []Range) []Range {
	var out []Range
	for _, r := range rs {
		if r.Count == 0 || r.Start > maxID {
			continue
		}
		if uint64(r.Start)+uint64(r.Count)-1 > maxID {
			r.Count = maxID - r.Start + 1
		}
		out = append(out, r)
	}
	return out
}

func rootMap(rs []Range) []IDMap {
	r := DefaultRootRange
	if len(rs) > 0 {
		r = rs[0]
	}
	return []IDMap{{Inside: 0, Outside: r.Start, Count: r.Count}}
}

func helperMap(id uint32, rs []Range) []IDMap {
	m := []IDMap{{Inside: 0, Outside: id, Count: 1}}
	next := uint64(1)
	for _, r := range rs {
		if len(m) == MaxLines || next > maxID {
			break
		}
		if overlaps(m, r) {
			continue
		}
		count := uint64(r.Count)
		if next+count-1 > maxID {
			count = maxID - next + 1
		}
		m = append(m, IDMap{Inside: uint32(next), Outside: r.Start, Count: uint32(count)})
		next += count
	}
	return m
}

// overlaps reports whether r shares an outside id with an extent of m.
func overlaps(m []IDMap, r Range) bool {
	for _, e := range m {
		if uint64(r.Start) < uint64(e.Outside)+uint64(e.Count) && uint64(e.Outside) < uint64(r.Start)+uint64(r.Count) {
			return true
		}
	}
	return false
}

func fallbackWarning(h Host, haveU, haveG bool) string {
	who := fmt.Sprintf("%q", h.User)
	login := h.User
	if h.User == "" {
		who = "uid " + strconv.Itoa(h.UID)
		login = `"$(id -un)"`
	}
	var problems, fixes []string
	start := h.FreeSubID
	if start == 0 {
		start = 100000 // what useradd gives the first user
	}
	hintRange := fmt.Sprintf("%d-%d", start, start+65535)
	switch {
	case !haveU && !haveG:
		problems = append(problems, "no /etc/subuid or /etc/subgid range for "+who)
		fixes = append(fixes, "add them with: sudo usermod --add-subuids "+hintRange+" --add-subgids "+hintRange+" "+login)
	case !haveU:
		problems = append(problems, "no /etc/subuid range for "+who)
		fixes = append(fixes, "add one with: sudo usermod --add-subuids "+hintRange+" "+login)
	case !haveG:
		problems = append(problems, "no /etc/subgid range for "+who)
		fixes = append(fixes, "add one with: sudo usermod --add-subgids "+hintRange+" "+login)
	}
	if !h.HasHelpers {
		problems = append(problems, "newuidmap/newgidmap not found or not setuid-root")
		fixes = append(fixes, helperHint)
	}
	return strings.Join(problems, " and ") + ": only uid 0 and gid 0 are mapped; " + strings.Join(fixes, "; ")
}

// MaxUID returns the highest uid mapped inside, so callers can validate the profile's uid.
func (m Mapping) MaxUID() uint32 { return maxInside(m.UIDs) }

// MaxGID returns the highest gid mapped inside, so callers can validate the profile's gid.
func (m Mapping) MaxGID() uint32 { return maxInside(m.GIDs) }

func maxInside(ms []IDMap) uint32 {
	var hi uint64
	for _, e := range ms {
		if last := uint64(e.Inside) + uint64(e.Count) - 1; e.Count > 0 && last > hi {
			hi = last
		}
	}
	return uint32(min(hi, 1<<32-1))
}

// Outside returns the host uid and gid that inside uid and gid map to;
// ok is false when either is not mapped.
func (m Mapping) Outside(uid, gid uint32) (hostUID, hostGID uint32, ok bool) {
	hostUID, okU := outside(m.UIDs, uid)
	hostGID, okG := outside(m.GIDs, gid)
	return hostUID, hostGID, okU && okG
}

func outside(ms []IDMap, id uint32) (uint32, bool) {
	for _, e := range ms {
		if id >= e.Inside && uint64(id) < uint64(e.Inside)+uint64(e.Count) {
			return e.Outside + (id - e.Inside), true
		}
	}
	return 0, false
}

// Args returns the argv for newuidmap and newgidmap (without the program name):
// ["PID", "inside", "outside", "count", ...].
func (m Mapping) Args(pid int) (uid, gid []string) {
	return helperArgs(pid, m.UIDs), helperArgs(pid, m.GIDs)
}

func helperArgs(pid int, ms []IDMap) []string {
	args := make([]string, 0, 1+3*len(ms))
	args = append(args, strconv.Itoa(pid))
	for _, e := range ms {
		args = append(args,
			strconv.FormatUint(uint64(e.Inside), 10),
			strconv.FormatUint(uint64(e.Outside), 10),
			strconv.FormatUint(uint64(e.Count), 10))
	}
	return args
}

// mapFile renders extents in the uid_map/gid_map format, one "inside outside count" line each.
func mapFile(ms []IDMap) []byte {
	var b strings.Builder
	for _, e := range ms {
		fmt.Fprintf(&b, "%d %d %d\n", e.Inside, e.Outside, e.Count)
	}
	return []byte(b.String())
}

// Isolate narrows a helper mapping to two ids: inside 0 stays the caller,
// and inside uid (gid) becomes the one id of the sub-uid (sub-gid) range at
// position slot, modulo the range. Concurrent sandboxes with different
// slots then run their command as different host ids, so a per-uid limit
// such as RLIMIT_NPROC counts one sandbox. It returns m unchanged (and
// false) when m is not a helper mapping with a range, or uid or gid is 0.
func (m Mapping) Isolate(uid, gid, slot uint32) (Mapping, bool) {
	if !m.Helper || len(m.UIDs) < 2 || len(m.GIDs) < 2 || uid == 0 || gid == 0 {
		return m, false
	}
	one := func(ms []IDMap, inside uint32) []IDMap {
		r := ms[1]
		return []IDMap{ms[0], {Inside: inside, Outside: r.Outside + slot%r.Count, Count: 1}}
	}
	out := m
	out.UIDs, out.GIDs = one(m.UIDs, uid), one(m.GIDs, gid)
	return out, true
}
