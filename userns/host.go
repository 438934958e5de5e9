package userns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

const helperHint = `install the "uidmap" package (Debian/Ubuntu) or "shadow-utils" (Fedora)`

// LookupHost gathers Host facts for the current process: uid, gid, login name ("" if unknown), the ranges
// of /etc/subuid and /etc/subgid (a missing file means no ranges), and whether the helpers pass Preflight.
func LookupHost() (Host, error) {
	return lookupHost("/etc/subuid", "/etc/subgid", Preflight)
}

func lookupHost(subuidPath, subgidPath string, preflight func() error) (Host, error) {
	h := Host{UID: os.Getuid(), GID: os.Getgid()}
	if u, err := user.LookupId(strconv.Itoa(h.UID)); err == nil {
		h.User = u.Username
	}
	var err error
	if h.SubUIDs, err = readSubID(subuidPath, h.UID, h.User); err != nil {
		return Host{}, err
	}
	if h.SubGIDs, err = readSubID(subgidPath, h.UID, h.User); err != nil {
		return Host{}, err
	}
	h.HasHelpers = preflight() == nil
	if len(h.SubUIDs) == 0 || len(h.SubGIDs) == 0 {
		h.FreeSubID = freeSubID(subuidPath, subgidPath)
	}
	return h, nil
}

// freeSubID finds where a new range could start: above every range of every
// user in the files, on a 65536 boundary, at least 100000 (useradd's start).
func freeSubID(paths ...string) uint32 {
	end := uint64(100000)
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Split(strings.TrimSpace(line), ":")
			if len(f) != 3 {
				continue
			}
			start, err1 := strconv.ParseUint(f[1], 10, 32)
			count, err2 := strconv.ParseUint(f[2], 10, 32)
			if err1 == nil && err2 == nil && start+count > end {
				end = start + count
			}
		}
	}
	if end > 100000 {
		end = (end + 65535) / 65536 * 65536
	}
	if end+65536 > maxID {
		return 0
	}
	return uint32(end)
}

// readSubID parses one subid file; a missing file has no ranges. Errors name the file.
func readSubID(path string, uid int, user string) ([]Range, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rs, err := ParseSubID(f, uid, user)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rs, nil
}

// Preflight checks newuidmap and newgidmap: found in PATH or /usr/bin, and setuid-root or with file
// capabilities. It returns nil when both are usable, else an error with a hint naming the package.
func Preflight() error {
	var errs []error
	for _, name := range []string{"newuidmap", "newgidmap"} {
		path, err := findHelper(name)
		if err == nil {
			err = checkHelper(path)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// findHelper looks name up in PATH, then in /usr/bin (PATH may be minimal, e.g. under sudo or cron).
func findHelper(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := "/usr/bin/" + name
	if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
		return p, nil
	}
	return "", fmt.Errorf("%s not found in PATH or /usr/bin: %s", name, helperHint)
}

// checkHelper reports whether path can raise privileges: setuid with owner root, or file capabilities
// (the security.capability xattr, as set by `setcap cap_setuid+ep`).
func checkHelper(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == 0 && fi.Mode()&os.ModeSetuid != 0 {
		return nil
	}
	if n, err := unix.Getxattr(path, "security.capability", nil); err == nil && n > 0 {
		return nil
	}
	return fmt.Errorf("%s is neither setuid-root nor has file capabilities: reinstall it (%s)", path, helperHint)
}

// CheckUserNS reports whether unprivileged user namespaces look enabled; the error carries one hint per
// problem. It only reads sysctls under /proc/sys (cheap, no side effects), to explain a clone EPERM.
// Files that are missing or unreadable are skipped.
func CheckUserNS() error {
	return checkUserNS("/proc/sys")
}

func checkUserNS(sysctlDir string) error {
	var errs []error
	if v, ok := readSysctl(sysctlDir + "/user/max_user_namespaces"); ok && v == 0 {
		errs = append(errs, errors.New("user namespaces are disabled: user.max_user_namespaces=0: set it > 0 with: sudo sysctl -w user.max_user_namespaces=15000"))
	}
	if v, ok := readSysctl(sysctlDir + "/kernel/unprivileged_userns_clone"); ok && v == 0 {
		errs = append(errs, errors.New("unprivileged user namespaces are disabled: kernel.unprivileged_userns_clone=0: enable them with: sudo sysctl -w kernel.unprivileged_userns_clone=1"))
	}
	if v, ok := readSysctl(sysctlDir + "/kernel/apparmor_restrict_unprivileged_userns"); ok && v == 1 {
		errs = append(errs, errors.New("AppArmor restricts unprivileged user namespaces (Ubuntu 23.10+): kernel.apparmor_restrict_unprivileged_userns=1: add an AppArmor profile for jail that allows \"userns,\" or run: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"))
	}
	return errors.Join(errs...)
}

func readSysctl(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil
}
